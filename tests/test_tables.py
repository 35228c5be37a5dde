"""The preview's tables explain their columns, mark a value beyond its budget, and the summary counts it."""

from __future__ import annotations

from typing import Any

from preview.cold_start import cold_start_table, over_budget
from preview.run import findings
from sizing.cost import CostEstimate, PoolCostInput, estimate_cost, format_cost


def row(service: str, estimate: int, budget: int) -> dict[str, Any]:
    return {
        "service": service,
        "load": "hub",
        "weightsGib": 5.0,
        "imagePullSeconds": 240,
        "weightsSeconds": estimate - 300,
        "warmupSeconds": 60,
        "estimateSeconds": estimate,
        "hubBudgetSeconds": 600,
        "budgetSeconds": budget,
        "sizedFrom": "lock",
    }


REPORT = {"services": [row("fast", 500, 600), row("slow", 900, 600)], "sources": {}}


def test_a_cold_start_beyond_its_budget_is_marked_and_the_columns_explained() -> None:
    lines = cold_start_table(REPORT).splitlines()
    fast = next(line for line in lines if line.strip().startswith("fast"))
    slow = next(line for line in lines if line.strip().startswith("slow"))
    assert "15m00s!" in slow.split()
    assert "8m20s" in fast.split() and "!" not in fast
    assert any(line.strip().startswith("warm-up:") for line in lines)
    assert slow.split()[-1] == "lock"  # where the weights' size came from
    assert [r["service"] for r in over_budget(REPORT)] == ["slow"]


def cost() -> CostEstimate:
    pool = PoolCostInput("l4", "g2-standard-8", "nvidia-l4", 1, "us-central1", spot=False, min_nodes=0, max_nodes=2)
    return estimate_cost([pool], [])


def test_a_total_beyond_the_ceiling_is_marked() -> None:
    total = cost()["total"]["monthly"]["max"]
    over = format_cost(cost(), ceiling=total - 1).splitlines()
    assert next(line for line in over if line.startswith("total")).endswith("!")
    assert f"! the total at max nodes is above the monthly-cost-ceiling of {total - 1:,.0f} USD" in over
    within = format_cost(cost(), ceiling=total + 1).splitlines()
    assert not next(line for line in within if line.startswith("total")).endswith("!")
    assert any(line.startswith("Columns:") for line in within)


def test_the_summary_counts_what_is_beyond_its_budget() -> None:
    plan: dict[str, Any] = {
        "policies": [{"policy": "revision-pinned", "enforcement": "mandatory", "urn": "urn::x::embed-deployment"}],
        "manifests": {"schemaErrors": {}},
        "coldStart": REPORT,
        "cost": cost(),
    }
    total = plan["cost"]["total"]["monthly"]["max"]
    assert findings(plan, ceiling=total - 1) == [
        ("[mandatory] revision-pinned", "embed-deployment"),
        ("cold start beyond its budget", "gke-serving:services.slow"),
        ("monthly cost beyond its ceiling", f"{total:,.0f} > {total - 1:,.0f} USD at max nodes"),
    ]
