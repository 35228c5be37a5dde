"""What a GKE node of a pool can give its pods: capacity, GKE's reservations, GKE's own DaemonSets.

The cluster autoscaler adds a node for a pending pod only when the pod fits a template node built
from the pool's machine type with these same reservations; a pod that fits no node shape stays
Pending forever. Every figure comes from catalog/gke_node.yaml, which names its sources.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache

from catalog import MachineType
from catalog.data import TierYaml, gke_node_yaml

MIB_PER_GIB = 1024


@dataclass(frozen=True)
class DaemonSet:
    name: str
    namespace: str
    when: str  # "always", "gpu", or a cluster feature (catalog/gke_node.yaml `features`)
    cpu_milli: int
    memory_mib: int
    source: str
    gpu_only: bool = False  # a feature's DaemonSet that only GPU nodes run (DCGM's exporter)


@dataclass(frozen=True)
class Resources:
    """CPU in millicores, memory and ephemeral storage in MiB."""

    cpu_milli: int
    memory_mib: int
    ephemeral_mib: int

    def __sub__(self, other: Resources) -> Resources:
        return Resources(
            self.cpu_milli - other.cpu_milli,
            self.memory_mib - other.memory_mib,
            self.ephemeral_mib - other.ephemeral_mib,
        )

    def fits(self, space: Resources) -> bool:
        return (
            self.cpu_milli <= space.cpu_milli
            and self.memory_mib <= space.memory_mib
            and self.ephemeral_mib <= space.ephemeral_mib
        )


@dataclass(frozen=True)
class NodeShape:
    """One node of a pool as the scheduler and the cluster autoscaler see it."""

    machine: str
    capacity: Resources  # what the kubelet reports: memory after the kernel's share, the filesystem's size
    allocatable: Resources  # capacity minus GKE's reservations and eviction thresholds
    daemonsets: Resources  # requests of the DaemonSets GKE runs on this node
    daemonset_names: tuple[str, ...]

    @property
    def free(self) -> Resources:
        """What pods other than GKE's DaemonSets can request."""
        return self.allocatable - self.daemonsets


def _tiered(amount: float, tiers: Iterable[tuple[float | None, float]]) -> float:
    """Sum of share x the part of `amount` in each tier; a tier of size None takes the rest."""
    left, total = amount, 0.0
    for size, share in tiers:
        step = left if size is None else min(left, size)
        total += step * share
        left -= step
    return total


def _tiers(tiers: list[TierYaml]) -> list[tuple[float | None, float]]:
    return [(t.size, t.share) for t in tiers]


def reserved_cpu_milli(vcpus: int) -> int:
    """GKE's kube-reserved CPU for a node of `vcpus` cores."""
    return math.ceil(_tiered(vcpus, _tiers(gke_node_yaml().cpu_reservation)) * 1000)


def reserved_memory_mib(capacity_gib: float, *, image_streaming: bool = False) -> int:
    """GKE's kube-reserved memory for a node whose kubelet reports `capacity_gib`, plus the kubelet's
    hard eviction threshold (and image streaming's own reservation when it is on)."""
    reserved = _tiered(capacity_gib, _tiers(gke_node_yaml().memory_reservation))
    if image_streaming:
        reserved += _tiered(capacity_gib, _tiers(gke_node_yaml().image_streaming_memory))
    return math.ceil(reserved * MIB_PER_GIB) + gke_node_yaml().memory_eviction_mib


def kernel_reserved_mib(memory_gib: float) -> int:
    """Memory the kernel keeps before the kubelet counts capacity (the cluster autoscaler's model, COS)."""
    k = gke_node_yaml().kernel
    mib = memory_gib * MIB_PER_GIB
    reserved: float = mib / k.ratio + k.fixed_mib
    if memory_gib > k.swiotlb_above_gib:
        reserved += k.swiotlb_mib
    if memory_gib <= k.low_memory_at_or_below_gib:
        reserved += k.low_memory_mib
    reserved += min(k.cos_correction_ratio * mib, k.cos_correction_max_mib)
    return math.ceil(reserved)


