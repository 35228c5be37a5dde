"""The files of a model@commit a server reads, from the model's lock (sizing/locks/<org>--<name>.yaml).

A lock lists the repository at a commit, path -> bytes: `make model` writes one from the Hub (verified), or
it is collected by hand from public listings (its `source` says from where). A runtime's file patterns
(catalog/servers.yaml `files`) select what its server reads; the rest is what the mirror skips.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from loads.scripts.repo_files import select

LOCKS = Path(__file__).parent.parent / "sizing" / "locks"  # beside the models they size (sizing/models.yaml)


@dataclass(frozen=True)
class Lock:
    model: str
    commit: str
    verified: bool  # read from the Hub by `make model`; else hand-collected (sizes only, never enforced)
    source: str
    files: dict[str, int]


@dataclass(frozen=True)
class Served:
    """What one server reads of a locked model@commit, and what it skips."""

    lock: Lock
    files: dict[str, int]

    @property
    def bytes(self) -> int:
        return sum(self.files.values())

    @property
    def gib(self) -> float:
        return self.bytes / 2**30

    @property
    def skipped(self) -> dict[str, int]:
        return {p: b for p, b in self.lock.files.items() if p not in self.files}


def lock_path(model: str) -> Path:
    return LOCKS / f"{model.replace('/', '--')}.yaml"


@cache
def lock(model: str, commit: str | None) -> Lock | None:
    """The lock of model@commit, None when the model has none at that commit (or no commit is pinned)."""
    path = lock_path(model)
    if commit is None or not path.is_file():
        return None
    data = yaml.safe_load(path.read_text())
    found = (data.get("revisions") or {}).get(commit)
    if data.get("model") != model or found is None:
        return None
    files = {str(p): int(b) for p, b in (found.get("files") or {}).items()}
    return Lock(model, commit, bool(found.get("verified")), str(found.get("source", "")), files)


def served(model: str, commit: str | None, patterns: dict[str, list[str]]) -> Served | None:
    """What a server with `patterns` reads of model@commit; None without a lock or without patterns."""
    found = lock(model, commit)
    if found is None or not patterns:
        return None
    return Served(found, select(found.files, patterns))
