"""The cost estimate of an environment — GPU pools, services' shares and the platform lines — for the
preview and plan.json (plan["cost"])."""

from __future__ import annotations

import math

from catalog import is_zone
from config import Environment
from config.gateway_checks import EXTERNAL_CLASS
from config.services import gpus_per_replica, replica_range
from loads import load_path
from runtimes import runtime_of
from sizing.cost import (
    ClassCostInput,
    CostEstimate,
    OptionCostInput,
    PlatformCostInput,
    PoolCostInput,
    ServiceCostInput,
    StorageCostInput,
    estimate_cost,
)
from workloads.model_mirror import adapter_mirror_copies, copies, placements, weight_sources

BUCKET_PRICE = "gcsStandardGbMonth"


def weights_storage(env: Environment) -> tuple[StorageCostInput, ...]:
    """The mirror bucket's stored bytes (each model@commit and LoRA adapter@commit once, only the files the servers
    read) and what each load path keeps beside a copy (Hyperdisk ML: a volume per zone, the disk image, the fill
    disk)."""
    sources, adapters = weight_sources(env), adapter_mirror_copies(env)
    if not sources and not adapters:
        return ()
    found = copies(env, sources)
    stored = [*found.values(), *adapters.values()]
    gib = sum(c.gib or 0.0 for c in stored)
    unknown = sum(1 for c in stored if c.gib is None)
    lines = [
        StorageCostInput(
            "model mirror bucket",
            f"{gib:.1f} GiB in {len(found)} model@commit copies"
            + (f" and {len(adapters)} LoRA adapter@commit copies" if adapters else "")
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


def class_costs(env: Environment) -> list[ClassCostInput]:
    """Each compute class its services use, with the GPUs their minimum and maximum replicas hold."""
    classes = []
    for name, chosen in env.compute_classes.items():
        using = [s for s in env.services.values() if s.compute_class == name]
        if not using:
            continue
        options = tuple(
            OptionCostInput(o.label, o.machine_type, o.gpu.type, o.gpu.count, o.spot, o.flex_start is not None)
            for o in chosen.options
        )
        low = sum(replica_range(s)[0] * gpus_per_replica(s) for s in using)
        high = sum(replica_range(s)[1] * gpus_per_replica(s) for s in using)
        classes.append(ClassCostInput(name, env.region, options, low, high))
    return classes


def environment_cost(env: Environment) -> CostEstimate:
    """Pools cost at least what their services' minimum replicas keep running, even with minNodes 0."""
    services = [
        ServiceCostInput(
            name=name,
            pool=s.pool if s.pool is not None else str(s.compute_class),
            gpus_per_replica=gpus_per_replica(s),
            min_replicas=replica_range(s)[0],
            max_replicas=replica_range(s)[1],
            compute_class=s.compute_class is not None,
        )
        for name, s in env.services.items()
    ]
    pools = []
    for name, p in env.node_pools.items():
        floor_gpus = sum(
            s.min_replicas * s.gpus_per_replica for s in services if s.pool == name and not s.compute_class
        )
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
    return estimate_cost(pools, services, platform, class_costs(env))