def _boot_disk_os_mib(disk_mib: float) -> float:
    d = gke_node_yaml().boot_disk
    extra = min(float(d.os_extra_max_mib), float(math.ceil(d.os_extra_share * disk_mib)))
    share: int = math.ceil(d.os_share * disk_mib)
    fixed: int = math.ceil(d.os_fixed_gib * MIB_PER_GIB)
    return share + fixed + extra


def ephemeral_storage_mib(disk_gb: int, local_ssds: int) -> tuple[int, int]:
    """(capacity, allocatable) of ephemeral storage: the boot disk, or the local SSDs when they back it.

    Compute Engine sizes disks in GiB ("GB" in its API is 2^30 bytes).
    """
    if local_ssds:
        ssd = gke_node_yaml().local_ssd
        counts = sorted(ssd.overhead_kib)
        overhead_kib = ssd.overhead_kib[min(local_ssds, counts[-1])]
        capacity = local_ssds * ssd.gib * MIB_PER_GIB - overhead_kib / 1024
        reserved_gib = ssd.reservation_gib[min(local_ssds, max(ssd.reservation_gib))]
        allocatable = capacity * (1 - ssd.eviction_ratio) - reserved_gib * MIB_PER_GIB
        return math.floor(capacity), math.floor(allocatable)
    d = gke_node_yaml().boot_disk
    disk_mib = disk_gb * MIB_PER_GIB
    capacity = disk_mib - _boot_disk_os_mib(disk_mib)
    r = d.reservation
    reserve = min(disk_mib * r.max_share, (r.base_gib * MIB_PER_GIB) + disk_mib * r.share, r.cap_gib * MIB_PER_GIB)
    return math.floor(capacity), math.floor(capacity * (1 - d.eviction_ratio) - reserve)


@cache
def daemonsets() -> tuple[DaemonSet, ...]:
    return tuple(
        DaemonSet(d.name, d.namespace, d.when, d.cpu_milli, d.memory_mib, d.source, d.gpu_only)
        for d in gke_node_yaml().daemon_sets
    )


def known_features() -> frozenset[str]:
    return frozenset(gke_node_yaml().features)


def daemonsets_on(*, gpu: bool, features: frozenset[str]) -> tuple[DaemonSet, ...]:
    unknown = features - known_features()
    if unknown:
        raise ValueError(f"unknown cluster features {sorted(unknown)}; known: {sorted(known_features())}")
    return tuple(
        d
        for d in daemonsets()
        if d.when == "always" or (d.when == "gpu" and gpu) or (d.when in features and (gpu or not d.gpu_only))
    )


def node_shape(
    machine: MachineType, disk_gb: int, local_ssds: int, *, gpu: bool, features: frozenset[str]
) -> NodeShape:
    memory_mib = machine.memory_gb * MIB_PER_GIB
    capacity_memory = math.floor(memory_mib - kernel_reserved_mib(machine.memory_gb))
    ephemeral_capacity, ephemeral_allocatable = ephemeral_storage_mib(disk_gb, local_ssds)
    capacity = Resources(machine.vcpus * 1000, capacity_memory, ephemeral_capacity)
    reserved_memory = reserved_memory_mib(capacity_memory / MIB_PER_GIB, image_streaming="image-streaming" in features)
    allocatable = Resources(
        capacity.cpu_milli - reserved_cpu_milli(machine.vcpus),
        capacity_memory - reserved_memory,
        ephemeral_allocatable,
    )
    running = daemonsets_on(gpu=gpu, features=features)
    used = Resources(sum(d.cpu_milli for d in running), sum(d.memory_mib for d in running), 0)
    return NodeShape(machine.name, capacity, allocatable, used, tuple(d.name for d in running))


