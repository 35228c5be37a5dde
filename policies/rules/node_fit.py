"""Does every pod fit a node of the pool it must land on? The GKE node model against its requests.

The cluster autoscaler adds a node for a pending pod only if the pod fits a template node of some
pool (cluster-autoscaler gce_reserved.go builds it with GKE's reservations); a pod that fits no shape
stays Pending, and so does the extra pod a rollout surges. The mock engine schedules nothing, so
this is the only place the preview can see it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs, StackValidationPolicy

import catalog
from catalog.node_model import (
    MIB_PER_GIB,
    NodeShape,
    Resources,
    cluster_features,
    gcsfuse_sidecar_resources,
    node_shape,
)
from policies.rules.base import DEFAULT_ENFORCEMENT
from policies.rules.placement import matching_pools
from policies.rules.pods import Pod, pod_of
from policies.rules.pools import GpuPool, all_pools, class_options

CLUSTER = "gcp:container/cluster:Cluster"


def shape_of(pool: GpuPool, cluster: Mapping[str, Any]) -> NodeShape | None:
    """A node of `pool` as the model sees it; None for a machine type the catalog does not know."""
    machine = catalog.machine_types().get(pool.machine_type) or catalog.cpu_machine_types().get(pool.machine_type)
    if machine is None:
        return None
    features = cluster_features(cluster, pool.props)
    return node_shape(machine, pool.disk_size_gb, pool.local_ssds, gpu=bool(pool.accelerator), features=features)


GCSFUSE_ANNOTATION = "gke-gcsfuse/volumes"


def pod_requests(pod: Pod) -> Resources:
    """The pod's requests as the scheduler sees them once admitted: the Cloud Storage FUSE webhook injects
    its sidecar into a pod annotated gke-gcsfuse/volumes: "true", which the manifest does not show."""
    own = Resources(
        round(pod.request("cpu") * 1000),
        round(pod.request("memory") / 2**20),
        round(pod.request("ephemeral-storage") / 2**20),
    )
    if pod.annotations.get(GCSFUSE_ANNOTATION) != "true":
        return own
    sidecar = gcsfuse_sidecar_resources(pod.annotations)
    return Resources(
        own.cpu_milli + sidecar.cpu_milli,
        own.memory_mib + sidecar.memory_mib,
        own.ephemeral_mib + sidecar.ephemeral_mib,
    )


def _quantities(r: Resources) -> str:
    return f"cpu {r.cpu_milli}m, memory {r.memory_mib}Mi, ephemeral-storage {r.ephemeral_mib / MIB_PER_GIB:.1f}Gi"


def _over(need: Resources, space: Resources) -> str:
    parts = [
        f"{label} by {amount}{unit}"
        for label, amount, unit in (
            ("cpu", need.cpu_milli - space.cpu_milli, "m"),
            ("memory", need.memory_mib - space.memory_mib, "Mi"),
            ("ephemeral-storage", need.ephemeral_mib - space.ephemeral_mib, "Mi"),
        )
        if amount > 0
    ]
    return ", ".join(parts)


def _candidates(pod: Pod, pools: list[GpuPool]) -> list[GpuPool]:
    if pod.is_gpu_workload:
        return matching_pools(pod, pools)
    # GPU nodes carry the nvidia.com/gpu taint: a pod without a GPU lands on a CPU pool.
    return [p for p in pools if not p.accelerator and pod.node_pool in (None, p.name)]


def _workloads(resources: list[PolicyResource]) -> Iterator[tuple[str, Pod]]:
    for r in resources:
        pod = pod_of(r.resource_type, r.props)
        if pod is not None:
            yield r.urn, pod


def _fits_node(args: StackValidationArgs, report: ReportViolation) -> None:
    pools = [*all_pools(args.resources), *class_options(args.resources)]
    clusters = [r.props for r in args.resources if r.resource_type == CLUSTER]
    cluster: Mapping[str, Any] = clusters[0] if clusters else {}
    for urn, pod in _workloads(args.resources):
        candidates = _candidates(pod, pools)
        if not candidates:
            continue  # no pool at all is gpu-workload-targets-accelerator's finding
        need = pod_requests(pod)
        shapes = [(p, shape_of(p, cluster)) for p in candidates]
        if pod.compute_class is not None:
            # A class's pod must fit whichever option it lands on: the options that do not are reported.
            shapes = [(p, shape) for p, shape in shapes if shape is None or not need.fits(shape.free)]
            if not shapes:
                continue
        elif any(shape is not None and need.fits(shape.free) for _, shape in shapes):
            continue
        who = f"{pod.kind} {pod.name}".rstrip()
        for pool, shape in shapes:
            if shape is None:
                report(
                    f"{who}: pool {pool.name}'s machine type {pool.machine_type} is not in catalog/machines.yaml, "
                    "so the pod's fit cannot be proven — add the machine type to the catalog",
                    urn,
                )
                continue
            report(
                f"{who} requests {_quantities(need)} per pod, but a node of pool {pool.name} ({pool.machine_type}, "
                f"{pool.disk_size_gb} GB boot disk{f', {pool.local_ssds} local SSDs' if pool.local_ssds else ''}) "
                f"can give pods {_quantities(shape.free)} (allocatable {_quantities(shape.allocatable)} less "
                f"{len(shape.daemonset_names)} GKE DaemonSets): over in {_over(need, shape.free)} — the pod and "
                "a rollout's surge pod would stay Pending and the cluster autoscaler never adds a node for them; "
                "lower the service's resources or use a larger machine type or disk",
                urn,
            )


pod_fits_node = StackValidationPolicy(
    name="pod-fits-node",
    description="Every pod's CPU, memory and ephemeral-storage requests fit what one node of its pool can give "
    "pods: the machine's capacity less GKE's reservations, eviction thresholds and its own DaemonSets.",
    validate=_fits_node,
    enforcement_level=DEFAULT_ENFORCEMENT,
)


def node_fit_report(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per workload of a plan: its requests and what a node of its pool gives pods, in the units of the
    preview's table (cpu m, memory Mi, ephemeral-storage Gi)."""
    stack = [
        PolicyResource(r["type"], r["inputs"], r["urn"], r["name"], None, None, None, [], {})  # type: ignore[arg-type]
        for r in resources
    ]
    pools = [*all_pools(stack), *class_options(stack)]
    clusters = [r.props for r in stack if r.resource_type == CLUSTER]
    rows = []
    for _, pod in _workloads(stack):
        # A class's pod against its smallest option: the node its requests were sized to.
        shapes = [(p, s) for p in _candidates(pod, pools) if (s := shape_of(p, clusters[0] if clusters else {}))]
        if not shapes:
            continue
        pool, shape = shapes[0] if pod.compute_class is None else min(shapes, key=lambda ps: ps[1].free.memory_mib)
        need, free = pod_requests(pod), shape.free
        rows.append(
            {
                "workload": pod.name,
                "pool": pool.name,
                "machine": pool.machine_type,
                "requests": {
                    "cpuM": need.cpu_milli,
                    "memoryMi": need.memory_mib,
                    "ephemeralGi": need.ephemeral_mib // 1024,
                },
                "free": {
                    "cpuM": free.cpu_milli,
                    "memoryMi": free.memory_mib,
                    "ephemeralGi": free.ephemeral_mib // 1024,
                },
                "fits": need.fits(free),
            }
        )
    return sorted(rows, key=lambda row: str(row["workload"]))
