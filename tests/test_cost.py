"""Node-pool prices (sizing/prices.yaml) and the cost estimate built on them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

import catalog
from sizing.cost import HOURS_PER_MONTH, PoolCostInput, ServiceCostInput, estimate_cost, format_cost, hourly_price

PRICES = yaml.safe_load((Path(__file__).parents[1] / "sizing" / "prices.yaml").read_text())


def test_every_gpu_machine_type_has_a_price_or_is_known_unpriced() -> None:
    accelerated = [m for m in catalog.machine_types().values() if m.gpu is not None]
    unpriced = {m.name for m in accelerated if hourly_price(m.name, "us-central1", spot=False) is None}
    # Not sold in us-central1 per the 2025-03 pricing catalog (sizing.md §4); A4 is not sold on demand.
    assert unpriced == {"a3-megagpu-8g", "a4-highgpu-8g"}
    no_spot = {m.name for m in accelerated if hourly_price(m.name, "us-central1", spot=True) is None}
    assert no_spot == {"a3-megagpu-8g", "a3-ultragpu-8g"}  # the H200 quote has no spot figure
    n1 = [m for m in catalog.machine_types().values() if m.attachable]
    for machine in n1:
        for gpu in machine.attachable:
            assert hourly_price(machine.name, "us-central1", spot=False, gpu=gpu, gpu_count=1) is not None
            assert hourly_price(machine.name, "us-central1", spot=True, gpu=gpu, gpu_count=1) is not None


def test_every_price_names_its_source_and_date_format() -> None:
    for section in ("machines", "n1Hosts", "attachedGpus"):
        for name, entry in PRICES[section].items():
            assert entry["source"], name
            assert entry["date"] is None or re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(entry["date"])), name
            sold_on_demand = section != "machines" or "on-demand" in catalog.machine_types()[name].provisioning
            # A price may be missing only where the machine is not sold on demand at all.
            assert entry["onDemand"] > 0 if entry["onDemand"] is not None else not sold_on_demand, name
            assert entry["spot"] is None or 0 < entry["spot"] < (entry["onDemand"] or float("inf")), name


@pytest.mark.parametrize(
    ("machine", "spot", "price"),
    [
        ("g2-standard-12", False, 1.000416348),  # official page via a third-party note, 2026-10-01
        ("g2-standard-12", True, 0.39931),
        ("g2-standard-24", False, 2.000832696),
        ("a2-highgpu-1g", False, 3.673385),
        ("a2-ultragpu-1g", True, 2.02746836),
        ("a3-highgpu-8g", False, 88.4899999),
    ],
)
def test_whole_vm_prices(machine: str, spot: bool, price: float) -> None:
    assert hourly_price(machine, "us-central1", spot=spot) == price
    assert hourly_price(machine, "us-central1-a", spot=spot) == price  # a zone is priced as its region


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


def test_g2_whole_vm_is_the_l4_plus_the_host() -> None:
    # SkyPilot host rows + 0.56004 per L4 reproduce the official-page g2-standard-8 price.
    assert hourly_price("g2-standard-8", "us-central1", spot=False) == pytest.approx(0.56004 + 0.29358, abs=1e-5)
    assert hourly_price("g2-standard-48", "us-central1", spot=True) == pytest.approx(4 * 0.2231 + 0.70483)


def test_n1_is_host_plus_attached_gpus() -> None:
    assert hourly_price("n1-standard-8", "us-central1", spot=False) == 0.38
    assert hourly_price("n1-standard-8", "us-central1", spot=False, gpu="nvidia-tesla-t4", gpu_count=1) == (
        pytest.approx(0.38 + 0.35)
    )
    assert hourly_price("n1-standard-16", "us-central1", spot=True, gpu="nvidia-tesla-t4", gpu_count=4) == (
        pytest.approx(0.19764 + 4 * 0.14)
    )
    assert hourly_price("n1-highmem-8", "us-central1", spot=False, gpu="nvidia-tesla-v100", gpu_count=2) == (
        pytest.approx(0.47321167 + 2 * 2.48)
    )
    # N1 rates are linear in vCPUs: the per-vCPU price is the same for every size.
    for kind in ("n1-standard", "n1-highmem"):
        rates = {
            m.name: hourly_price(m.name, "us-central1", spot=False) / m.vcpus  # type: ignore[operator]
            for m in catalog.machine_types().values()
            if m.name.startswith(kind + "-")
        }
        assert max(rates.values()) == pytest.approx(min(rates.values()), rel=1e-4), rates


@pytest.mark.parametrize(
    ("machine", "region", "gpu", "count"),
    [
        ("g2-standard-12", "europe-west4", None, 0),  # only us-central1 is priced
        ("a3-megagpu-8g", "us-central1", None, 0),
        ("n1-standard-8", "us-central1", "nvidia-l4", 1),  # L4 is not an N1 attachment
        ("n1-standard-8", "us-central1", None, 1),
        ("e2-standard-4", "us-central1", None, 0),
    ],
)
def test_unpriced_combinations_return_none(machine: str, region: str, gpu: str | None, count: int) -> None:
    assert hourly_price(machine, region, spot=False, gpu=gpu, gpu_count=count) is None


POOLS = [
    PoolCostInput("l4", "g2-standard-24", "nvidia-l4", 2, "us-central1", False, 1, 3),
    PoolCostInput("t4", "n1-standard-8", "nvidia-tesla-t4", 1, "us-central1-a", True, 0, 2),
    PoolCostInput("mega", "a3-megagpu-8g", "nvidia-h100-mega-80gb", 8, "us-central1", False, 0, 1),
]
SERVICES = [
    ServiceCostInput("gemma", "l4", 2, 1, 3),
    ServiceCostInput("half", "l4", 1, 1, 2),
    ServiceCostInput("bge", "t4", 1, 0, 2),
    ServiceCostInput("big", "mega", 8, 0, 1),
]
UNPRICED = {"hourly": {"min": None, "max": None}, "monthly": {"min": None, "max": None}}


def test_estimate_cost() -> None:
    cost = estimate_cost(POOLS, SERVICES)
    assert cost == {
        "currency": "USD",
        "priceDate": "2026-10-01",
        "hoursPerMonth": 730,
        "pools": {
            "l4": {
                "machineType": "g2-standard-24",
                "spot": False,
                "hourly": {"min": 2.0008, "max": 6.0025},
                "monthly": {"min": 1460.61, "max": 4381.82},
            },
            "t4": {
                "machineType": "n1-standard-8",
                "spot": True,
                "hourly": {"min": 0.0, "max": 0.4776},
                "monthly": {"min": 0.0, "max": 348.68},
            },
            "mega": {"machineType": "a3-megagpu-8g", "spot": False, **UNPRICED},
        },
        "services": {
            "gemma": {"hourly": {"min": 2.0008, "max": 6.0025}, "monthly": {"min": 1460.61, "max": 4381.82}},
            "half": {"hourly": {"min": 1.0004, "max": 2.0008}, "monthly": {"min": 730.3, "max": 1460.61}},
            "bge": {"hourly": {"min": 0.0, "max": 0.4776}, "monthly": {"min": 0.0, "max": 348.68}},
            "big": UNPRICED,
        },
        "total": {"hourly": {"min": 2.0008, "max": 6.4801}, "monthly": {"min": 1460.61, "max": 4730.5}},
        "unpriced": ["a3-megagpu-8g"],
        "undated": ["n1-standard-8"],
    }
    assert json.loads(json.dumps(cost)) == cost


def test_monthly_is_hourly_times_730() -> None:
    cost = estimate_cost([PoolCostInput("a", "a3-highgpu-8g", "nvidia-h100-80gb", 8, "us-central1", False, 2, 2)], [])
    assert HOURS_PER_MONTH == 730
    assert cost["total"]["hourly"] == {"min": 176.98, "max": 176.98}
    assert cost["total"]["monthly"] == {"min": round(2 * 88.4899999 * 730, 2), "max": round(2 * 88.4899999 * 730, 2)}
    assert cost["priceDate"] == "2025-03-06"
    assert cost["undated"] == []


def test_price_date_is_the_oldest_figure_used() -> None:
    cost = estimate_cost(
        [
            PoolCostInput("l4", "g2-standard-12", "nvidia-l4", 1, "us-central1", False, 1, 1),
            PoolCostInput("a100", "a2-highgpu-1g", "nvidia-tesla-a100", 1, "us-central1", False, 0, 1),
        ],
        [],
    )
    assert cost["priceDate"] == "2025-03-06"


def test_services_on_cpu_only_or_unknown_pools() -> None:
    cost = estimate_cost(POOLS[:1], [ServiceCostInput("cpu", "l4", 0, 1, 1), ServiceCostInput("lost", "x", 1, 1, 1)])
    assert cost["services"]["cpu"]["hourly"] == {"min": 0.0, "max": 0.0}
    assert cost["services"]["lost"] == UNPRICED


def test_no_pools() -> None:
    cost = estimate_cost([], [])
    assert cost["priceDate"] is None
    assert cost["total"] == {"hourly": {"min": 0.0, "max": 0.0}, "monthly": {"min": 0.0, "max": 0.0}}


def test_format_cost() -> None:
    assert format_cost(estimate_cost(POOLS, SERVICES)) == "\n".join(
        [
            "                                      USD/hour      USD/month",
            "pool l4        g2-standard-24      2.00 – 6.00  1,461 – 4,382",
            "pool t4        n1-standard-8 spot  0.00 – 0.48        0 – 349",
            "pool mega      a3-megagpu-8g          unpriced       unpriced",
            "service gemma  share               2.00 – 6.00  1,461 – 4,382",
            "service half   share               1.00 – 2.00    730 – 1,461",
            "service bge    share               0.00 – 0.48        0 – 349",
            "service big    share                  unpriced       unpriced",
            "total                              2.00 – 6.48  1,461 – 4,730",
            "Prices: USD, as of 2026-10-01, 730 h/month; min = the nodes the services' minimum replicas keep running, max = maxNodes.",
            "No price for: a3-megagpu-8g (not counted in the total).",
            "Undated catalog prices: n1-standard-8.",
        ]
    )


def test_format_cost_single_values() -> None:
    text = format_cost(
        estimate_cost([PoolCostInput("a", "g2-standard-8", "nvidia-l4", 1, "us-central1", False, 1, 1)], [])
    )
    assert text.splitlines()[1] == "pool a  g2-standard-8      0.85        623"
    assert (
        text.splitlines()[-1]
        == "Prices: USD, as of 2026-10-01, 730 h/month; min = the nodes the services' minimum replicas keep running, max = maxNodes."
    )
