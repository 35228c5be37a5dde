"""What an environment costs per hour and per month: its GPU pools, each service's share, and the
platform around them (system pool, boot disks, local SSDs, cluster fee, load balancer, Cloud NAT, static
IP, Secret Manager), one line each, from sizing/prices.yaml and sizing/platform_prices.yaml.

A pool's cost is nodes x the whole-VM price of its region (N1: host + attached GPUs). A service's share
is the fraction of its pool's GPUs its replicas hold; shares are informative and are not added to the
total, which is what the nodes and the platform bill. Traffic-driven charges are excluded (EXCLUDED).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from catalog import region_of

HOURS_PER_MONTH = 730  # GCP's pricing calculator month (365 x 24 / 12)
LOCAL_SSD_GB = 375  # one local NVMe SSD (cloud.google.com/compute/docs/disks/local-ssd)
NAT_VM_CAP = 32  # Cloud NAT bills per VM up to 32 VMs, then a flat gateway-hour (the cyclenerd figure)

_PRICES = Path(__file__).parent / "prices.yaml"
_PLATFORM = Path(__file__).parent / "platform_prices.yaml"

EXCLUDED = (
    "internet egress",
    "load-balancer and NAT data processing (per GiB, incl. the Hugging Face download)",
    "Cloud Logging and Monitoring volume",
    "Artifact Registry",
    "Cloud Storage operations on the model mirror (per 10,000 reads and writes)",
    "Hyperdisk ML provisioned throughput (per MiB/s-month: no dated price at hand)",
)


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
    disk_type: str | None = None  # boot disk; None leaves the pool's disks out (the policy's GPU-only view)
    disk_size_gb: int = 0
    local_ssd_count: int = 0


@dataclass(frozen=True)
class ServiceCostInput:
    name: str
    pool: str
    gpus_per_replica: int
    min_replicas: int
    max_replicas: int


@dataclass(frozen=True)
class PlatformCostInput:
    """The parts of an environment that bill whatever the models do."""

    region: str
    zonal: bool  # a zonal cluster's fee may be covered by the free tier's credit (one per billing account)
    system_machine_type: str
    system_min_nodes: int
    system_max_nodes: int
    system_disk_type: str = "pd-balanced"  # infra/cluster.py
    system_disk_size_gb: int = 100
    cloud_nat: bool = True
    external_gateway: bool = True  # the reserved regional address is external (internal addresses are free)
    secret_versions: int = 1  # enabled versions: hfToken and each API key (a rotation disables the previous one)
    storage: tuple[StorageCostInput, ...] = ()  # what the weights keep: the mirror bucket, volumes, images


@dataclass(frozen=True)
class StorageCostInput:
    """Storage billed per GB-month whatever the traffic: the mirror's stored bytes, a load path's disks."""

    name: str
    detail: str
    price_key: str  # of sizing/platform_prices.yaml regions.<region>
    gb: float  # GB (or GiB where the price is per GiB) held, times the copies (a volume per zone)


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


@dataclass(frozen=True)
class _Region:
    machines: dict[str, _Price]
    gpus: dict[str, _Price]


@cache
def _catalog() -> dict[str, _Region]:
    with _PRICES.open() as f:
        data = yaml.safe_load(f)
    return {
        name: _Region(
            machines={k: _price(v) for k, v in (r.get("machines") or {}).items()},
            gpus={k: _price(v) for k, v in (r.get("attachedGpus") or {}).items()},
        )
        for name, r in data["regions"].items()
    }


@cache
def platform_prices() -> dict[str, Any]:
    with _PLATFORM.open() as f:
        data: dict[str, Any] = yaml.safe_load(f)
    return data


def priced_regions() -> list[str]:
    return list(_catalog())


def _missing(what: str, spot: bool, region: str) -> str:
    return f"{what}{' spot' if spot else ''} in {region} (sizing/prices.yaml regions.{region})"


def _quote(
    machine_type: str, region: str, *, spot: bool, gpu: str | None, gpu_count: int
) -> tuple[float | None, list[str | None], str | None]:
    """(USD per hour of one node, the dates of the figures used, the missing row if unpriced)."""
    region = region_of(region)
    prices = _catalog().get(region)
    if prices is None or machine_type not in prices.machines:
        return None, [], _missing(machine_type, spot, region)
    row = prices.machines[machine_type]
    price, dates = row.get(spot), [row.dated(spot)]
    if price is None:
        return None, dates, _missing(machine_type, spot, region)
    if machine_type.startswith("n1-") and gpu_count > 0:
        if gpu is None or gpu not in prices.gpus:
            return None, dates, _missing(f"{gpu or 'a GPU'} attached to {machine_type}", spot, region)
        g = prices.gpus[gpu]
        per_gpu = g.get(spot)
        dates.append(g.dated(spot))
        if per_gpu is None:
            return None, dates, _missing(f"{gpu} attached to {machine_type}", spot, region)
        price += gpu_count * per_gpu
    return price, dates, None


def hourly_price(
    machine_type: str, region: str, *, spot: bool, gpu: str | None = None, gpu_count: int = 0
) -> float | None:
    """USD per hour of one node of `machine_type` in `region` (a zone is accepted), None if unpriced.

    Accelerator-optimized types carry their GPUs in the price; N1 adds `gpu_count` x `gpu`.
    """
    return _quote(machine_type, region, spot=spot, gpu=gpu, gpu_count=gpu_count)[0]


def missing_price(
    machine_type: str, region: str, *, spot: bool, gpu: str | None = None, gpu_count: int = 0
) -> str | None:
    """The sizing/prices.yaml row a quote lacks, e.g. `g2-standard-8 spot in asia-southeast1 (...)`."""
    return _quote(machine_type, region, spot=spot, gpu=gpu, gpu_count=gpu_count)[2]


Span = dict[str, float | None]


def _span(low: float | None, high: float | None, digits: int) -> Span:
    return {
        "min": None if low is None else round(low, digits),
        "max": None if high is None else round(high, digits),
    }


def _costs(per_hour_min: float | None, per_hour_max: float | None) -> dict[str, Span]:
    monthly_min = None if per_hour_min is None else per_hour_min * HOURS_PER_MONTH
    monthly_max = None if per_hour_max is None else per_hour_max * HOURS_PER_MONTH
    return {"hourly": _span(per_hour_min, per_hour_max, 4), "monthly": _span(monthly_min, monthly_max, 2)}


@dataclass
class _Lines:
    """Cost lines with their running total, the rows that had no price and the dates of those that had."""

    lines: list[dict[str, Any]]
    missing: list[str]
    dates: set[str]
    undated: set[str]
    low: float = 0.0
    high: float = 0.0

    def add(
        self,
        name: str,
        detail: str,
        unit: float | None,
        low: float,
        high: float,
        *,
        per: str,
        source: str,
        date: str | None,
        missing: str | None = None,
    ) -> None:
        """A line costing `unit` USD per hour x low..high (nodes, GB, ...); a None unit is unpriced."""
        if unit is not None:
            self.low += unit * low
            self.high += unit * high
            if date:
                self.dates.add(date)
            else:
                self.undated.add(name)
        else:
            self.missing.append(missing or f"{name} ({source})")
        self.lines.append(
            {
                "name": name,
                "detail": detail,
                "unitPrice": None if unit is None else round(unit, 6),
                "per": per,
                "source": source,
                "date": date,
                **(_costs(None, None) if unit is None else _costs(unit * low, unit * high)),
            }
        )


def _disk(region: dict[str, Any], disk_type: str) -> float | None:
    key = {
        "pd-ssd": "pdSsdGbMonth",
        "pd-balanced": "pdBalancedGbMonth",
        "hyperdisk-balanced": "hyperdiskBalancedGbMonth",
    }
    per_gb_month = region.get(key.get(disk_type, ""))
    return None if per_gb_month is None else per_gb_month / HOURS_PER_MONTH


def _platform(out: _Lines, pools: list[PoolCostInput], p: PlatformCostInput) -> None:
    prices = platform_prices()
    region = region_of(p.region)
    regional: dict[str, Any] = prices["regions"].get(region, {})
    where = f"sizing/platform_prices.yaml regions.{region}"
    rdate = None if regional.get("date") is None else str(regional["date"])

    price, dates, missing = _quote(p.system_machine_type, region, spot=False, gpu=None, gpu_count=0)
    out.add(
        "system pool",
        f"{p.system_machine_type} x {p.system_min_nodes}–{p.system_max_nodes}",
        price,
        p.system_min_nodes,
        p.system_max_nodes,
        per="node-hour",
        source=f"sizing/prices.yaml regions.{region}",
        date=dates[0] if dates else None,
        missing=missing,
    )

    disks = [("system", p.system_disk_type, p.system_disk_size_gb, p.system_min_nodes, p.system_max_nodes)]
    disks += [(q.name, q.disk_type, q.disk_size_gb, q.min_nodes, q.max_nodes) for q in pools if q.disk_type]
    for pool, disk_type, size, low, high in disks:
        out.add(
            f"boot disk {pool}",
            f"{disk_type} {size} GB x {low}–{high}",
            _disk(regional, disk_type),
            size * low,
            size * high,
            per="GB-hour",
            source=where,
            date=rdate,
            missing=f"{disk_type} in {region} ({where})",
        )
    for q in pools:
        if q.local_ssd_count:
            per_gb_month = regional.get("localSsdSpotGbMonth" if q.spot else "localSsdGbMonth")
            gb = q.local_ssd_count * LOCAL_SSD_GB
            out.add(
                f"local SSD {q.name}",
                f"{q.local_ssd_count} x {LOCAL_SSD_GB} GB{' spot' if q.spot else ''} x {q.min_nodes}–{q.max_nodes}",
                None if per_gb_month is None else per_gb_month / HOURS_PER_MONTH,
                gb * q.min_nodes,
                gb * q.max_nodes,
                per="GB-hour",
                source=where,
                date=rdate,
            )

    for item in p.storage:
        per_gb_month = regional.get(item.price_key)
        out.add(
            item.name,
            item.detail,
            None if per_gb_month is None else per_gb_month / HOURS_PER_MONTH,
            item.gb,
            item.gb,
            per="GB-hour",
            source=where,
            date=rdate,
            missing=f"{item.name}: {item.price_key} in {region} ({where})",
        )

    fee = prices["cluster"]["managementFeeHourly"]
    out.add(
        "cluster fee",
        "zonal: 0 if the account's free-tier cluster" if p.zonal else "regional, no free tier",
        fee["price"],
        0 if p.zonal else 1,
        1,
        per="cluster-hour",
        source=fee["source"],
        date=fee["date"],
    )

    lb = prices["loadBalancer"]
    for key, name in (("forwardingRuleHourly", "load balancer rule"), ("proxyInstanceHourly", "load balancer proxies")):
        item = lb[key]
        out.add(
            name,
            "1 forwarding rule" if key == "forwardingRuleHourly" else "regional ALB proxy instances",
            item["price"],
            1,
            1,
            per="hour",
            source=item["source"],
            date=None if item["date"] is None else str(item["date"]),
        )

    if p.cloud_nat:
        gateway = regional.get("natGatewayHourly")
        nodes_low = p.system_min_nodes + sum(q.min_nodes for q in pools)
        nodes_high = p.system_max_nodes + sum(q.max_nodes for q in pools)
        out.add(
            "Cloud NAT",
            f"{nodes_low}–{nodes_high} VMs (cap {NAT_VM_CAP})",
            None if gateway is None else gateway / NAT_VM_CAP,
            min(nodes_low, NAT_VM_CAP),
            min(nodes_high, NAT_VM_CAP),
            per="VM-hour",
            source=where,
            date=rdate,
        )

    ip = regional.get("externalIpHourly")
    out.add(
        "static IP",
        "external, reserved, in use" if p.external_gateway else "internal (free)",
        ip if p.external_gateway else 0.0,
        1,
        1,
        per="hour",
        source=where if p.external_gateway else "internal addresses are not billed",
        date=rdate,
    )

    sm = prices["secretManager"]
    version = sm["activeVersionMonthly"]
    out.add(
        "Secret Manager",
        f"{p.secret_versions} version{'s' if p.secret_versions != 1 else ''}, free tier {sm['freeActiveVersions']}",
        version["price"] / HOURS_PER_MONTH,
        0 if p.secret_versions <= sm["freeActiveVersions"] else p.secret_versions,
        p.secret_versions,
        per="version-hour",
        source=version["source"],
        date=version["date"],
    )


def estimate_cost(
    pools: list[PoolCostInput], services: list[ServiceCostInput], platform: PlatformCostInput | None = None
) -> dict[str, Any]:
    """Hourly and monthly cost ranges (min..max nodes) of the pools, each service's share and, with
    `platform`, the platform lines; `total` adds the pools and the platform, `gpuPools` the pools alone."""
    node_price: dict[str, float | None] = {}
    pool_gpus: dict[str, int] = {}
    out_pools: dict[str, Any] = {}
    unpriced: set[str] = set()
    undated: set[str] = set()
    acc = _Lines([], [], set(), set())
    for p in pools:
        price, used, missing = _quote(p.machine_type, p.region, spot=p.spot, gpu=p.gpu, gpu_count=p.gpus_per_node)
        node_price[p.name] = price
        pool_gpus[p.name] = p.gpus_per_node
        if price is None:
            unpriced.add(p.machine_type)
        elif any(d is None for d in used):
            undated.add(p.machine_type)
        kind = f"{p.machine_type}{' spot' if p.spot else ''}"
        acc.add(
            f"pool {p.name}",
            f"{kind} x {p.min_nodes}–{p.max_nodes}",
            price,
            p.min_nodes,
            p.max_nodes,
            per="node-hour",
            source=f"sizing/prices.yaml regions.{region_of(p.region)}",
            date=min((d for d in used if d), default=None),
            missing=missing,
        )
        acc.dates.update(d for d in used if d)
        acc.undated.discard(f"pool {p.name}")
        line = acc.lines[-1]
        out_pools[p.name] = {
            "machineType": p.machine_type,
            "spot": p.spot,
            "hourly": line["hourly"],
            "monthly": line["monthly"],
        }
    gpu_low, gpu_high = acc.low, acc.high
    if platform is not None:
        _platform(acc, pools, platform)

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
        "priceDate": min(acc.dates) if acc.dates else None,  # the oldest dated figure used
        "hoursPerMonth": HOURS_PER_MONTH,
        "pools": out_pools,
        "services": out_services,
        "lines": acc.lines,
        "gpuPools": _costs(gpu_low, gpu_high),
        "total": _costs(acc.low, acc.high),
        "unpriced": sorted(unpriced),
        "missing": acc.missing,  # each unpriced row, named with the file and key to add it under
        "undated": sorted(undated | acc.undated),  # priced from undated figures
        "excluded": list(EXCLUDED) if platform is not None else [],
    }


def _money(span: Span, digits: int) -> str:
    low, high = span["min"], span["max"]
    if low is None or high is None:
        return "unpriced"
    if low == high:
        return f"{low:,.{digits}f}"
    return f"{low:,.{digits}f} – {high:,.{digits}f}"


COLUMN_NOTES = (
    "Columns: the line, what it counts (machine x min–max nodes, GB, VMs), USD per hour and per month as min – max;",
    "a service's share is its replicas' part of its pool's GPUs (informative, not added to the total);",
)


def format_cost(cost: dict[str, Any], ceiling: float | None = None) -> str:
    """A compact text table of estimate_cost's result for the terminal; with `ceiling` (USD/month), a total above
    it is marked with ! and the ceiling named."""
    rows: list[tuple[str, str, str, str]] = [("", "", "USD/hour", "USD/month")]
    lines = cost.get("lines", [])
    for line in lines:
        if line["name"].startswith("pool "):
            rows.append((line["name"], line["detail"], _money(line["hourly"], 2), _money(line["monthly"], 0)))
    for name, s in cost["services"].items():
        rows.append((f"service {name}", "share", _money(s["hourly"], 2), _money(s["monthly"], 0)))
    for line in lines:
        if not line["name"].startswith("pool "):
            rows.append((line["name"], line["detail"], _money(line["hourly"], 2), _money(line["monthly"], 0)))
    if cost.get("excluded"):
        rows.append(("GPU pools", "", _money(cost["gpuPools"]["hourly"], 2), _money(cost["gpuPools"]["monthly"], 0)))
    monthly_max = cost["total"]["monthly"]["max"]
    over = ceiling is not None and monthly_max is not None and monthly_max > ceiling
    rows.append(
        ("total", "", _money(cost["total"]["hourly"], 2), _money(cost["total"]["monthly"], 0) + ("!" if over else ""))
    )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    text = [
        f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}".rstrip() for r in rows
    ]
    dated = f"as of {cost['priceDate']}" if cost["priceDate"] else "from undated catalog rows"
    text.append(
        f"Prices: {cost['currency']}, {dated}, {cost['hoursPerMonth']} h/month; min = the nodes the services' "
        "minimum replicas keep running, max = maxNodes."
    )
    text += list(COLUMN_NOTES)
    if ceiling is not None:
        text.append(
            f"! the total at max nodes is above the monthly-cost-ceiling of {ceiling:,.0f} USD"
            if over
            else f"The monthly-cost-ceiling is {ceiling:,.0f} USD; the total at max nodes is within it."
        )
    if cost.get("missing"):
        text.append(f"No price for: {'; '.join(cost['missing'])} (not counted in the total).")
    if cost.get("undated"):
        text.append(f"Undated catalog prices: {', '.join(cost['undated'])}.")
    if cost.get("excluded"):
        text.append(f"Excluded: {', '.join(cost['excluded'])}.")
    return "\n".join(text)
