"""What an environment costs per hour and per month: its GPU pools, each service's share, and the
platform around them (system pool, boot disks, local SSDs, cluster fee, load balancer, Cloud NAT, static
IP, Secret Manager), one line each, from sizing/prices.yaml and sizing/platform_prices.yaml; which price each
platform line bills, how many units and per what is the table sizing/platform_lines.yaml.

A pool's cost is nodes x the whole-VM price of its region (N1: host + attached GPUs). A service's share
is the fraction of its pool's GPUs its replicas hold; shares are informative and are not added to the
total, which is what the nodes and the platform bill. Traffic-driven charges are excluded (EXCLUDED).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template
from typing import Literal, TypedDict, cast

import yaml
from pydantic import BaseModel, ConfigDict, TypeAdapter

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
    pool: str  # its node pool, or its compute class (`compute_class`)
    gpus_per_replica: int
    min_replicas: int
    max_replicas: int
    compute_class: bool = False


@dataclass(frozen=True)
class OptionCostInput:
    """One capacity option of a compute class (config/compute_classes.py CapacityOption)."""

    label: str  # "g2-standard-12 spot"
    machine_type: str
    gpu: str
    gpus_per_node: int
    spot: bool
    flex_start: bool


@dataclass(frozen=True)
class ClassCostInput:
    """A compute class and the GPUs its services hold at their minimum and maximum replicas."""

    name: str
    region: str
    options: tuple[OptionCostInput, ...]
    min_gpus: int
    max_gpus: int


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


def _number(value: object) -> float | None:
    """A price or count as the YAML gives it (int or float), None when absent or null."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{value!r} is not a number")
    return value


def _map(value: object) -> Mapping[str, object]:
    """A YAML mapping (an absent one is empty)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{value!r} is not a mapping")
    return cast("Mapping[str, object]", value)


def _price(v: object) -> _Price:
    row = _map(v)
    date = row.get("date")
    spot_date = row.get("spotDate", date)
    return _Price(
        on_demand=_number(row.get("onDemand")),
        spot=_number(row.get("spot")),
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
        data = _map(yaml.safe_load(f))
    return {
        name: _Region(
            machines={k: _price(v) for k, v in _map(_map(r).get("machines")).items()},
            gpus={k: _price(v) for k, v in _map(_map(r).get("attachedGpus")).items()},
        )
        for name, r in _map(data["regions"]).items()
    }


@cache
def platform_prices() -> Mapping[str, object]:
    with _PLATFORM.open() as f:
        return _map(yaml.safe_load(f))


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


class Span(TypedDict):
    min: float | None
    max: float | None


class Costs(TypedDict):
    hourly: Span
    monthly: Span


class Sum(TypedDict):
    min: float
    max: float


class Totals(TypedDict):
    """A sum of priced lines: always a number (an unpriced line adds nothing and is listed in `missing`)."""

    hourly: Sum
    monthly: Sum


class CostLine(TypedDict):
    name: str
    detail: str
    unitPrice: float | None
    per: str
    source: str
    date: str | None
    hourly: Span
    monthly: Span


class PoolCost(TypedDict):
    machineType: str
    spot: bool
    hourly: Span
    monthly: Span


class OptionCost(TypedDict):
    option: str  # "g2-standard-12 spot"
    unitPrice: float | None  # USD per node-hour; None: unpriced (flex-start has no catalog row)
    hourly: Span  # every replica of the class on this option, min..max
    monthly: Span


class ClassCost(TypedDict):
    """A compute class: each option's cost if the services ran on it alone, and the range the class can cost
    (the cheapest option at the minimum replicas to the most expensive at the maximum)."""

    options: list[OptionCost]
    hourly: Span
    monthly: Span


class CostEstimate(TypedDict):
    """estimate_cost's result, as plan.json holds it under `cost`."""

    currency: str
    priceDate: str | None
    hoursPerMonth: int
    pools: dict[str, PoolCost]
    classes: dict[str, ClassCost]
    services: dict[str, Costs]
    lines: list[CostLine]
    gpuPools: Totals
    total: Totals
    unpriced: list[str]
    missing: list[str]
    undated: list[str]
    excluded: list[str]


def _span(low: float | None, high: float | None, digits: int) -> Span:
    return {
        "min": None if low is None else round(low, digits),
        "max": None if high is None else round(high, digits),
    }


