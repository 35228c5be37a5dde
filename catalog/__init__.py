"""GPU, machine-type and region catalogs: the platform facts every check and sizing rule reads.

The data lives in the YAML files beside this module, each with its sources; this module only
loads it into typed, immutable records.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from catalog.data import gpu_zone_letters, gpus_yaml, machines_yaml, region_letters, reserved_env_yaml
from catalog.data import read as read  # catalog.read: the files' parsed text, for readers that narrow it


@dataclass(frozen=True)
class Gpu:
    accelerator: str
    name: str
    memory_gb: int
    usable_mib: int
    arch: str
    compute_capability: float

    @property
    def supports_bf16(self) -> bool:
        # bf16 kernels need compute capability 8.0 (Ampere) or newer (vllm#1400).
        return self.compute_capability >= 8.0

    @property
    def supports_fp8(self) -> bool:
        # FP8 tensor cores exist from Ada (8.9) and Hopper (9.0) on; A100 has none.
        return self.compute_capability >= 8.9


@dataclass(frozen=True)
class MachineType:
    name: str
    vcpus: int
    memory_gb: float  # as the catalog writes it (a whole number of GB for every type listed)
    gpu: str | None  # the accelerator built into the machine; None for N1 and CPU types
    gpus: int
    attachable: dict[str, tuple[int, ...]]  # N1 only: accelerator -> allowed counts
    provisioning: tuple[str, ...] = ()  # how it may be bought: on-demand, spot, flex-start, reservation


@cache
def gpus() -> dict[str, Gpu]:
    return {
        key: Gpu(
            accelerator=key,
            name=v.name,
            memory_gb=v.memory_gb,
            usable_mib=v.usable_mib,
            arch=v.arch,
            compute_capability=float(v.compute_capability),
        )
        for key, v in gpus_yaml().items()
    }


@cache
def machine_types() -> dict[str, MachineType]:
    data = machines_yaml()
    models = data.provisioning
    result = {
        name: MachineType(name, v.vcpus, v.memory_gb, v.gpu, v.gpus, {}, tuple(models.get(name, models["default"])))
        for name, v in data.accelerated.items()
    }
    attach = {gpu: tuple(counts) for gpu, counts in data.n1.attach_counts.items()}
    for name, v in data.n1.types.items():
        result[name] = MachineType(name, v.vcpus, v.memory_gb, None, 0, attach, tuple(models["n1"]))
    return result


@cache
def gpu_zones() -> dict[str, dict[str, tuple[str, ...]]]:
    """accelerator -> region -> the zones that offer it (gpu_zones.yaml)."""
    return {
        gpu: {region: tuple(f"{region}-{z}" for z in letters) for region, letters in by_region.items()}
        for gpu, by_region in gpu_zone_letters().items()
    }


def zones_offering(accelerator: str, region: str) -> tuple[str, ...]:
    return gpu_zones().get(accelerator, {}).get(region, ())


@cache
def cpu_machine_types() -> dict[str, MachineType]:
    return {name: MachineType(name, v.vcpus, v.memory_gb, None, 0, {}) for name, v in machines_yaml().cpu.items()}


@cache
def regions() -> dict[str, tuple[str, ...]]:
    return {region: tuple(f"{region}-{z}" for z in zones) for region, zones in region_letters().items()}


def region_of(location: str) -> str:
    """`us-central1-a` -> `us-central1`; a region is returned unchanged."""
    head, _, tail = location.rpartition("-")
    return head if len(tail) == 1 and head else location


def is_zone(location: str) -> bool:
    return region_of(location) != location


def gpu_mismatch(machine: MachineType, accelerator: str, count: int) -> str | None:
    """Why `machine` cannot carry `count` x `accelerator`, or None when it can."""
    if machine.gpu is not None:
        if accelerator != machine.gpu or count != machine.gpus:
            return f"{machine.name} carries {machine.gpus} x {machine.gpu}, not {count} x {accelerator}"
        return None
    allowed = machine.attachable.get(accelerator)
    if allowed is None:
        return f"{machine.name} cannot attach {accelerator} (N1 attaches {', '.join(machine.attachable)})"
    if count not in allowed:
        return f"{machine.name} attaches {accelerator} in counts of {', '.join(map(str, allowed))}, not {count}"
    return None


def machine_for(accelerator: str, count: int) -> str | None:
    """The smallest accelerator-optimized machine type that carries exactly `count` x `accelerator`."""
    fits = [m for m in machine_types().values() if m.gpu == accelerator and m.gpus == count]
    return min(fits, key=lambda m: m.vcpus).name if fits else None


def on_demand_machine_for(accelerator: str, at_least: int) -> str | None:
    """The smallest accelerator-optimized machine sold on demand with at least `at_least` x `accelerator`."""
    fits = [
        m
        for m in machine_types().values()
        if m.gpu == accelerator and m.gpus >= at_least and "on-demand" in m.provisioning
    ]
    return min(fits, key=lambda m: (m.gpus, m.vcpus)).name if fits else None


@dataclass(frozen=True)
class ReservedVariable:
    """An environment variable a custom server may not set (catalog/reserved_env.yaml)."""

    name: str
    why: str
    source: str
    secret: bool  # filled from a Kubernetes Secret by the platform


@cache
def reserved_env() -> dict[str, ReservedVariable]:
    return {
        name: ReservedVariable(name=name, why=entry.why, source=entry.source, secret=entry.secret)
        for name, entry in reserved_env_yaml().variables.items()
    }
