"""The environment's cost as a policy sees it: every node pool with its disks and the platform lines, read from
the stack's resources and priced by the same function as the preview's cost table (sizing/cost.py).

The one part the resources do not carry is what the weights keep (the mirror bucket's bytes come from the
model locks, the Hyperdisk ML volumes and images from the mirror's placement): a few USD a month, listed in
the table and left out here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import PolicyResource

import catalog
from policies.rules.class_capacity import class_costs
from policies.rules.pods import mapping
from policies.rules.pools import GpuPool, all_pools
from sizing.cost import CostEstimate, PlatformCostInput, PoolCostInput, estimate_cost

CLUSTER = "gcp:container/cluster:Cluster"
ROUTER_NAT = "gcp:compute/routerNat:RouterNat"
ADDRESS = "gcp:compute/address:Address"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"  # noqa: S105 (a type token)
DEFAULT_DISK_TYPE = "pd-balanced"  # GKE's boot disk type when nodeConfig.diskType is not set


def _disk_type(pool: GpuPool) -> str:
    disk = mapping(pool.props.get("nodeConfig")).get("diskType")
    return disk if isinstance(disk, str) and disk else DEFAULT_DISK_TYPE


def _pool_input(pool: GpuPool, region: str) -> PoolCostInput:
    return PoolCostInput(
        name=pool.name,
        machine_type=pool.machine_type,
        gpu=pool.accelerator,
        gpus_per_node=pool.gpus_per_node,
        region=region,
        spot=pool.spot,
        min_nodes=pool.min_nodes,
        max_nodes=pool.max_nodes,
        disk_type=_disk_type(pool),
        disk_size_gb=pool.disk_size_gb,
        local_ssd_count=pool.local_ssds,
    )


def _of_type(resources: Iterable[PolicyResource], type_: str) -> list[Mapping[str, Any]]:
    return [r.props for r in resources if r.resource_type == type_]


def stack_cost(resources: list[PolicyResource]) -> CostEstimate:
    """estimate_cost of the stack's GPU pools and, with a cluster and its system (CPU) pool to read, the platform
    lines; a stack of pools alone (a partial stack in a test) is its GPU pools."""
    clusters = _of_type(resources, CLUSTER)
    pools = all_pools(resources)
    system = [p for p in pools if not p.accelerator]
    location = clusters[0].get("location") if clusters else None
    gpu = [p for p in pools if p.accelerator]
    if not isinstance(location, str) or not system:
        return estimate_cost([_pool_input(p, catalog.region_of(p.location)) for p in gpu], [], None)
    region = catalog.region_of(location)
    # A class's nodes from its cheapest option at the minimum replicas to its most expensive at the maximum.
    classes = class_costs(resources, region)
    platform = PlatformCostInput(
        region=region,
        zonal=catalog.is_zone(location),
        system_machine_type=system[0].machine_type,
        system_min_nodes=system[0].min_nodes,
        system_max_nodes=system[0].max_nodes,
        system_disk_type=_disk_type(system[0]),
        system_disk_size_gb=system[0].disk_size_gb,
        cloud_nat=bool(_of_type(resources, ROUTER_NAT)),
        external_gateway=any(a.get("addressType") == "EXTERNAL" for a in _of_type(resources, ADDRESS)),
        secret_versions=len(_of_type(resources, SECRET_VERSION)),
    )
    return estimate_cost([_pool_input(p, region) for p in gpu], [], platform, classes)