def _totals(per_hour_min: float, per_hour_max: float) -> Totals:
    hourly: Sum = {"min": round(per_hour_min, 4), "max": round(per_hour_max, 4)}
    monthly: Sum = {"min": round(per_hour_min * HOURS_PER_MONTH, 2), "max": round(per_hour_max * HOURS_PER_MONTH, 2)}
    return {"hourly": hourly, "monthly": monthly}


def _costs(per_hour_min: float | None, per_hour_max: float | None) -> Costs:
    monthly_min = None if per_hour_min is None else per_hour_min * HOURS_PER_MONTH
    monthly_max = None if per_hour_max is None else per_hour_max * HOURS_PER_MONTH
    return {"hourly": _span(per_hour_min, per_hour_max, 4), "monthly": _span(monthly_min, monthly_max, 2)}


@dataclass
class _Lines:
    """Cost lines with their running total, the rows that had no price and the dates of those that had."""

    lines: list[CostLine]
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
        costs = _costs(None, None) if unit is None else _costs(unit * low, unit * high)
        self.lines.append(
            {
                "name": name,
                "detail": detail,
                "unitPrice": None if unit is None else round(unit, 6),
                "per": per,
                "source": source,
                "date": date,
                "hourly": costs["hourly"],
                "monthly": costs["monthly"],
            }
        )


_PLATFORM_LINES = Path(__file__).parent / "platform_lines.yaml"
_DISK_KEYS = {
    "pd-ssd": "pdSsdGbMonth",
    "pd-balanced": "pdBalancedGbMonth",
    "hyperdisk-balanced": "hyperdiskBalancedGbMonth",
}


class PriceRef(BaseModel):
    """Where a platform line's unit price comes from (sizing/platform_lines.yaml `price`, a mapping)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    region: str | None = None  # platform_prices.yaml regions.<region>.<key>, per month
    region_hourly: str | None = None  # the same, per hour
    per_vm: bool = False  # divided by NAT_VM_CAP (a gateway's price)
    monthly: str | None = None  # <section.key> with its own price, date and source
    hourly: str | None = None


class PlatformLine(BaseModel):
    """One row of sizing/platform_lines.yaml (its header explains each field)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    detail: str
    price: Literal["machine", "free"] | PriceRef
    low: str
    high: str
    per: str
    each: Literal["disks", "local_ssds", "storage"] | None = None
    when: str | None = None
    source: str | None = None
    missing: str | None = None


@cache
def platform_lines() -> tuple[PlatformLine, ...]:
    """sizing/platform_lines.yaml: which price each platform cost line bills, how many units, per what."""
    with _PLATFORM_LINES.open() as f:
        return tuple(TypeAdapter(list[PlatformLine]).validate_python(yaml.safe_load(f)))


Values = dict[str, object]  # what a platform line's templates and quantities name


def _platform_values(pools: list[PoolCostInput], p: PlatformCostInput, region: str) -> Values:
    nodes_min = p.system_min_nodes + sum(q.min_nodes for q in pools)
    nodes_max = p.system_max_nodes + sum(q.max_nodes for q in pools)
    free = _number(_map(platform_prices()["secretManager"])["freeActiveVersions"]) or 0
    return {
        "region": region,
        "where": f"sizing/platform_prices.yaml regions.{region}",
        "system_machine_type": p.system_machine_type,
        "system_min": p.system_min_nodes,
        "system_max": p.system_max_nodes,
        "zero": 0,
        "one": 1,
        "zonal": p.zonal,
        "regional": not p.zonal,
        "cloud_nat": p.cloud_nat,
        "external_gateway": p.external_gateway,
        "internal_gateway": not p.external_gateway,
        "nodes_min": nodes_min,
        "nodes_max": nodes_max,
        "nat_vm_cap": NAT_VM_CAP,
        "nat_vms_min": min(nodes_min, NAT_VM_CAP),
        "nat_vms_max": min(nodes_max, NAT_VM_CAP),
        "secret_versions": p.secret_versions,
        "versions_plural": "s" if p.secret_versions != 1 else "",
        "free_versions": free,
        "billed_versions": 0 if p.secret_versions <= free else p.secret_versions,
    }


