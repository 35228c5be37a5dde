"""Shared fixtures: each environment is previewed once per test session (the mock engine is slow
to import), and tests read the artifacts a user would read: plan.json and the manifests."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from preview.run import preview_environment
from tools.new_environment import environment_names

PROMOTION = ("dev", "staging", "prod")  # the order changes are promoted in; other environments follow
_FOUND = set(environment_names())
# Every environment file is previewed and checked, a new one included (tools/new_environment.py).
ENVIRONMENTS = tuple(e for e in PROMOTION if e in _FOUND) + tuple(sorted(_FOUND - set(PROMOTION)))


@dataclass(frozen=True)
class Preview:
    exit_code: int
    plan: dict[str, Any]
    manifests: dict[str, dict[str, Any]]  # file name -> object

    def resources(self, type_: str) -> list[dict[str, Any]]:
        return [r for r in self.plan["resources"] if r["type"] == type_]

    def manifest(self, kind: str, name: str) -> dict[str, Any]:
        found = [m for m in self.manifests.values() if m["kind"] == kind and m["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name}: {len(found)} manifests"
        return found[0]


def load_preview(exit_code: int, out: Path) -> Preview:
    plan = json.loads((out / "plan.json").read_text())
    manifests = {p.name: yaml.safe_load(p.read_text()) for p in sorted((out / "manifests").glob("*.yaml"))}
    return Preview(exit_code, plan, manifests)


@pytest.fixture(scope="session")
def previews(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Preview]:
    """Each environment's preview, run once for the whole session: under pytest-xdist (`make unit` runs
    `-n auto`) the workers share one run per environment through the session's common temporary folder,
    the first to ask running it while the others wait on its lock."""
    cache: dict[str, Preview] = {}
    # An xdist worker's folder is pytest-<n>/popen-gw<i>/: its parent is this session's, common to the workers.
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base

    def get(env: str) -> Preview:
        if env not in cache:
            out = shared / f"preview-{env}"
            with (shared / f"preview-{env}.lock").open("w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
                done = shared / f"preview-{env}.exit"
                if not done.exists():
                    done.write_text(str(preview_environment(env, str(out), quiet=True)))
                cache[env] = load_preview(int(done.read_text()), out)
        return cache[env]

    return get
