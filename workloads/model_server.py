"""One model server per `services` entry: Deployment, Service, disruption budget, identity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

import catalog
import naming
from config.platform import NodePoolConfig
from config.services import ARCHITECTURE_ANNOTATION, ServiceConfig, gpus_per_replica, replica_range
from infra.identity import WorkloadIdentityArgs, grant_bucket_read, workload_identity
from loads import LoadPath, PodAdditions, PodContext, default_path, load_path, mirror
from loads.adapters import AdapterCopy, adapter_pod, combined
from loads.facts import ColdStart, estimate
from loads.hub import HEADROOM_GIB, TMP_GIB
from runtimes import runtime_of
from settings.mirror import WeightSource
from workloads.api_key import ApiKey, ApiKeyArgs
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
    pools: tuple[NodePoolConfig, ...]  # its pool, or each option of its compute class, most preferred first
    namespace: pulumi.Input[str]
    hf_token_secret: str
    autoscaled: bool  # True: a HorizontalPodAutoscaler owns the replica count
    project: str
    cluster: str  # the cluster's name: the Secret Manager and service account ids it starts are unique per project
    gcp_labels: dict[str, str]  # labels of the GCP resources (the API key's secret)
    weights: WeightSource | None = None  # the mirror copy the pods load; None: the Hub (or the runtime's own)
    mirror_job: pulumi.Resource | None = None  # the Job (or Hyperdisk ML claim) it needs: servers are created after it
    adapters: tuple[AdapterCopy, ...] = ()  # the mirror copies of the LoRA adapters it serves
    adapter_jobs: tuple[pulumi.Resource, ...] = ()  # the Jobs filling them: servers are created after them too


def pod_annotations(service: ServiceConfig) -> dict[str, str]:
    if service.architecture is None:
        return {}
    return {ARCHITECTURE_ANNOTATION: service.architecture.model_dump_json(by_alias=True)}


def load_of_pods(weights: WeightSource | None) -> LoadPath:
    """The load path of a service's pods: its mirror copy's, else the Hub download."""
    return load_path(weights.load) if weights is not None else default_path()


def node_share(service: ServiceConfig, pools: Sequence[NodePoolConfig]) -> PodResources:
    """The pod's share of a node of each of `pools` (its pool, or its class's options), the smallest of each
    quantity: a pod of a class must fit whichever option it lands on."""
    shares = []
    for pool in pools:
        machine = catalog.machine_types()[pool.machine_type]
        shape = gpu_node_shape(machine, pool.disk_size_gb, pool.local_ssd_count)
        shares.append(pod_share(shape, pool.gpu.count, gpus_per_replica(service)))
    return PodResources(
        cpu=min((s.cpu for s in shares), key=lambda q: int(q.removesuffix("m"))),
        memory=min((s.memory for s in shares), key=lambda q: int(q.removesuffix("Mi"))),
        ephemeral_storage=min((s.ephemeral_storage for s in shares), key=_gib),
    )


def pod_weights(
    service: ServiceConfig,
    pools: Sequence[NodePoolConfig],
    weights: WeightSource | None,
    gib: float | None,
    adapters: tuple[AdapterCopy, ...] = (),
) -> tuple[LoadPath, PodContext, PodAdditions]:
    """The service's load path, what it was told of the pod, and what it and the LoRA adapters add to the pod."""
    path = load_of_pods(weights)
    spec_cache = runtime_of(service).facts_for(service).hf_home
    ctx = PodContext(
        source=weights,
        weights_gib=gib,
        cache_path=spec_cache,
        ephemeral_gib=_gib(node_share(service, pools).ephemeral_storage),
        wait_seconds=mirror.job_seconds(gib) if weights is not None else 0,
    )
    return path, ctx, combined(path.pod(ctx), adapter_pod(adapters))