def _items(each: str | None, pools: list[PoolCostInput], p: PlatformCostInput) -> list[Values]:
    """The items a row repeats over (`each`), as values beside the platform's; one empty item without it."""
    if each is None:
        return [{}]
    if each == "disks":
        disks = [("system", p.system_disk_type, p.system_disk_size_gb, p.system_min_nodes, p.system_max_nodes)]
        disks += [(q.name, q.disk_type, q.disk_size_gb, q.min_nodes, q.max_nodes) for q in pools if q.disk_type]
        return [
            {"pool": pool, "disk_type": kind, "disk_key": _DISK_KEYS.get(kind, ""), "size": size}
            | {"nodes_min": low, "nodes_max": high, "gb_min": size * low, "gb_max": size * high}
            for pool, kind, size, low, high in disks
        ]
    if each == "local_ssds":
        return [
            {"pool": q.name, "count": q.local_ssd_count, "ssd_gb": LOCAL_SSD_GB, "spot": " spot" if q.spot else ""}
            | {"ssd_key": "localSsdSpotGbMonth" if q.spot else "localSsdGbMonth"}
            | {"nodes_min": q.min_nodes, "nodes_max": q.max_nodes}
            | {"gb_min": q.local_ssd_count * LOCAL_SSD_GB * q.min_nodes}
            | {"gb_max": q.local_ssd_count * LOCAL_SSD_GB * q.max_nodes}
            for q in pools
            if q.local_ssd_count
        ]
    if each == "storage":
        return [{"storage": i.name, "detail": i.detail, "price_key": i.price_key, "gb": i.gb} for i in p.storage]
    raise ValueError(f"sizing/platform_lines.yaml: unknown `each: {each}`")


def _fill(text: str, values: Values) -> str:
    return Template(text).substitute(values)


def _platform(out: _Lines, pools: list[PoolCostInput], p: PlatformCostInput) -> None:
    """The rows of sizing/platform_lines.yaml, priced for the platform's region."""
    prices = platform_prices()
    region = region_of(p.region)
    regional = _map(_map(prices["regions"]).get(region))
    rdate = None if regional.get("date") is None else str(regional["date"])
    base = _platform_values(pools, p, region)
    for row in platform_lines():
        if row.when is not None and not base[row.when]:
            continue
        for item in _items(row.each, pools, p):
            values = base | item
            unit: float | None
            missing = _fill(row.missing, values) if row.missing else None
            source, date = str(values["where"]), rdate
            price = row.price
            if price == "machine":
                unit, dates, missing = _quote(p.system_machine_type, region, spot=False, gpu=None, gpu_count=0)
                date = dates[0] if dates else None
            elif price == "free":
                unit = 0.0
            elif price.region is not None or price.region_hourly is not None:
                figure = _number(regional.get(_fill(price.region or price.region_hourly or "", values)))
                hours = HOURS_PER_MONTH if price.region is not None else 1
                unit = None if figure is None else figure / hours / (NAT_VM_CAP if price.per_vm else 1)
            else:
                section, key = (price.hourly or price.monthly or "").split(".")
                entry = _map(_map(prices[section])[key])
                figure = _number(entry["price"])
                hours = HOURS_PER_MONTH if price.monthly is not None else 1
                unit = None if figure is None else figure / hours
                source, date = str(entry["source"]), None if entry["date"] is None else str(entry["date"])
            out.add(
                _fill(row.name, values),
                _fill(row.detail, values),
                unit,
                _number(values[row.low]) or 0,
                _number(values[row.high]) or 0,
                per=row.per,
                source=_fill(row.source, values) if row.source else source,
                date=date,
                missing=missing,
            )