def _quantity_mib(text: str) -> int:
    return int(text[:-2]) * MIB_PER_GIB if text.endswith("Gi") else int(text.removesuffix("Mi"))


def _cpu_milli(text: str) -> int:
    return int(text[:-1]) if text.endswith("m") else int(float(text) * 1000)


def gcsfuse_sidecar(kind: str = "serving") -> dict[str, str]:
    """Requests of the Cloud Storage FUSE sidecar as Kubernetes quantities: `serving` (what model servers
    ask through annotations) or `defaults` (the webhook's, when a pod gives none)."""
    sidecar = gke_node_yaml().gcsfuse_sidecar
    chosen = {"serving": sidecar.serving, "defaults": sidecar.defaults}[kind]
    return {"cpu": chosen.cpu, "memory": chosen.memory, "ephemeralStorage": chosen.ephemeral_storage}


def gcsfuse_sidecar_resources(annotations: Mapping[str, object]) -> Resources:
    """What the injected sidecar requests, from a pod's gke-gcsfuse/*-request annotations or the defaults
    (ephemeral storage in MiB)."""
    defaults = gcsfuse_sidecar("defaults")

    def pick(annotation: str, default: str) -> str:
        value = annotations.get(f"gke-gcsfuse/{annotation}-request")
        return value if isinstance(value, str) and value else default

    return Resources(
        _cpu_milli(pick("cpu", defaults["cpu"])),
        _quantity_mib(pick("memory", defaults["memory"])),
        _quantity_mib(pick("ephemeral-storage", defaults["ephemeralStorage"])),
    )


def headroom() -> Resources:
    """Kept free on every GPU node beyond the DaemonSets' requests (catalog/gke_node.yaml `headroom`)."""
    h = gke_node_yaml().headroom
    return Resources(h.cpu_milli, h.memory_mib, h.ephemeral_gib * MIB_PER_GIB)


def _enabled(value: object, default: bool) -> bool:
    return bool(value.get("enabled", default)) if isinstance(value, Mapping) else default


def cluster_features(cluster: Mapping[str, object], pool: Mapping[str, object]) -> frozenset[str]:
    """The features of `features` that a cluster and one of its node pools turn on, from the engine's
    camelCase inputs of gcp:container/cluster:Cluster and gcp:container/nodePool:NodePool."""
    found = {"system-metrics"}  # GKE's system metrics agent runs on every node; it cannot be removed
    if cluster.get("datapathProvider") == "ADVANCED_DATAPATH":
        found.add("dataplane-v2")
    identity = cluster.get("workloadIdentityConfig")
    if isinstance(identity, Mapping) and identity.get("workloadPool"):
        found.add("workload-identity")
    logging = cluster.get("loggingConfig")
    components = logging.get("enableComponents") if isinstance(logging, Mapping) else None
    if components is None or components:  # GKE logs system components unless told not to
        found.add("logging")
    monitoring = cluster.get("monitoringConfig")
    if isinstance(monitoring, Mapping) and _enabled(monitoring.get("managedPrometheus"), default=False):
        found.add("managed-prometheus")
    metrics = monitoring.get("enableComponents") if isinstance(monitoring, Mapping) else None
    if isinstance(metrics, list) and "DCGM" in metrics:  # GKE's DCGM exporter on every GPU node
        found.add("dcgm")
    addons = cluster.get("addonsConfig")
    pd = addons.get("gcePersistentDiskCsiDriverConfig") if isinstance(addons, Mapping) else None
    if _enabled(pd, default=True):  # on by default in new Standard clusters
        found.add("pd-csi")
    fuse = addons.get("gcsFuseCsiDriverConfig") if isinstance(addons, Mapping) else None
    if _enabled(fuse, default=False):  # off unless turned on (GKE Standard)
        found.add("gcsfuse-csi")
    node_config = pool.get("nodeConfig")
    if isinstance(node_config, Mapping) and _enabled(node_config.get("gcfsConfig"), default=False):
        found.add("image-streaming")
    return frozenset(found)
