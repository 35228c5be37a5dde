"""The cost estimate of an environment — GPU pools, services' shares and the platform lines — for the
preview and plan.json (plan["cost"])."""

from __future__ import annotations

import math
from typing import Any

from catalog import is_zone
from config import Environment
from config.gateway_checks import EXTERNAL_CLASS
from config.services import gpus_per_replica, replica_range
from runtimes import runtime_of
from sizing.cost import PlatformCostInput, PoolCostInput, ServiceCostInput, estimate_cost


def environment_cost(env: Environment) -> dict[str, Any]:
    """Pools cost at least what their services' minimum replicas keep running, even with minNodes 0."""
    services = [
        ServiceCostInput(
            name=name,
            pool=s.pool,
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
    )
    return estimate_cost(pools, services, platform)
