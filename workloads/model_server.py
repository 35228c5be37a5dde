"""One model server per `services` entry: Deployment, Service, disruption budget, identity."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, cast

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

import catalog
import naming
from config.platform import NodePoolConfig
from config.services import ARCHITECTURE_ANNOTATION, ServiceConfig, gpus_per_replica, replica_range
from infra.identity import bind_workload_identity, workload_identity_member
from workloads.api_key import ApiKey
from workloads.deployment import Placement, Secrets, deployment_spec, labels, selector
from workloads.pod_resources import PodResources, gpu_node_shape, pod_share
from workloads.probes import (
    await_timeouts,
    probes,
    rollout_seconds,
    service_timeouts,
    startup_budget_seconds,
    startup_window_seconds,
    weights_gib,
)
from workloads.server import ServerSpec, server_spec


@dataclass(frozen=True)
class ModelServerArgs:
    service: ServiceConfig
    pool: NodePoolConfig
    namespace: pulumi.Input[str]
    hf_token_secret: str
    autoscaled: bool  # True: a HorizontalPodAutoscaler owns the replica count
    project: str
    secret_prefix: str  # Secret Manager ids of this environment start with it
    gcp_labels: dict[str, str]  # labels of the GCP resources (the API key's secret)


def pod_annotations(service: ServiceConfig) -> dict[str, str]:
    if service.architecture is None:
        return {}
    return {ARCHITECTURE_ANNOTATION: service.architecture.model_dump_json(by_alias=True)}


def resources_for(service: ServiceConfig, pool: NodePoolConfig) -> PodResources:
    """The pod's share of a node of `pool`, with any quantity the service sets explicitly."""
    machine = catalog.machine_types()[pool.machine_type]
    shape = gpu_node_shape(machine, pool.disk_size_gb, pool.local_ssd_count)
    share = pod_share(shape, pool.gpu.count, gpus_per_replica(service))
    o = service.resources
    return replace(
        share,
        cpu=o.cpu or share.cpu,
        memory=o.memory or share.memory,
        ephemeral_storage=o.ephemeral_storage or share.ephemeral_storage,
    )


class ModelServer(pulumi.ComponentResource):
    spec: ServerSpec

    def __init__(self, name: str, args: ModelServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gke-serving:workloads:ModelServer", name, None, opts)
        service, pool = args.service, args.pool
        gpu = catalog.gpus()[pool.gpu.type]
        self.spec = server_spec(name, service, gpu)
        budget = startup_budget_seconds(weights_gib(service))
        # What the startup probe allows, a service's own delay and retries included: the waits cover it.
        window = startup_window_seconds(budget, self.spec.startup_delay_seconds, self.spec.startup_retries)
        gpus = gpus_per_replica(service)
        bucket = self.spec.bucket
        service_account = self._bucket_identity(name, service, bucket, args) if bucket else None
        self.api_key: pulumi.Output[str] | None = None
        api_key_secret = None
        if self.spec.api_key_env:
            key = ApiKey(
                f"{name}-api-key",
                args.project,
                f"{args.secret_prefix}-{name}-api-key",
                args.namespace,
                labels(name, service.runtime),
                {**args.gcp_labels, "service": name},
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.api_key, api_key_secret = key.value, key.secret_name
        min_replicas, max_replicas = replica_range(service)
        meta = {"name": name, "namespace": args.namespace, "labels": labels(name, service.runtime)}
        child = pulumi.ResourceOptions(parent=self)
        # pulumi-kubernetes waits for the Deployment and its Service to be ready: as long as a cold start.
        rollout = pulumi.ResourceOptions(
            parent=self, custom_timeouts=pulumi.CustomTimeouts(**await_timeouts(window, max_replicas))
        )
        endpoints = pulumi.ResourceOptions(
            parent=self, custom_timeouts=pulumi.CustomTimeouts(**service_timeouts(window))
        )
        k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=meta,
            spec=cast(
                Any,
                deployment_spec(
                    name,
                    self.spec,
                    resources_for(service, pool),
                    Placement(pool.gpu.type, service.pool, gpus),
                    # Only a server that downloads from the Hub gets the token.
                    Secrets(args.hf_token_secret if self.spec.cache_path else None, api_key_secret),
                    probes=probes(
                        self.spec.health_path,
                        self.spec.liveness_path,
                        budget,
                        initial_delay_seconds=self.spec.startup_delay_seconds,
                        max_retries=self.spec.startup_retries,
                    ),
                    rollout_deadline=rollout_seconds(window),
                    replicas=None if args.autoscaled else service.replicas,
                    min_replicas=min_replicas,
                    service_account=service_account,
                    model=service.model,
                    annotations=pod_annotations(service),
                ),
            ),
            opts=rollout,
        )
        ports = [{"name": "http", "port": self.spec.port, "targetPort": "http", "protocol": "TCP"}]
        if self.spec.metrics_port != self.spec.port:
            ports.append(
                {"name": "metrics", "port": self.spec.metrics_port, "targetPort": "metrics", "protocol": "TCP"}
            )
        svc = k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta,
            spec={"type": "ClusterIP", "selector": selector(name), "ports": cast(Any, ports)},
            opts=endpoints,
        )
        if min_replicas > 1:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb",
                metadata=meta,
                # Node upgrades and scale-downs evict one replica at a time.
                spec={"maxUnavailable": 1, "selector": {"matchLabels": selector(name)}},
                opts=child,
            )
        self.register_outputs({"service": svc.metadata.apply(lambda m: m.name), "image": self.spec.image})

    def _bucket_identity(self, name: str, service: ServiceConfig, bucket: str, args: ModelServerArgs) -> str:
        """A Google service account that may only read the bucket the server loads from, bound to the
        pod's Kubernetes service account by Workload Identity."""
        child = pulumi.ResourceOptions(parent=self)
        account = gcp.serviceaccount.Account(
            f"{name}-gsa",
            project=args.project,
            account_id=naming.triton_account_id(name),
            display_name=f"{service.runtime} {name}: reads gs://{bucket}",
            opts=child,
        )
        gcp.storage.BucketIAMMember(
            f"{name}-bucket-reader",
            bucket=bucket,
            role="roles/storage.objectViewer",
            member=account.email.apply(lambda e: f"serviceAccount:{e}"),
            opts=child,
        )
        ksa = f"{name}-triton"
        member = pulumi.Output.from_input(args.namespace).apply(
            lambda ns: workload_identity_member(args.project, ns, ksa)
        )
        bind_workload_identity(name, account, member, child)
        k8s.core.v1.ServiceAccount(
            f"{name}-ksa",
            metadata={
                "name": ksa,
                "namespace": args.namespace,
                "labels": labels(name, service.runtime),
                "annotations": {"iam.gke.io/gcp-service-account": account.email},
            },
            automount_service_account_token=False,
            opts=child,
        )
        return ksa
