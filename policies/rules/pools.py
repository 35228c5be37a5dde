"""GKE node pools (`gcp:container/nodePool:NodePool`) as a policy sees them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyResource

import catalog
from policies.rules.pods import mapping, sequence, whole_number

NODE_POOL = "gcp:container/nodePool:NodePool"
COMPUTE_CLASS = "kubernetes:cloud.google.com/v1:ComputeClass"
# A regional pool without nodeLocations gets nodes in three of the region's zones (GKE's default).
DEFAULT_REGIONAL_ZONES = 3


@dataclass(frozen=True)
class GpuPool:
    urn: str
    name: str  # the GKE pool name, which is the node label cloud.google.com/gke-nodepool
    machine_type: str
    accelerator: str
    gpus_per_node: int
    location: str
    spot: bool
    min_nodes: int
    max_nodes: int  # over all zones
    disk_size_gb: int
    local_ssds: int  # local SSDs backing ephemeral storage
    props: Mapping[str, Any]  # the pool's inputs, for what the fields above do not carry
    compute_class: str | None = None  # an option of this ComputeClass: a pool GKE creates when pods need it


# GKE's boot disk when nodeConfig.diskSizeGb is not set (container.v1 NodeConfig.diskSizeGb).
DEFAULT_DISK_GB = 100


def _zones(props: Mapping[str, Any]) -> int:
    locations = sequence(props.get("nodeLocations"))
    if locations:
        return len(locations)
    location = props.get("location")
    return 1 if isinstance(location, str) and catalog.is_zone(location) else DEFAULT_REGIONAL_ZONES


def _nodes(props: Mapping[str, Any], bound: str) -> int:
    """Nodes over all zones at the autoscaler's `bound` ("Min"/"Max"); per-zone counts x zones.

    Without autoscaling a pool stays at nodeCount (else initialNodeCount) per zone.
    """
    autoscaling = mapping(props.get("autoscaling"))
    total = whole_number(autoscaling.get(f"total{bound}NodeCount"))
    if total is not None:
        return total
    for per_zone in (
        autoscaling.get(f"{bound.lower()}NodeCount"),
        props.get("nodeCount"),
        props.get("initialNodeCount"),
    ):
        count = whole_number(per_zone)
        if count is not None:
            return count * _zones(props)
    return _zones(props)  # GKE creates one node per zone when no count is given


def gpu_pool(urn: str, name: str, props: Mapping[str, Any]) -> GpuPool | None:
    """The pool's GPU facts, None for a pool without guest accelerators (a CPU pool)."""
    pool = node_pool(urn, name, props)
    return pool if pool.accelerator else None


def node_pool(urn: str, name: str, props: Mapping[str, Any]) -> GpuPool:
    """Any pool's facts; accelerator "" and 0 GPUs for a CPU pool."""
    config = mapping(props.get("nodeConfig"))
    accelerators = sequence(config.get("guestAccelerators"))
    first = mapping(accelerators[0]) if accelerators else {}
    pool_name = props.get("name")
    location = props.get("location")
    return GpuPool(
        urn=urn,
        name=pool_name if isinstance(pool_name, str) else name,
        machine_type=str(config.get("machineType", "")),
        accelerator=str(first.get("type", "")) if accelerators else "",
        gpus_per_node=whole_number(first.get("count")) or 0,
        location=location if isinstance(location, str) else "",
        # Preemptible VMs bill at the spot price (cloud.google.com/compute/docs/instances/preemptible).
        spot=bool(config.get("spot")) or bool(config.get("preemptible")),
        min_nodes=_nodes(props, "Min"),
        max_nodes=_nodes(props, "Max"),
        disk_size_gb=whole_number(config.get("diskSizeGb")) or DEFAULT_DISK_GB,
        local_ssds=whole_number(mapping(config.get("ephemeralStorageLocalSsdConfig")).get("localSsdCount")) or 0,
        props=props,
    )


def gpu_pools(resources: Iterable[PolicyResource]) -> list[GpuPool]:
    return [p for p in all_pools(resources) if p.accelerator]


def all_pools(resources: Iterable[PolicyResource]) -> list[GpuPool]:
    return [node_pool(r.urn, r.name, r.props) for r in resources if r.resource_type == NODE_POOL]


def class_options(resources: Iterable[PolicyResource]) -> list[GpuPool]:
    """Each GPU option of each ComputeClass of the stack as the node pool GKE would create for it, named
    `<class>/option <i>` (no nodes until pods need them; a boot disk of 100 GB unless storage.bootDiskSize)."""
    options = []
    for r in resources:
        if r.resource_type != COMPUTE_CLASS:
            continue
        name = mapping(r.props.get("metadata")).get("name")
        if not isinstance(name, str):
            continue
        for i, entry in enumerate(sequence(mapping(r.props.get("spec")).get("priorities"))):
            rule = mapping(entry)
            gpu = mapping(rule.get("gpu"))
            options.append(
                GpuPool(
                    urn=r.urn,
                    name=f"{name}/option {i}",
                    machine_type=str(rule.get("machineType", "")),
                    accelerator=str(gpu.get("type", "")),
                    gpus_per_node=whole_number(gpu.get("count")) or 0,
                    location="",
                    spot=bool(rule.get("spot")),
                    min_nodes=0,
                    max_nodes=0,
                    disk_size_gb=whole_number(mapping(rule.get("storage")).get("bootDiskSize")) or DEFAULT_DISK_GB,
                    local_ssds=0,
                    props=rule,
                    compute_class=name,
                )
            )
    return options


def placement_pools(resources: Iterable[PolicyResource]) -> list[GpuPool]:
    """Where GPU pods may land: the stack's GPU node pools and its compute classes' options."""
    listed = list(resources)
    return [*gpu_pools(listed), *class_options(listed)]
