"""A model server's CPU, memory and disk: its GPU share of what a node of its pool can give pods."""

from __future__ import annotations

from dataclasses import dataclass

import catalog
from catalog.node_model import MIB_PER_GIB, NodeShape, headroom, node_shape
from infra.cluster import NODE_FEATURES


@dataclass(frozen=True)
class PodResources:
    """Kubernetes quantities, e.g. cpu "7500m", memory "27648Mi", ephemeral_storage "80Gi"."""

    cpu: str
    memory: str
    ephemeral_storage: str


def gpu_node_shape(machine: catalog.MachineType, disk_size_gb: int, local_ssd_count: int) -> NodeShape:
    """A GPU node of this cluster: GKE's reservations and the DaemonSets its features run."""
    return node_shape(machine, disk_size_gb, local_ssd_count, gpu=True, features=NODE_FEATURES)


def pod_share(shape: NodeShape, gpus_per_node: int, gpus_per_pod: int) -> PodResources:
    """Requests for a pod holding `gpus_per_pod` of the node's GPUs: that fraction of what the node can
    give pods after GKE's DaemonSets and a headroom, so pods filling every GPU still fit together."""
    fraction = gpus_per_pod / gpus_per_node
    space = shape.free - headroom()
    return PodResources(
        cpu=f"{int(space.cpu_milli * fraction // 100 * 100)}m",  # whole tenths of a core, never above the share
        memory=f"{int(space.memory_mib * fraction // 256 * 256)}Mi",
        ephemeral_storage=f"{int(space.ephemeral_mib * fraction // MIB_PER_GIB)}Gi",
    )