def resources_for(service: ServiceConfig, pools: Sequence[NodePoolConfig], additions: PodAdditions) -> PodResources:
    """The pod's share of a node of `pools` (the smallest, for a class), with any quantity the service sets explicitly. A pod whose load
    path keeps weights off its disk asks for the disk it uses (/tmp, the path's files, the headroom for logs
    and the writable layer), not the node's share; a sidecar the path brings is taken out of the share."""
    share = node_share(service, pools)
    if not additions.hf_token and additions.reader:
        disk = TMP_GIB + additions.weights_disk_gib + HEADROOM_GIB
        share = replace(share, ephemeral_storage=f"{disk}Gi")
    if additions.sidecar is not None:
        cpu = int(share.cpu.removesuffix("m")) - additions.sidecar.cpu_milli
        memory = int(share.memory.removesuffix("Mi")) - additions.sidecar.memory_mib
        share = replace(share, cpu=f"{cpu // 100 * 100}m", memory=f"{memory // 256 * 256}Mi")
    o = service.resources
    return replace(
        share,
        cpu=o.cpu or share.cpu,
        memory=o.memory or share.memory,
        ephemeral_storage=o.ephemeral_storage or share.ephemeral_storage,
    )


def _gib(quantity: str) -> int:
    """ "97Gi" or "2048Mi" (the forms pod_share gives) in whole GiB, rounded down."""
    return int(quantity[:-2]) if quantity.endswith("Gi") else int(quantity.removesuffix("Mi")) // 1024


def cold_start_of(service: ServiceConfig, weights: WeightSource | None) -> ColdStart:
    """The service's estimated time from node ready to serving, on its load path."""
    return estimate(load_of_pods(weights).name, weights_gib(service), generates=runtime_of(service).generates)


class ModelServer(pulumi.ComponentResource):
    spec: ServerSpec
    cold_start: ColdStart

    def __init__(self, name: str, args: ModelServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gke-serving:workloads:ModelServer", name, None, opts)
        service, pools = args.service, args.pools
        # Every option of a class runs the same image (config/service_checks.py refuses one that would not).
        gpu = catalog.gpus()[pools[0].gpu.type]
        self.spec = server_spec(name, service, gpu, args.weights)
        gib = weights_gib(service)
        self.cold_start = cold_start_of(service, args.weights)
        path, _, additions = pod_weights(service, pools, args.weights, gib, args.adapters)
        budget = startup_budget_seconds(gib, path.name)
        # What the startup probe allows, a service's own delay and retries included: the waits cover it.
        window = startup_window_seconds(budget, self.spec.startup_delay_seconds, self.spec.startup_retries)
        gpus = gpus_per_replica(service)
        bucket = self.spec.bucket
        service_account = self._bucket_identity(name, service, bucket, args) if bucket else None
        if additions.reader:
            service_account = naming.MIRROR_READER_KSA  # objectViewer on the mirror through Workload Identity
        self.api_key: pulumi.Output[str] | None = None
        api_key_secret = None
        if self.spec.api_key_env:
            key = ApiKey(
                f"{name}-api-key",
                ApiKeyArgs(
                    project=args.project,
                    secret_id=f"{args.cluster}-{name}-api-key",
                    namespace=args.namespace,
                    labels=labels(name, service.runtime),
                    gcp_labels={**args.gcp_labels, "service": name},
                ),
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
            depends_on=[*([args.mirror_job] if args.mirror_job is not None else []), *args.adapter_jobs] or None,
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
                    resources_for(service, pools, additions),
                    Placement(gpu.accelerator, service.pool, gpus, service.compute_class),
                    # Only a server that downloads from the Hub gets the token; the mirror's readers never do.
                    Secrets(args.hf_token_secret if additions.hf_token else None, api_key_secret),
                    probes=probes(
                        self.spec.health_path,
                        self.spec.liveness_path,
                        budget,
                        initial_delay_seconds=self.spec.startup_delay_seconds,
                        max_retries=self.spec.startup_retries,
                        liveness_timeout_seconds=self.spec.liveness_timeout_seconds,
                    ),
                    rollout_deadline=rollout_seconds(window),
                    replicas=None if args.autoscaled else service.replicas,
                    min_replicas=min_replicas,
                    service_account=service_account,
                    model=service.model,
                    annotations=pod_annotations(service),
                    weights=additions,
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
        identity = workload_identity(
            name,
            WorkloadIdentityArgs(
                project=args.project,
                account_id=naming.bucket_reader_account_id(args.cluster, name),
                display_name=f"{service.runtime} {name}: reads gs://{bucket}",
                namespace=args.namespace,
                ksa=naming.bucket_reader_ksa(name),
                labels=labels(name, service.runtime),
            ),
            child,
        )
        grant_bucket_read(f"{name}-bucket-reader", bucket, identity, child)
        return identity.ksa