def _nodes(gpus: int, per_node: int) -> int:
    return -(-gpus // per_node)


@cache
def flex_start_discounted() -> frozenset[str]:
    """Machine series whose flex-start VMs bill at discounted SKUs (sizing/prices.yaml `flexStart`)."""
    with _PRICES.open() as f:
        data = _map(yaml.safe_load(f))
    series = _map(data.get("flexStart")).get("discountedSeries")
    return frozenset(str(s) for s in series) if isinstance(series, list) else frozenset()


def _option_quote(c: ClassCostInput, o: OptionCostInput) -> tuple[float | None, list[str | None], str | None]:
    if o.flex_start and o.machine_type.split("-", 1)[0] in flex_start_discounted():
        # Its discounted flex-start SKU is not in the catalog: listed as unpriced by name, never zero.
        return None, [], f"flex-start {o.machine_type} in {region_of(c.region)} (sizing/prices.yaml flexStart)"
    # Spot, on-demand, a reservation (billed at on-demand unless committed), and flex-start without a discount.
    return _quote(o.machine_type, c.region, spot=o.spot, gpu=o.gpu, gpu_count=o.gpus_per_node)


def _class(acc: _Lines, c: ClassCostInput) -> tuple[ClassCost, list[tuple[float, int]]]:
    """The class's cost (each option, and the range from the cheapest to the most expensive), added to `acc`; with
    (USD per node-hour, GPUs per node) of each priced option, for its services' shares."""
    options: list[OptionCost] = []
    priced: list[tuple[float, int]] = []
    for o in c.options:
        price, used, missing = _option_quote(c, o)
        fewest, most = _nodes(c.min_gpus, o.gpus_per_node), _nodes(c.max_gpus, o.gpus_per_node)
        if price is None:
            acc.missing.append(missing or o.label)
        else:
            priced.append((price, o.gpus_per_node))
            acc.dates.update(d for d in used if d)
        costs = _costs(None, None) if price is None else _costs(price * fewest, price * most)
        unit = None if price is None else round(price, 6)
        options.append({"option": o.label, "unitPrice": unit, "hourly": costs["hourly"], "monthly": costs["monthly"]})
    low = min((p * _nodes(c.min_gpus, g) for p, g in priced), default=None)
    high = max((p * _nodes(c.max_gpus, g) for p, g in priced), default=None)
    acc.low += low or 0.0
    acc.high += high or 0.0
    span = _costs(low, high)
    return {"options": options, "hourly": span["hourly"], "monthly": span["monthly"]}, priced


def estimate_cost(
    pools: list[PoolCostInput],
    services: list[ServiceCostInput],
    platform: PlatformCostInput | None = None,
    classes: Sequence[ClassCostInput] = (),
) -> CostEstimate:
    """Hourly and monthly cost ranges (min..max nodes) of the pools and compute classes, each service's share and,
    with `platform`, the platform lines; `total` adds the pools, the classes and the platform, `gpuPools` the pools
    and classes alone."""
    node_price: dict[str, float | None] = {}
    pool_gpus: dict[str, int] = {}
    out_pools: dict[str, PoolCost] = {}
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
    out_classes: dict[str, ClassCost] = {}
    class_prices: dict[str, list[tuple[float, int]]] = {}
    for c in classes:
        out_classes[c.name], class_prices[c.name] = _class(acc, c)
    gpu_low, gpu_high = acc.low, acc.high
    if platform is not None:
        _platform(acc, pools, platform)

    out_services: dict[str, Costs] = {}
    for s in services:
        if s.compute_class:
            out_services[s.name] = _class_share(s, class_prices.get(s.pool, []))
            continue
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
        "classes": out_classes,
        "services": out_services,
        "lines": acc.lines,
        "gpuPools": _totals(gpu_low, gpu_high),
        "total": _totals(acc.low, acc.high),
        "unpriced": sorted(unpriced),
        "missing": acc.missing,  # each unpriced row, named with the file and key to add it under
        "undated": sorted(undated | acc.undated),  # priced from undated figures
        "excluded": list(EXCLUDED) if platform is not None else [],
    }


def _class_share(s: ServiceCostInput, priced: list[tuple[float, int]]) -> Costs:
    """A class service's share: its replicas on the cheapest option to its replicas on the most expensive."""
    if s.gpus_per_replica == 0:
        return _costs(0.0, 0.0)
    shares = [price * s.gpus_per_replica / gpus for price, gpus in priced]
    if not shares:
        return _costs(None, None)
    return _costs(min(shares) * s.min_replicas, max(shares) * s.max_replicas)


def _money(span: Span | Sum, digits: int) -> str:
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
CLASS_NOTE = (
    "a class's option: every replica of its services on that option alone (informative); the class's own line, "
    "from its cheapest option at the minimum replicas to its most expensive at the maximum, is added;"
)


def _class_rows(cost: CostEstimate) -> list[tuple[str, str, str, str]]:
    rows = []
    for name, c in cost.get("classes", {}).items():
        rows.append(
            (f"class {name}", "cheapest – most expensive option", _money(c["hourly"], 2), _money(c["monthly"], 0))
        )
        rows += [
            (f"  option {i}", o["option"], _money(o["hourly"], 2), _money(o["monthly"], 0))
            for i, o in enumerate(c["options"])
        ]
    return rows


def format_cost(cost: CostEstimate, ceiling: float | None = None) -> str:
    """A compact text table of estimate_cost's result for the terminal; with `ceiling` (USD/month), a total above
    it is marked with ! and the ceiling named."""
    rows: list[tuple[str, str, str, str]] = [("", "", "USD/hour", "USD/month")]
    lines = cost.get("lines", [])
    for line in lines:
        if line["name"].startswith("pool "):
            rows.append((line["name"], line["detail"], _money(line["hourly"], 2), _money(line["monthly"], 0)))
    rows += _class_rows(cost)
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
    if cost.get("classes"):
        text.append(CLASS_NOTE)
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
