"""A model server's CPU, memory and disk: its GPU share of the node, after GKE's reservations."""

from __future__ import annotations

import math
from dataclasses import dataclass

import catalog

# Per node, for the DaemonSets GKE runs on GPU nodes (Dataplane V2 agent, logging and metrics
# agents, GPU device plugin, DCGM exporter, PD CSI node): [estimate] from their published requests.
DAEMONSET_CPU_MILLI = 400
DAEMONSET_MEMORY_MIB = 1024
# Boot-disk share kept for images (server images are 8-15 GB each, two during a rollout), logs and
# the eviction threshold: [estimate].
BOOT_DISK_RESERVED_GIB = 60
LOCAL_SSD_GIB = 375  # each local SSD is 375 GiB


@dataclass(frozen=True)
class PodResources:
    """Kubernetes quantities, e.g. cpu "7500m", memory "27648Mi", ephemeral_storage "140Gi"."""

    cpu: str
    memory: str
    ephemeral_storage: str


def reserved_cpu_milli(vcpus: int) -> int:
    """GKE's kubelet/system CPU reservation (cloud.google.com/kubernetes-engine/docs/concepts/plan-node-sizes)."""
    tiers = ((1, 0.06), (1, 0.01), (2, 0.005), (math.inf, 0.0025))
    left, reserved = float(vcpus), 0.0
    for size, share in tiers:
        step = min(left, size)
        reserved += step * share * 1000
        left -= step
    return math.ceil(reserved)


def reserved_memory_mib(memory_gib: float) -> int:
    """GKE's memory reservation plus the 100 MiB eviction threshold (same page as above)."""
    tiers = ((4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06), (math.inf, 0.02))
    left, reserved = memory_gib, 0.0
    for size, share in tiers:
        step = min(left, size)
        reserved += step * share * 1024
        left -= step
    return math.ceil(reserved) + 100


def pod_share(
    machine: catalog.MachineType, gpus_per_node: int, gpus_per_pod: int, disk_size_gb: int, local_ssd_count: int
) -> PodResources:
    """Requests for a pod holding `gpus_per_pod` of the node's GPUs: that fraction of what is allocatable."""
    fraction = gpus_per_pod / gpus_per_node
    cpu = (machine.vcpus * 1000 - reserved_cpu_milli(machine.vcpus) - DAEMONSET_CPU_MILLI) * fraction
    memory = (machine.memory_gb * 1024 - reserved_memory_mib(machine.memory_gb) - DAEMONSET_MEMORY_MIB) * fraction
    disk = local_ssd_count * LOCAL_SSD_GIB if local_ssd_count else disk_size_gb - BOOT_DISK_RESERVED_GIB
    return PodResources(
        cpu=f"{int(cpu // 100 * 100)}m",  # whole tenths of a core, never above the share
        memory=f"{int(memory // 256 * 256)}Mi",
        ephemeral_storage=f"{max(int(disk * fraction), 10)}Gi",
    )
