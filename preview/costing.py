"""The cost estimate of an environment's GPU pools and services, for the preview and plan.json."""

from __future__ import annotations

import math
from typing import Any

from config import Environment
from config.services import gpus_per_replica, replica_range
from sizing.cost import PoolCostInput, ServiceCostInput, estimate_cost


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
            )
        )
    return estimate_cost(pools, services)
