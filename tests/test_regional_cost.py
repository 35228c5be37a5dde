"""Environments outside us-central1 preview with itemised, dated, non-zero costs (issue 14)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from preview.run import EXIT_OK, preview_environment

ENVS = Path(__file__).parent / "cost_environments"


@pytest.mark.parametrize(("file", "region"), [("euw4", "europe-west4"), ("ase1", "asia-southeast1")])
def test_a_region_outside_us_central1_is_priced(tmp_path: Path, file: str, region: str) -> None:
    out = tmp_path / "out"
    code = preview_environment("dev", str(out), quiet=True, env_file=ENVS / f"Pulumi.{file}.yaml")
    assert code == EXIT_OK
    cost = json.loads((out / "plan.json").read_text())["cost"]
    lines = {line["name"]: line for line in cost["lines"]}
    assert lines["pool l4"]["source"] == f"sizing/prices.yaml regions.{region}"
    for name in ("pool l4", "system pool", "boot disk l4", "boot disk system", "Cloud NAT", "static IP"):
        assert lines[name]["monthly"]["max"] > 0, name
        assert lines[name]["date"] == "2026-07-30", name
    assert lines["cluster fee"]["monthly"] == {"min": 0.0, "max": 73.0}  # zonal: the free tier may cover it
    assert cost["priceDate"] == "2026-07-30"
    assert cost["total"]["monthly"]["min"] > cost["gpuPools"]["monthly"]["min"] >= 0
    assert cost["missing"] == ["load balancer proxies (lb-pricing: not readable here)"]
