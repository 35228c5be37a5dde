"""What the GPU node pools cost per hour and per month, and each service's share (sizing/prices.yaml).

A pool's cost is nodes x the whole-VM price (N1: host + attached GPUs). A service's share is the
fraction of its pool's GPUs its replicas hold; shares are informative and are not added to the total,
which is what the nodes bill.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from catalog import region_of

HOURS_PER_MONTH = 730  # GCP's pricing calculator month (365 x 24 / 12)

_PRICES = Path(__file__).parent / "prices.yaml"


@dataclass(frozen=True)
class PoolCostInput:
    name: str
    machine_type: str
    gpu: str
    gpus_per_node: int
    region: str
    spot: bool
    min_nodes: int
    max_nodes: int


@dataclass(frozen=True)
class ServiceCostInput:
    name: str
    pool: str
    gpus_per_replica: int
    min_replicas: int
    max_replicas: int


@dataclass(frozen=True)
class _Price:
    on_demand: float | None
    spot: float | None
    date: str | None
    spot_date: str | None

    def get(self, spot: bool) -> float | None:
        return self.spot if spot else self.on_demand

    def dated(self, spot: bool) -> str | None:
        return self.spot_date if spot else self.date


def _price(v: dict[str, Any]) -> _Price:
    date = v.get("date")
    spot_date = v.get("spotDate", date)
    return _Price(
        on_demand=v.get("onDemand"),
        spot=v.get("spot"),
        date=None if date is None else str(date),
        spot_date=None if spot_date is None else str(spot_date),
    )


@cache
def _catalog() -> tuple[str, dict[str, _Price], dict[str, _Price], dict[str, _Price]]:
    with _PRICES.open() as f:
        data = yaml.safe_load(f)
    return (
        data["region"],
        {k: _price(v) for k, v in data["machines"].items()},
        {k: _price(v) for k, v in data["n1Hosts"].items()},
        {k: _price(v) for k, v in data["attachedGpus"].items()},
    )


def _quote(
    machine_type: str, region: str, *, spot: bool, gpu: str | None, gpu_count: int
) -> tuple[float | None, list[str | None]]:
    """(USD per hour of one node, the dates of the figures used); None when a figure is missing."""
    priced_region, machines, hosts, gpus = _catalog()
    if region_of(region) != priced_region:
        return None, []
    if machine_type in machines:
        p = machines[machine_type]
        return p.get(spot), [p.dated(spot)]
    if machine_type not in hosts:
        return None, []
    host = hosts[machine_type]
    price, dates = host.get(spot), [host.dated(spot)]
    if gpu_count > 0:
        if gpu is None or gpu not in gpus:
            return None, dates
        g = gpus[gpu]
        per_gpu = g.get(spot)
        price = None if price is None or per_gpu is None else price + gpu_count * per_gpu
        dates.append(g.dated(spot))
    return price, dates


def hourly_price(
    machine_type: str, region: str, *, spot: bool, gpu: str | None = None, gpu_count: int = 0
) -> float | None:
    """USD per hour of one node of `machine_type` in `region` (a zone is accepted), None if unpriced.

    Accelerator-optimized types carry their GPUs in the price; N1 adds `gpu_count` x `gpu`.
    """
    return _quote(machine_type, region, spot=spot, gpu=gpu, gpu_count=gpu_count)[0]


def _span(low: float | None, high: float | None, digits: int) -> dict[str, float | None]:
    return {
        "min": None if low is None else round(low, digits),
        "max": None if high is None else round(high, digits),
    }


def _costs(per_hour_min: float | None, per_hour_max: float | None) -> dict[str, dict[str, float | None]]:
    monthly_min = None if per_hour_min is None else per_hour_min * HOURS_PER_MONTH
    monthly_max = None if per_hour_max is None else per_hour_max * HOURS_PER_MONTH
    return {"hourly": _span(per_hour_min, per_hour_max, 4), "monthly": _span(monthly_min, monthly_max, 2)}


def estimate_cost(pools: list[PoolCostInput], services: list[ServiceCostInput]) -> dict[str, Any]:
    """Hourly and monthly cost ranges (min..max nodes) of the pools, with each service's share."""
    node_price: dict[str, float | None] = {}
    pool_gpus: dict[str, int] = {}
    out_pools: dict[str, Any] = {}
    unpriced: set[str] = set()
    dates: set[str] = set()
    undated: set[str] = set()
    total_min = total_max = 0.0
    for p in pools:
        price, used = _quote(p.machine_type, p.region, spot=p.spot, gpu=p.gpu, gpu_count=p.gpus_per_node)
        node_price[p.name] = price
        pool_gpus[p.name] = p.gpus_per_node
        if price is None:
            unpriced.add(p.machine_type)
            out_pools[p.name] = {"machineType": p.machine_type, "spot": p.spot, **_costs(None, None)}
            continue
        dates.update(d for d in used if d)
        if any(d is None for d in used):
            undated.add(p.machine_type)
        low, high = price * p.min_nodes, price * p.max_nodes
        total_min += low
        total_max += high
        out_pools[p.name] = {"machineType": p.machine_type, "spot": p.spot, **_costs(low, high)}

    out_services: dict[str, Any] = {}
    for s in services:
        price = node_price.get(s.pool)
        gpus = pool_gpus.get(s.pool, 0)
        if s.gpus_per_replica == 0:
            out_services[s.name] = _costs(0.0, 0.0)
        elif price is None or gpus == 0:
            out_services[s.name] = _costs(None, None)
        else:
            per_replica = price * s.gpus_per_replica / gpus
            out_services[s.name] = _costs(per_replica * s.min_replicas, per_replica * s.max_replicas)

    return {
        "currency": "USD",
        "priceDate": min(dates) if dates else None,  # the oldest dated figure used
        "hoursPerMonth": HOURS_PER_MONTH,
        "pools": out_pools,
        "services": out_services,
        "total": _costs(total_min, total_max),
        "unpriced": sorted(unpriced),
        "undated": sorted(undated),  # machine types priced from undated catalog figures
    }


def _money(span: dict[str, float | None], digits: int) -> str:
    low, high = span["min"], span["max"]
    if low is None or high is None:
        return "unpriced"
    if low == high:
        return f"{low:,.{digits}f}"
    return f"{low:,.{digits}f} – {high:,.{digits}f}"


def format_cost(cost: dict[str, Any]) -> str:
    """A compact text table of estimate_cost's result for the terminal."""
    rows: list[tuple[str, str, str, str]] = [("", "", "USD/hour", "USD/month")]
    for name, p in cost["pools"].items():
        kind = f"{p['machineType']}{' spot' if p['spot'] else ''}"
        rows.append((f"pool {name}", kind, _money(p["hourly"], 2), _money(p["monthly"], 0)))
    for name, s in cost["services"].items():
        rows.append((f"service {name}", "share", _money(s["hourly"], 2), _money(s["monthly"], 0)))
    rows.append(("total", "", _money(cost["total"]["hourly"], 2), _money(cost["total"]["monthly"], 0)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}".rstrip() for r in rows
    ]
    dated = f"as of {cost['priceDate']}" if cost["priceDate"] else "from undated catalog rows"
    lines.append(
        f"Prices: {cost['currency']}, {dated}, {cost['hoursPerMonth']} h/month; min = the nodes the services' "
        "minimum replicas keep running, max = maxNodes."
    )
    if cost["unpriced"]:
        lines.append(f"No price for: {', '.join(cost['unpriced'])} (not counted in the total).")
    if cost.get("undated"):
        lines.append(f"Undated catalog prices: {', '.join(cost['undated'])}.")
    return "\n".join(lines)
