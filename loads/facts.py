"""The load paths' figures (catalog/load_paths.yaml) as typed records, and the cold start they give.

Pure: every figure and its source is in the catalog; every load path module has an entry there (a missing
one is a failing catalog, not a KeyError later), and every entry a module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from catalog.data import LoadPathsYaml, load_paths_yaml


@dataclass(frozen=True)
class LoadFacts:
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


def data() -> LoadPathsYaml:
    return load_paths_yaml()


@cache
def load_facts() -> dict[str, LoadFacts]:
    paths = {
        name: LoadFacts(name, p.offered, p.seconds_per_gib, p.budget_seconds_per_gib, p.source)
        for name, p in data().paths.items()
    }
    for p in paths.values():
        if not 0 < p.seconds_per_gib <= p.budget_seconds_per_gib:
            raise ValueError(f"load path {p.name}: the budget per GiB must cover the estimate")
    return paths


def estimate(load: str, weights_gib: float | None, *, generates: bool) -> ColdStart:
    facts = load_facts()[load]
    warmup = data().warmup_seconds["generates" if generates else "embeds"]
    return ColdStart(
        load=load,
        weights_gib=weights_gib,
        image_pull_seconds=data().image_pull_seconds,
        weights_seconds=None if weights_gib is None else math.ceil(weights_gib * facts.seconds_per_gib),
        warmup_seconds=warmup,
        source=facts.source,
    )
