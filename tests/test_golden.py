"""The rendered manifests and resource inventory of each environment match tests/golden/."""

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
def test_inventory_matches(previews: Callable[[str], Preview], env: str) -> None:
    expected = yaml.safe_load((GOLDEN / env / "inventory.yaml").read_text())
    assert inventory(previews(env).plan) == expected, f"resource counts changed; regenerate with: {REGENERATE}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_manifests_match(previews: Callable[[str], Preview], env: str) -> None:
    golden_dir = GOLDEN / env / "manifests"
    expected = {p.name: p.read_text() for p in sorted(golden_dir.glob("*.yaml"))}
    actual = {name: _dump(body) for name, body in previews(env).manifests.items()}
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


def test_golden_files_exist_for_every_environment() -> None:
    environments = {p.stem.removeprefix("Pulumi.") for p in Path("environments").glob("Pulumi.*.yaml")}
    assert environments == set(ENVIRONMENTS) == {p.name for p in GOLDEN.iterdir() if p.is_dir()}
