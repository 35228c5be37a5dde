"""The catalog's YAML files as they are written, each as a typed model: a reader gets fields, never Any.

Each model forbids keys it does not know, so a misspelt key in a catalog file fails when the file is first
read, not as a missing value later. Numbers keep the type the file gives them (`int | float` where a file
writes either), so what the program renders does not change with the reading.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

_DATA = Path(__file__).parent

Number = int | float


def read(name: str) -> object:
    """One of the catalog's YAML files, parsed: the reader narrows it (a model below, or isinstance)."""
    with (_DATA / name).open() as f:
        data: object = yaml.safe_load(f)
    return data


class CatalogYaml(BaseModel):
    """camelCase keys as the files write them; unknown keys refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")


# --- gpus.yaml, machines.yaml, regions.yaml, gpu_zones.yaml, reserved_env.yaml ------------------------------


class GpuYaml(CatalogYaml):
    name: str
    memory_gb: int
    usable_mib: int
    arch: str
    compute_capability: Number


class MachineYaml(CatalogYaml):
    vcpus: int
    memory_gb: Number
    gpu: str | None = None
    gpus: int = 0


class N1Yaml(CatalogYaml):
    attach_counts: dict[str, list[int]]
    types: dict[str, MachineYaml]


class MachinesYaml(CatalogYaml):
    accelerated: dict[str, MachineYaml]
    n1: N1Yaml
    cpu: dict[str, MachineYaml]
    provisioning: dict[str, list[str]]  # machine type, "n1" or "default" -> how it may be bought


class ReservedVariableYaml(CatalogYaml):
    why: str
    source: str
    secret: bool = False


class ReservedEnvYaml(CatalogYaml):
    variables: dict[str, ReservedVariableYaml]


@cache
def gpus_yaml() -> dict[str, GpuYaml]:
    return {key: GpuYaml.model_validate(value) for key, value in _map("gpus.yaml").items()}


@cache
def machines_yaml() -> MachinesYaml:
    return MachinesYaml.model_validate(read("machines.yaml"))


@cache
def region_letters() -> dict[str, list[str]]:
    """regions.yaml: region -> zone letters."""
    return {
        region: [str(z) for z in _list(letters, "regions.yaml")] for region, letters in _map("regions.yaml").items()
    }


@cache
def gpu_zone_letters() -> dict[str, dict[str, list[str]]]:
    """gpu_zones.yaml: accelerator -> region -> zone letters."""
    return {
        gpu: {
            region: [str(z) for z in _list(letters, "gpu_zones.yaml")] for region, letters in _of_map(by_region).items()
        }
        for gpu, by_region in _map("gpu_zones.yaml").items()
    }


@cache
def reserved_env_yaml() -> ReservedEnvYaml:
    return ReservedEnvYaml.model_validate(read("reserved_env.yaml"))


# --- load_paths.yaml ----------------------------------------------------------------------------------------


class PathYaml(CatalogYaml):
    offered: bool
    seconds_per_gib: float
    budget_seconds_per_gib: float
    source: str


class HyperdiskYaml(CatalogYaml):
    attachable_series: list[str]
    throughput_mib_per_second: int
    size_margin: float
    min_size_gib: int
    source: str


class LoadPathsYaml(CatalogYaml):
    paths: dict[str, PathYaml]
    image_pull_seconds: int
    warmup_seconds: dict[str, int]  # "generates" and "embeds"
    hyperdisk_ml: HyperdiskYaml


@cache
def load_paths_yaml() -> LoadPathsYaml:
    return LoadPathsYaml.model_validate(read("load_paths.yaml"))


# --- gke_node.yaml ------------------------------------------------------------------------------------------


class TierYaml(CatalogYaml):
    size: Number | None  # None: the rest
    share: float


class KernelYaml(CatalogYaml):
    ratio: Number
    fixed_mib: Number
    swiotlb_mib: Number
    swiotlb_above_gib: Number
    low_memory_mib: Number
    low_memory_at_or_below_gib: Number
    cos_correction_ratio: Number
    cos_correction_max_mib: Number


class DiskReservationYaml(CatalogYaml):
    max_share: Number
    base_gib: Number
    share: Number
    cap_gib: Number


class BootDiskYaml(CatalogYaml):
    os_share: Number
    os_fixed_gib: Number
    os_extra_share: Number
    os_extra_max_mib: Number
    eviction_ratio: Number
    reservation: DiskReservationYaml


class LocalSsdYaml(CatalogYaml):
    gib: Number
    overhead_kib: dict[int, Number]  # SSD count -> filesystem overhead
    eviction_ratio: Number
    reservation_gib: dict[int, Number]  # SSD count -> reserved; the largest count stands for more


class DaemonSetYaml(CatalogYaml):
    name: str
    namespace: str
    when: str
    cpu_milli: int
    memory_mib: int
    source: str
    gpu_only: bool = False


class SidecarYaml(CatalogYaml):
    cpu: str
    memory: str
    ephemeral_storage: str


class GcsfuseSidecarYaml(CatalogYaml):
    defaults: SidecarYaml
    defaults_source: str
    serving: SidecarYaml


class HeadroomYaml(CatalogYaml):
    cpu_milli: int
    memory_mib: int
    ephemeral_gib: int


class GkeNodeYaml(CatalogYaml):
    cpu_reservation: list[TierYaml]
    memory_reservation: list[TierYaml]
    memory_eviction_mib: int
    kernel: KernelYaml
    boot_disk: BootDiskYaml
    local_ssd: LocalSsdYaml
    features: list[str]
    image_streaming_memory: list[TierYaml]
    daemon_sets: list[DaemonSetYaml]
    gcsfuse_sidecar: GcsfuseSidecarYaml
    headroom: HeadroomYaml


@cache
def gke_node_yaml() -> GkeNodeYaml:
    return GkeNodeYaml.model_validate(read("gke_node.yaml"))


# --- narrowing ----------------------------------------------------------------------------------------------


def _of_map(value: object, where: str = "a catalog file") -> dict[str, object]:
    if not isinstance(value, dict):
        raise TypeError(f"{where}: expected a map, found {type(value).__name__}")
    return {str(k): v for k, v in value.items()}


def _map(name: str) -> dict[str, object]:
    return _of_map(read(name), f"catalog/{name}")


def _list(value: object, where: str) -> list[object]:
    if not isinstance(value, list):
        raise TypeError(f"catalog/{where}: expected a list, found {type(value).__name__}")
    return list(value)
