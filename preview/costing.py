"""The cost estimate of an environment — GPU pools, services' shares and the platform lines — for the
preview and plan.json (plan["cost"])."""

from __future__ import annotations

import math

from catalog import is_zone
from config import Environment
from config.compute_classes import AUTO_CREATED_BOOT_DISK_GB
from config.gateway_checks import EXTERNAL_CLASS
from config.services import gpus_per_replica, replica_range
from loads import load_path
from runtimes import runtime_of
from sizing.cost import (
    CostEstimate,
    PlatformCostInput,
    PoolCostInput,
    ServiceCostInput,
    StorageCostInput,
    estimate_cost,
    hourly_price,
)
from workloads.model_mirror import copies, placements, weight_sources

BUCKET_PRICE = "gcsStandardGbMonth"


def weights_storage(env: Environment) -> tuple[StorageCostInput, ...]:
    """The mirror bucket's stored bytes (each model@commit once, only the files the servers read) and what each
    load path keeps beside a copy (Hyperdisk ML: a volume per zone, the disk image, the fill disk)."""
    sources = weight_sources(env)
    if not sources:
        return ()
    found = copies(env, sources)
    gib = sum(c.gib or 0.0 for c in found.values())
    unknown = sum(1 for c in found.values() if c.gib is None)
    lines = [
        StorageCostInput(
            "model mirror bucket",
            f"{gib:.1f} GiB in {len(found)} model@commit copies"
            + (f" ({unknown} of unknown size, not counted)" if unknown else ""),
            BUCKET_PRICE,
            round(gib, 1),
        )
    ]
    for load, placed in sorted(placements(env, sources, found).items()):
        for each in placed:
            lines += [
                StorageCostInput(d.what, f"{d.gib} GiB x {d.count}", d.kind, d.gib * d.count)
                for d in load_path(load).cost_lines(each)
            ]
    return tuple(lines)


def _class_lines(env: Environment, services: list[ServiceCostInput]) -> list[PoolCostInput]:
    """Each compute class its services use, priced on its most expensive priced option: the ceiling whichever
    option GKE finds capacity in (an unpriced option, such as flex-start, is left out of the choice)."""
    lines = []
    for name, chosen in env.compute_classes.items():
        using = [s for s in services if s.pool == f"class-{name}"]
        if not using:
            continue
        priced = [
            (price, o)
            for o in chosen.options
            if (price := hourly_price(o.machine_type, env.region, spot=o.spot, gpu=o.gpu.type, gpu_count=o.gpu.count))
            is not None
            and o.flex_start is None
        ]
        option = max(priced, key=lambda p: p[0])[1] if priced else chosen.options[0]
        per_node = option.gpu.count
        lines.append(
            PoolCostInput(
                name=f"class-{name}",
                machine_type=option.machine_type,
                gpu=option.gpu.type,
                gpus_per_node=per_node,
                region=env.region,
                spot=option.spot,
                min_nodes=math.ceil(sum(s.min_replicas * s.gpus_per_replica for s in using) / per_node),
                max_nodes=math.ceil(sum(s.max_replicas * s.gpus_per_replica for s in using) / per_node),
                disk_type="pd-balanced",  # as GKE creates an auto-created pool's boot disk (unconfirmed; not rendered)
                disk_size_gb=option.boot_disk_size_gb or AUTO_CREATED_BOOT_DISK_GB,
            )
        )
    return lines


def environment_cost(env: Environment) -> CostEstimate:
    """Pools cost at least what their services' minimum replicas keep running, even with minNodes 0."""
    services = [
        ServiceCostInput(
            name=name,
            pool=s.pool if s.pool is not None else f"class-{s.compute_class}",
            gpus_per_replica=gpus_per_replica(s),
            min_replicas=replica_range(s)[0],
            max_replicas=replica_range(s)[1],
        )
        for name, s in env.services.items()
    ]
    pools = []
    for name, p in env.node_pools.items():
        floor_gpus = sum(s.min_replicas * s.gpus_per_replica for s in services if s.pool == name)
        pools.append(
            PoolCostInput(
                name=name,
                machine_type=p.machine_type,
                gpu=p.gpu.type,
                gpus_per_node=p.gpu.count,
                region=env.region,
                spot=p.spot,
                min_nodes=max(p.min_nodes, math.ceil(floor_gpus / p.gpu.count)),
                max_nodes=p.max_nodes,
                disk_type=p.disk_type,
                disk_size_gb=p.disk_size_gb,
                local_ssd_count=p.local_ssd_count,
            )
        )
    pools += _class_lines(env, services)
    cluster = env.cluster
    platform = PlatformCostInput(
        region=env.region,
        zonal=is_zone(cluster.location),
        system_machine_type=cluster.system_pool.machine_type,
        system_min_nodes=cluster.system_pool.min_nodes,
        system_max_nodes=cluster.system_pool.max_nodes,
        cloud_nat=cluster.private_nodes and cluster.network.cloud_nat,
        external_gateway=env.gateway.class_name == EXTERNAL_CLASS,
        # The HF token, and one API key per service whose server takes one (workloads/api_key.py).
        secret_versions=1 + sum(1 for s in env.services.values() if s.auth and runtime_of(s).facts_for(s).api_key_env),
        storage=weights_storage(env),
    )
    return estimate_cost(pools, services, platform)
