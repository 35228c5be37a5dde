"""Node-pool and platform prices (sizing/prices.yaml, sizing/platform_prices.yaml) and the cost estimate."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import catalog
from sizing.cost import (
    COLUMN_NOTES,
    HOURS_PER_MONTH,
    PlatformCostInput,
    PoolCostInput,
    ServiceCostInput,
    StorageCostInput,
    estimate_cost,
    format_cost,
    hourly_price,
    missing_price,
    platform_lines,
)

ROOT = Path(__file__).parents[1]
PRICES = yaml.safe_load((ROOT / "sizing" / "prices.yaml").read_text())
ZONES = yaml.safe_load((ROOT / "catalog" / "gpu_zones.yaml").read_text())
MACHINES = yaml.safe_load((ROOT / "catalog" / "machines.yaml").read_text())

# Rows no public source at hand publishes (sizing/prices.yaml "Gaps"): (machine or GPU, region or "*").
EXCEPTIONS = {
    # N1 attached GPUs: cyclenerd has no GPU-only rows; only us-central1 carries skypilot's figures.
    *{(g, "*") for g in ("nvidia-tesla-t4", "nvidia-tesla-v100", "nvidia-tesla-p4", "nvidia-tesla-p100")},
    ("a3-edgegpu-8g", "*"),  # not in cyclenerd's catalog
    ("a3-ultragpu-8g", "*"),  # not in cyclenerd's catalog
    *{("a3-megagpu-8g", r) for r in ("us-central1", "us-west1", "asia-northeast3")},  # cyclenerd: other regions only
}


def _offered(region: str) -> list[str]:
    accelerated = [m for m, v in MACHINES["accelerated"].items() if region in (ZONES.get(v["gpu"]) or {})]
    gpus = [g for g in MACHINES["n1"]["attachCounts"] if region in (ZONES.get(g) or {})]
    return accelerated + (list(MACHINES["n1"]["types"]) + gpus if gpus else []) + list(MACHINES["cpu"])


def _excepted(name: str, region: str) -> bool:
    return (name, "*") in EXCEPTIONS or (name, region) in EXCEPTIONS


def test_prices_cover_every_catalog_region() -> None:
    assert list(PRICES["regions"]) == list(catalog.regions())


@pytest.mark.parametrize("region", list(PRICES["regions"]))
def test_every_machine_a_region_offers_is_priced_or_a_listed_exception(region: str) -> None:
    rows = {**PRICES["regions"][region]["machines"], **(PRICES["regions"][region].get("attachedGpus") or {})}
    unpriced = []
    for name in _offered(region):
        row = rows[name]
        for kind in ("onDemand", "spot"):
            if row[kind] is None and not _excepted(name, region):
                unpriced.append(f"{name} {kind}")
    assert unpriced == [], f"add these rows to sizing/prices.yaml regions.{region}"


def test_exceptions_are_still_gaps() -> None:
    # An exception whose rows all got prices must leave the list, or it would hide a later regression.
    for name, where in EXCEPTIONS:
        regions = list(PRICES["regions"]) if where == "*" else [where]
        rows = [
            {**PRICES["regions"][r]["machines"], **(PRICES["regions"][r].get("attachedGpus") or {})}.get(name)
            for r in regions
        ]
        assert any(row is not None and None in (row["onDemand"], row["spot"]) for row in rows), (name, where)


def test_every_price_names_its_source_and_date_format() -> None:
    for region, r in PRICES["regions"].items():
        for name, entry in {**r["machines"], **(r.get("attachedGpus") or {})}.items():
            assert entry["source"], (region, name)
            assert entry["date"] is None or re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(entry["date"])), name
            assert entry["onDemand"] is None or entry["onDemand"] > 0, (region, name)
            assert entry["spot"] is None or 0 < entry["spot"] < (entry["onDemand"] or float("inf")), (region, name)


@pytest.mark.parametrize(
    ("machine", "region", "spot", "price"),
    [
        ("g2-standard-12", "us-central1", False, 1.00041629),  # cyclenerd 2026-07-30
        ("g2-standard-8", "us-central1", True, 0.479872),
        ("g2-standard-8", "europe-west4", False, 0.897201806),
        ("g2-standard-8", "asia-southeast1", True, 0.631944),
        ("a2-highgpu-1g", "us-central1", False, 3.673385),
        ("a3-highgpu-8g", "us-central1", False, 88.4899999),
    ],
)
def test_whole_vm_prices(machine: str, region: str, spot: bool, price: float) -> None:
    assert hourly_price(machine, region, spot=spot) == price
    assert hourly_price(machine, f"{region}-b", spot=spot) == price  # a zone is priced as its region


def test_multi_gpu_families_scale_with_the_gpu_count() -> None:
    # Catches typos: within a family the on-demand price per GPU is the same (host scales with GPUs).
    for family in ("a2-highgpu", "a2-ultragpu", "a3-highgpu"):
        per_gpu = {
            m.name: hourly_price(m.name, "us-central1", spot=False) / m.gpus  # type: ignore[operator]
            for m in catalog.machine_types().values()
            if m.name.startswith(family + "-") and m.name.endswith("g")
        }
        assert len(per_gpu) == 4, family
        assert max(per_gpu.values()) == pytest.approx(min(per_gpu.values()), rel=1e-6), per_gpu


def test_n1_is_host_plus_attached_gpus() -> None:
    host = hourly_price("n1-standard-8", "us-central1", spot=False)
    assert host == 0.379998
    assert hourly_price("n1-standard-8", "us-central1", spot=False, gpu="nvidia-tesla-t4", gpu_count=1) == (
        pytest.approx(0.379998 + 0.35)
    )
    assert hourly_price("n1-standard-16", "us-central1", spot=True, gpu="nvidia-tesla-t4", gpu_count=4) == (
        pytest.approx(0.26804 + 4 * 0.14)
    )


@pytest.mark.parametrize(
    ("machine", "region", "spot", "gpu", "count", "missing"),
    [
        (
            "g2-standard-12",
            "me-west1",
            False,
            None,
            0,
            "g2-standard-12 in me-west1 (sizing/prices.yaml regions.me-west1)",
        ),
        (
            "a3-megagpu-8g",
            "us-central1",
            True,
            None,
            0,
            "a3-megagpu-8g spot in us-central1 (sizing/prices.yaml regions.us-central1)",
        ),
        (
            "n1-standard-8",
            "europe-west4-b",
            True,
            "nvidia-tesla-t4",
            1,
            "nvidia-tesla-t4 attached to n1-standard-8 spot in europe-west4 (sizing/prices.yaml regions.europe-west4)",
        ),
        (
            "n1-standard-8",
            "us-central1",
            False,
            "nvidia-l4",
            1,
            "nvidia-l4 attached to n1-standard-8 in us-central1 (sizing/prices.yaml regions.us-central1)",
        ),
    ],
)
def test_unpriced_combinations_name_the_missing_row(
    machine: str, region: str, spot: bool, gpu: str | None, count: int, missing: str
) -> None:
    assert hourly_price(machine, region, spot=spot, gpu=gpu, gpu_count=count) is None
    assert missing_price(machine, region, spot=spot, gpu=gpu, gpu_count=count) == missing


POOLS = [
    PoolCostInput("l4", "g2-standard-24", "nvidia-l4", 2, "us-central1", False, 1, 3, "pd-ssd", 200, 1),
    PoolCostInput("t4", "n1-standard-8", "nvidia-tesla-t4", 1, "us-central1-a", True, 0, 2, "pd-balanced", 100),
    PoolCostInput("mega", "a3-megagpu-8g", "nvidia-h100-mega-80gb", 8, "us-central1", False, 0, 1),
]
SERVICES = [
    ServiceCostInput("gemma", "l4", 2, 1, 3),
    ServiceCostInput("half", "l4", 1, 1, 2),
    ServiceCostInput("bge", "t4", 1, 0, 2),
    ServiceCostInput("big", "mega", 8, 0, 1),
]
PLATFORM = PlatformCostInput(
    "us-central1", zonal=True, system_machine_type="e2-standard-2", system_min_nodes=1, system_max_nodes=2
)
UNPRICED = {"hourly": {"min": None, "max": None}, "monthly": {"min": None, "max": None}}


def test_estimate_cost_pools_and_services() -> None:
    cost = estimate_cost(POOLS, SERVICES)
    assert cost["pools"] == {
        "l4": {
            "machineType": "g2-standard-24",
            "spot": False,
            "hourly": {"min": 2.0008, "max": 6.0025},
            "monthly": {"min": 1460.61, "max": 4381.82},
        },
        "t4": {
            "machineType": "n1-standard-8",
            "spot": True,
            "hourly": {"min": 0.0, "max": 0.548},
            "monthly": {"min": 0.0, "max": 400.07},
        },
        "mega": {"machineType": "a3-megagpu-8g", "spot": False, **UNPRICED},
    }
    assert cost["services"]["half"] == {
        "hourly": {"min": 1.0004, "max": 2.0008},
        "monthly": {"min": 730.3, "max": 1460.61},
    }
    assert cost["services"]["big"] == UNPRICED
    assert (
        cost["total"]
        == cost["gpuPools"]
        == {"hourly": {"min": 2.0008, "max": 6.5505}, "monthly": {"min": 1460.61, "max": 4781.89}}
    )
    assert cost["missing"] == ["a3-megagpu-8g in us-central1 (sizing/prices.yaml regions.us-central1)"]
    assert cost["unpriced"] == ["a3-megagpu-8g"]
    assert cost["undated"] == ["n1-standard-8"]  # the T4 part is skypilot's undated figure
    assert cost["priceDate"] == "2026-07-30"
    assert cost["excluded"] == []  # no platform: the policy's GPU-only view
    assert json.loads(json.dumps(cost)) == cost


def test_platform_lines() -> None:
    cost = estimate_cost(POOLS[:2], [], PLATFORM)
    lines = {line["name"]: line for line in cost["lines"]}
    assert list(lines) == [
        "pool l4",
        "pool t4",
        "system pool",
        "boot disk system",
        "boot disk l4",
        "boot disk t4",
        "local SSD l4",
        "cluster fee",
        "load balancer rule",
        "load balancer proxies",
        "Cloud NAT",
        "static IP",
        "Secret Manager",
    ]
    assert lines["system pool"]["monthly"] == {"min": 48.92, "max": 97.84}  # e2-standard-2 0.06701142/h
    assert lines["boot disk l4"]["monthly"] == {"min": 34.0, "max": 102.0}  # pd-ssd 0.17/GB-month x 200 GB
    assert lines["local SSD l4"]["monthly"] == {"min": 30.0, "max": 90.0}  # 375 GB x 0.08/GB-month
    assert lines["cluster fee"]["monthly"] == {"min": 0.0, "max": 73.0}  # zonal: the free tier may cover it
    assert lines["Cloud NAT"]["hourly"] == {"min": 0.0028, "max": 0.0098}  # 2..7 VMs x 0.0014
    assert lines["static IP"]["monthly"] == {"min": 3.65, "max": 3.65}
    assert lines["Secret Manager"]["monthly"] == {"min": 0.0, "max": 0.06}
    assert lines["load balancer proxies"]["monthly"] == {"min": None, "max": None}
    assert cost["missing"] == ["load balancer proxies (lb-pricing: not readable here)"]
    total_max = sum(line["monthly"]["max"] or 0 for line in cost["lines"])
    assert cost["total"]["monthly"]["max"] == pytest.approx(total_max, abs=0.05)
    gpu, total = cost["gpuPools"]["monthly"]["max"], cost["total"]["monthly"]["max"]
    assert gpu is not None and total is not None and gpu < total


def test_regional_cluster_pays_the_fee() -> None:
    regional = PlatformCostInput(
        "europe-west4", zonal=False, system_machine_type="e2-standard-2", system_min_nodes=1, system_max_nodes=1
    )
    lines = {line["name"]: line for line in estimate_cost([], [], regional)["lines"]}
    assert lines["cluster fee"]["monthly"] == {"min": 73.0, "max": 73.0}
    assert lines["boot disk system"]["monthly"] == {"min": 11.0, "max": 11.0}  # pd-balanced 0.11 in europe-west4


def test_a_month_is_the_pricing_calculators_730_hours() -> None:
    cost = estimate_cost([PoolCostInput("a", "a3-highgpu-8g", "nvidia-h100-80gb", 8, "us-central1", False, 2, 2)], [])
    # Two a3-highgpu-8g at 88.49 USD/h (sizing/prices.yaml) in a 365 x 24 / 12 = 730 hour month.
    assert cost["total"]["hourly"] == {"min": 176.98, "max": 176.98}
    assert cost["total"]["monthly"] == {"min": 129195.4, "max": 129195.4}
    assert cost["undated"] == []


def test_every_line_bills_the_same_month() -> None:
    """A line priced per month in the tables (disks, storage, secrets) and one priced per hour (nodes, fees)
    both come out as hourly x one month: no line converts twice or not at all."""
    pool = PoolCostInput(
        "a", "g2-standard-8", "nvidia-l4", 1, "us-central1", False, 1, 3, "pd-balanced", 200, local_ssd_count=1
    )
    platform = PlatformCostInput(
        "us-central1", zonal=False, system_machine_type="e2-standard-4", system_min_nodes=1, system_max_nodes=2
    )
    lines = [line for line in estimate_cost([pool], [], platform)["lines"] if line["unitPrice"]]
    assert {line["per"] for line in lines} >= {"node-hour", "GB-hour", "cluster-hour", "version-hour"}
    for line in lines:
        for end in ("min", "max"):
            # hourly is rounded to 4 decimals: 0.00005 x 730 h
            hourly = line["hourly"][end]
            assert hourly is not None, line["name"]
            assert line["monthly"][end] == pytest.approx(hourly * HOURS_PER_MONTH, abs=0.04), line["name"]
    # The same 730 hours a month as pd-balanced's 0.10 USD per GB-month: 200 GB x 1..3 nodes.
    disk = next(line for line in lines if line["name"] == "boot disk a")
    assert disk["monthly"] == {"min": 20.0, "max": 60.0}


def test_no_pools() -> None:
    cost = estimate_cost([], [])
    assert cost["priceDate"] is None
    assert cost["total"] == {"hourly": {"min": 0.0, "max": 0.0}, "monthly": {"min": 0.0, "max": 0.0}}


def test_format_cost() -> None:
    text = format_cost(estimate_cost(POOLS, SERVICES)).splitlines()
    assert text[:10] == [
        "                                            USD/hour      USD/month",
        "pool l4        g2-standard-24 x 1–3      2.00 – 6.00  1,461 – 4,382",
        "pool t4        n1-standard-8 spot x 0–2  0.00 – 0.55        0 – 400",
        "pool mega      a3-megagpu-8g x 0–1          unpriced       unpriced",
        "service gemma  share                     2.00 – 6.00  1,461 – 4,382",
        "service half   share                     1.00 – 2.00    730 – 1,461",
        "service bge    share                     0.00 – 0.55        0 – 400",
        "service big    share                        unpriced       unpriced",
        "total                                    2.00 – 6.55  1,461 – 4,782",
        "Prices: USD, as of 2026-07-30, 730 h/month; min = the nodes the services' minimum replicas keep running, max = maxNodes.",
    ]
    assert text[10:12] == list(COLUMN_NOTES)
    assert (
        text[12]
        == "No price for: a3-megagpu-8g in us-central1 (sizing/prices.yaml regions.us-central1) (not counted in the total)."
    )


def test_format_cost_with_platform_says_what_is_excluded() -> None:
    text = format_cost(estimate_cost(POOLS[:1], [], PLATFORM))
    assert "\nGPU pools " in text
    assert "\ncluster fee " in text
    assert text.splitlines()[-1].startswith("Excluded: internet egress, ")


def test_secret_manager_counts_the_hf_token_and_every_api_key(previews: Any) -> None:
    # prod: the HF token and the API keys of embed, rerank, gemma, llama and qwen.
    (line,) = [line for line in previews("prod").plan["cost"]["lines"] if line["name"] == "Secret Manager"]
    assert line["detail"] == "6 versions, free tier 6"
    # staging: detector (Triton) and chat (SGLang) take no key of their own.
    (line,) = [line for line in previews("staging").plan["cost"]["lines"] if line["name"] == "Secret Manager"]
    assert line["detail"] == "5 versions, free tier 6"


def test_every_row_of_the_platform_table_bills_in_some_environment() -> None:
    """Each row of sizing/platform_lines.yaml renders for the platform it is written for: a `when` or a
    value name the renderer does not give fails here, not in an environment that happens to need it."""
    pool = PoolCostInput("a", "g2-standard-8", "nvidia-l4", 1, "us-central1", True, 0, 2, "pd-balanced", 200, 2)
    rendered: set[tuple[str, str]] = set()
    for zonal, nat, external in [(True, True, True), (False, False, False)]:
        platform = PlatformCostInput(
            "us-central1",
            zonal=zonal,
            system_machine_type="e2-standard-4",
            system_min_nodes=1,
            system_max_nodes=2,
            cloud_nat=nat,
            external_gateway=external,
            storage=(StorageCostInput("model mirror", "12 GiB", "gcsStandardGbMonth", 12.0),),
        )
        rendered |= {(line["name"], line["detail"]) for line in estimate_cost([pool], [], platform)["lines"]}
    names = {name for name, _ in rendered}
    assert {"system pool", "boot disk system", "boot disk a", "local SSD a", "model mirror", "Cloud NAT"} <= names
    assert {d for n, d in rendered if n in {"cluster fee", "static IP"}} == {
        "zonal: 0 if the account's free-tier cluster",
        "regional, no free tier",
        "external, reserved, in use",
        "internal (free)",
    }
    assert len(platform_lines()) == len({(row.name, row.when) for row in platform_lines()})
