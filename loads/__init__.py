"""One module per way weights reach a server (load path), behind loads/base.py's protocol.

Adding a load path is one module here plus one block in catalog/load_paths.yaml; the registry below proves
both exist for every path. Nothing outside this package compares a load path's name.
"""

from __future__ import annotations

from functools import cache

from loads.base import LoadPath, MirrorContext, Placed, PodAdditions, PodContext, RuntimeAbilities
from loads.facts import load_facts
from loads.gcsfuse import GcsFuse
from loads.hub import Hub
from loads.hyperdisk_ml import HyperdiskMl
from loads.streamer import Streamer

__all__ = [
    "LoadPath",
    "MirrorContext",
    "Placed",
    "PodAdditions",
    "PodContext",
    "RuntimeAbilities",
    "default_path",
    "load_path",
    "load_paths",
    "paths_for",
]


@cache
def load_paths() -> dict[str, LoadPath]:
    """Every load path by name; the catalog and the modules must name the same set."""
    paths: dict[str, LoadPath] = {p.name: p for p in (Hub(), Streamer(), GcsFuse(), HyperdiskMl())}
    catalogued = set(load_facts())
    if catalogued != set(paths):
        raise ValueError(
            f"catalog/load_paths.yaml names {sorted(catalogued)}, loads/ implements {sorted(paths)}: add the missing "
            "module or catalog block"
        )
    return paths


def load_path(name: str) -> LoadPath:
    return load_paths()[name]


def default_path() -> LoadPath:
    """The path of a service whose environment has no mirror: the one that does not read it."""
    (found,) = (p for p in load_paths().values() if not p.reads_mirror)
    return found


def paths_for(abilities: RuntimeAbilities) -> tuple[str, ...]:
    """The load paths a server with these abilities can use, in the catalog's order."""
    return tuple(name for name, p in load_paths().items() if p.serves(abilities))
