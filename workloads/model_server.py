"""One model server per `services` entry: Deployment, Service, disruption budget, identity."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, cast

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

import catalog
import naming
from catalog.node_model import gcsfuse_sidecar, gcsfuse_sidecar_resources
from config.mirror import HUB, HYPERDISK_ML, WeightSource
from config.platform import NodePoolConfig
from config.services import ARCHITECTURE_ANNOTATION, ServiceConfig, gpus_per_replica, replica_range
from infra.identity import bind_workload_identity, workload_identity_member
from runtimes import runtime_of
from sizing.cold_start import ColdStart, estimate
from workloads.api_key import ApiKey
from workloads.deployment import (
    METADATA_CACHE_GIB,
    TMP_GIB,
    MirrorMount,
    Placement,
    Secrets,
    deployment_spec,
    labels,
    selector,
)
from workloads.hyperdisk_ml import volume_name
from workloads.model_mirror import READER_KSA, job_seconds, wait_container
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
    cluster: str  # the cluster's name: the Secret Manager and service account ids it starts are unique per project
    gcp_labels: dict[str, str]  # labels of the GCP resources (the API key's secret)
    weights: WeightSource | None = None  # the mirror copy the pods load; None: the Hub (or the runtime's own)
    mirror_job: pulumi.Resource | None = None  # the Job (or Hyperdisk ML claim) it needs: servers are created after it


def pod_annotations(service: ServiceConfig) -> dict[str, str]:
    if service.architecture is None:
        return {}
    return {ARCHITECTURE_ANNOTATION: service.architecture.model_dump_json(by_alias=True)}


# The gcsfuse file cache holds the checkpoint once, with room for the files' rounding. [estimate]
FILE_CACHE_MARGIN = 1.1


def file_cache_gib(weights: float | None) -> int:
    """The gcsfuse file cache of a pod: the whole checkpoint (parallel downloads need the file cache)."""
    return math.ceil((weights if weights is not None else 30.0) * FILE_CACHE_MARGIN) + 1


def resources_for(
    service: ServiceConfig, pool: NodePoolConfig, weights: WeightSource | None = None, gib: float | None = None
) -> PodResources:
    """The pod's share of a node of `pool`, with any quantity the service sets explicitly. A pod that
    loads from the mirror asks for the disk it uses (scratch, metadata, and the gcsfuse file cache), not the
    node's share: the checkpoint no longer lands on the boot disk. A gcsfuse pod leaves room in its share for
    the FUSE sidecar the webhook adds (its requests are the pod's annotations)."""
    machine = catalog.machine_types()[pool.machine_type]
    shape = gpu_node_shape(machine, pool.disk_size_gb, pool.local_ssd_count)
    share = pod_share(shape, pool.gpu.count, gpus_per_replica(service))
    if weights is not None:
        disk = TMP_GIB + METADATA_CACHE_GIB + (file_cache_gib(gib) if weights.load == "gcsfuse" else 0)
        share = replace(share, ephemeral_storage=f"{disk}Gi")
    if weights is not None and weights.load == "gcsfuse":
        sidecar = gcsfuse_sidecar_resources({f"gke-gcsfuse/{k}-request": v for k, v in _sidecar_annotations().items()})
        cpu = int(share.cpu.removesuffix("m")) - sidecar.cpu_milli
        memory = int(share.memory.removesuffix("Mi")) - sidecar.memory_mib
        share = replace(share, cpu=f"{cpu // 100 * 100}m", memory=f"{memory // 256 * 256}Mi")
    o = service.resources
    return replace(
        share,
        cpu=o.cpu or share.cpu,
        memory=o.memory or share.memory,
        ephemeral_storage=o.ephemeral_storage or share.ephemeral_storage,
    )


def _sidecar_annotations() -> dict[str, str]:
    s = gcsfuse_sidecar()
    return {"cpu": s["cpu"], "memory": s["memory"], "ephemeral-storage": s["ephemeralStorage"]}


def cold_start_of(service: ServiceConfig, weights: WeightSource | None) -> ColdStart:
    """The service's estimated time from node ready to serving, on its load path."""
    spec_generates = runtime_of(service).generates
    return estimate(weights.load if weights else HUB, weights_gib(service), generates=spec_generates)


class ModelServer(pulumi.ComponentResource):
    spec: ServerSpec
    cold_start: ColdStart

    def __init__(self, name: str, args: ModelServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gke-serving:workloads:ModelServer", name, None, opts)
        service, pool = args.service, args.pool
        gpu = catalog.gpus()[pool.gpu.type]
        self.spec = server_spec(name, service, gpu, args.weights)
        gib = weights_gib(service)
        self.cold_start = cold_start_of(service, args.weights)
        budget = startup_budget_seconds(gib, args.weights.load if args.weights else HUB)
        # What the startup probe allows, a service's own delay and retries included: the waits cover it.
        window = startup_window_seconds(budget, self.spec.startup_delay_seconds, self.spec.startup_retries)
        gpus = gpus_per_replica(service)
        bucket = self.spec.bucket
        service_account = self._bucket_identity(name, service, bucket, args) if bucket else None
        mirror = None
        if args.weights is not None:
            service_account = READER_KSA  # objectViewer on the mirror through Workload Identity
            wait = job_seconds(gib)
            mirror = MirrorMount(
                file_cache_gib=file_cache_gib(gib) if args.weights.load == "gcsfuse" else 0,
                wait_seconds=wait,
                wait_container=wait_container(args.weights, wait),
                claim=volume_name(args.weights) if args.weights.load == HYPERDISK_ML else None,
            )
        self.api_key: pulumi.Output[str] | None = None
        api_key_secret = None
        if self.spec.api_key_env:
            key = ApiKey(
                f"{name}-api-key",
                args.project,
                f"{args.cluster}-{name}-api-key",
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
        # The first rollout of a new model@commit starts once `pulumi up` saw its mirror Job complete, so the
        # waits below cover a cold start, not the copy (the pods' init container still checks the marker).
        rollout = pulumi.ResourceOptions(
            parent=self,
            custom_timeouts=pulumi.CustomTimeouts(**await_timeouts(window, max_replicas)),
            depends_on=[args.mirror_job] if args.mirror_job is not None else None,
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
                    resources_for(service, pool, args.weights, gib),
                    Placement(pool.gpu.type, service.pool, gpus),
                    # Only a server that downloads from the Hub gets the token; the mirror's readers never do.
                    Secrets(
                        args.hf_token_secret if self.spec.cache_path and args.weights is None else None,
                        api_key_secret,
                    ),
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
                    mirror=mirror,
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
            account_id=naming.triton_account_id(args.cluster, name),
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
