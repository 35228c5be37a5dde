"""Cold start from node ready to serving: image pull, weights at the load path's throughput, warm-up.

Pure: the figures and their sources are in catalog/load_paths.yaml; every load a service can name has
an entry there (a missing one is a failing load, not a KeyError later).
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any

import catalog
from config.mirror import Load


@dataclass(frozen=True)
class LoadPath:
    name: str
    offered: bool
    seconds_per_gib: float  # the estimate
    budget_seconds_per_gib: float  # what the startup probe allows per GiB
    source: str


@dataclass(frozen=True)
class ColdStart:
    load: str
    weights_gib: float | None  # None: the model's size is unknown
    image_pull_seconds: int
    weights_seconds: int | None
    warmup_seconds: int
    source: str

    @property
    def total_seconds(self) -> int | None:
        if self.weights_seconds is None:
            return None
        return self.image_pull_seconds + self.weights_seconds + self.warmup_seconds


@cache
def _data() -> dict[str, Any]:
    data: dict[str, Any] = catalog.read("load_paths.yaml")
    return data


@cache
def load_paths() -> dict[str, LoadPath]:
    paths = {
        name: LoadPath(
            name, bool(p["offered"]), float(p["secondsPerGib"]), float(p["budgetSecondsPerGib"]), p["source"]
        )
        for name, p in _data()["paths"].items()
    }
    missing = set(typing.get_args(Load)) - set(paths)
    if missing:
        raise ValueError(f"catalog/load_paths.yaml has no entry for load {sorted(missing)}")
    for p in paths.values():
        if not 0 < p.seconds_per_gib <= p.budget_seconds_per_gib:
            raise ValueError(f"load path {p.name}: the budget per GiB must cover the estimate")
    return paths


def estimate(load: str, weights_gib: float | None, *, generates: bool) -> ColdStart:
    path = load_paths()[load]
    warmup = _data()["warmupSeconds"]["generates" if generates else "embeds"]
    return ColdStart(
        load=load,
        weights_gib=weights_gib,
        image_pull_seconds=int(_data()["imagePullSeconds"]),
        weights_seconds=None if weights_gib is None else math.ceil(weights_gib * path.seconds_per_gib),
        warmup_seconds=int(warmup),
        source=path.source,
    )


@dataclass(frozen=True)
class HyperdiskMl:
    """Facts of the hyperdiskml load path (catalog/load_paths.yaml `hyperdiskMl`)."""

    attachable_series: tuple[str, ...]
    throughput_mib_per_second: int
    size_margin: float
    min_size_gib: int
    source: str

    def attachable(self, machine_type: str) -> bool:
        """Whether a node of `machine_type` can attach a Hyperdisk ML volume (by its series, a2-highgpu-2g: a2)."""
        return machine_type.split("-", 1)[0] in self.attachable_series

    def volume_gib(self, weights_gib: float | None) -> int:
        """The volume for a checkpoint of `weights_gib` (unknown: as a 50B model in bf16, as the mirror Job)."""
        gib = weights_gib if weights_gib is not None else 100.0
        return max(math.ceil(gib * self.size_margin), self.min_size_gib)


@cache
def hyperdisk_ml() -> HyperdiskMl:
    raw = _data()["hyperdiskMl"]
    facts = HyperdiskMl(
        tuple(raw["attachableSeries"]),
        int(raw["throughputMibPerSecond"]),
        float(raw["sizeMargin"]),
        int(raw["minSizeGib"]),
        raw["source"],
    )
    if not facts.attachable_series or facts.size_margin < 1 or facts.throughput_mib_per_second < 400:
        raise ValueError("catalog/load_paths.yaml hyperdiskMl: series, a margin >= 1 and >= 400 MiB/s are needed")
    return facts
