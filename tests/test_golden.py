"""The rendered manifests and resource inventory of each environment match tests/golden/.

One test per environment: a new environment (`make env`) fails here, and only here, until its
golden files exist, with the command that writes them.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.conftest import ENVIRONMENTS, Preview
from tests.golden import GOLDEN, inventory

REGENERATE = "make golden  (python -m tests.golden), then review the diff like code"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_rendered_environment_matches_its_golden_files(previews: Callable[[str], Preview], env: str) -> None:
    golden_dir = GOLDEN / env
    if not golden_dir.is_dir():
        pytest.fail(f"{env} has no golden files in tests/golden/{env}/ — run: python -m tests.golden {env}")
    preview = previews(env)
    expected_inventory = yaml.safe_load((golden_dir / "inventory.yaml").read_text())
    assert inventory(preview.plan) == expected_inventory, f"resource counts changed; regenerate with: {REGENERATE}"
    expected = {p.name: p.read_text() for p in sorted((golden_dir / "manifests").glob("*.yaml"))}
    actual = {name: _dump(body) for name, body in preview.manifests.items()}
    assert sorted(actual) == sorted(expected), f"objects added or removed; regenerate with: {REGENERATE}"
    for name, text in expected.items():
        if actual[name] != text:
            diff = "".join(
                difflib.unified_diff(
                    text.splitlines(True), actual[name].splitlines(True), f"golden/{env}/{name}", "rendered"
                )
            )
            pytest.fail(f"{name} differs from the golden file:\n{diff}\nregenerate with: {REGENERATE}")


def _dump(body: object) -> str:
    # Same emitter as the preview, so unchanged objects compare equal byte for byte.
    return yaml.dump(body, Dumper=yaml.CSafeDumper, sort_keys=False)


def test_no_golden_files_for_an_environment_that_is_gone() -> None:
    environments = {p.stem.removeprefix("Pulumi.") for p in Path("environments").glob("Pulumi.*.yaml")}
    stale = {p.name for p in GOLDEN.iterdir() if p.is_dir()} - environments
    assert not stale, f"tests/golden/ has files of removed environments: {sorted(stale)} — delete them"
