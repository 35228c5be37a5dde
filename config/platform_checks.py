"""Cross-checks of the platform config against the GPU, machine and region catalogs."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Network
from itertools import combinations

import catalog
from config.platform import ClusterConfig, NodePoolConfig
from settings.base import closest
from settings.names import covers_everything
from settings.problems import Problem

P = "gke-serving"


def check_platform(region: str, cluster: ClusterConfig, pools: dict[str, NodePoolConfig]) -> list[Problem]:
    regions = catalog.regions()
    if region not in regions:
        hint = closest(region, list(regions))
        fix = f"did you mean '{hint}'?" if hint else f"use one of {', '.join(regions)}"
        return [Problem("gcp:region", f"unknown region {region!r}", fix)]
    return [
        *_cluster_location(region, cluster),
        *_network(cluster),
        *_system_pool(cluster),
        *(p for name, pool in pools.items() for p in _gpu_pool(f"{P}:nodePools.{name}", region, pool)),
        *(p for name, pool in pools.items() for p in _pool_zones(f"{P}:nodePools.{name}", region, cluster, pool)),
        *(p for name, pool in pools.items() for p in _provisioning(f"{P}:nodePools.{name}", pool)),
    ]


def shape_problems(path: str, region: str, cluster: ClusterConfig, pool: NodePoolConfig) -> list[Problem]:
    """A node shape's machine and GPU against the catalog, and its zones against where the GPU is offered:
    a node pool's checks, for a shape that is not a node pool (a compute class's option)."""
    if region not in catalog.regions():
        return []  # reported by check_platform
    return [*_gpu_pool(path, region, pool), *_pool_zones(path, region, cluster, pool)]


def cluster_zones(region: str, location: str) -> tuple[str, ...]:
    """Zones of a zonal cluster's location, or every zone of the region."""
    return catalog.regions()[region] if location == region else (location,)


def pool_zones(region: str, location: str, pool: NodePoolConfig) -> tuple[str, ...]:
    """Where a pool's nodes go: its own `zones`, else the cluster's zones that offer its GPU."""
    if pool.zones is not None:
        return tuple(pool.zones)
    offered = catalog.zones_offering(pool.gpu.type, region)
    return tuple(z for z in cluster_zones(region, location) if z in offered)


def _pool_zones(path: str, region: str, cluster: ClusterConfig, pool: NodePoolConfig) -> Iterator[Problem]:
    gpu = catalog.gpus().get(pool.gpu.type)
    zones = catalog.regions()[region]
    if gpu is None or (pool.zones is not None and any(z not in zones for z in pool.zones)):
        return  # reported by _gpu_pool
    if cluster.location != region and cluster.location not in zones:
        return  # reported by _cluster_location
    offered = catalog.zones_offering(pool.gpu.type, region)
    if not offered:
        regions = [r for r, zones in catalog.gpu_zones().get(pool.gpu.type, {}).items() if zones]
        yield Problem(
            f"{path}.gpu.type",
            f"{region} offers no {gpu.name} ({pool.gpu.type}) in any zone",
            f"use a region that does ({', '.join(regions) or 'none known'}) or another GPU",
        )
        return
    if pool.zones is None:
        if not pool_zones(region, cluster.location, pool):
            yield Problem(
                f"{path}.zones",
                f"the cluster's zone {cluster.location} does not offer {gpu.name} ({pool.gpu.type})",
                f"list zones that do: zones: [{', '.join(offered)}]",
            )
        return
    for zone in pool.zones:
        if zone not in offered:
            yield Problem(
                f"{path}.zones",
                f"{zone} does not offer {gpu.name} ({pool.gpu.type}); node pool creation would fail",
                f"use zones among {', '.join(offered)}",
            )


def _provisioning(path: str, pool: NodePoolConfig) -> Iterator[Problem]:
    machine = catalog.machine_types().get(pool.machine_type)
    if machine is None:
        return  # reported by _gpu_pool
    wanted = "spot" if pool.spot else "on-demand"
    if wanted in machine.provisioning:
        return
    sold = ", ".join(machine.provisioning)
    alternative = catalog.on_demand_machine_for(pool.gpu.type, pool.gpu.count)
    fix = "set spot: true" if "spot" in machine.provisioning else "use another machine type"
    if wanted == "on-demand" and alternative:
        fix += f", or use {alternative} for on-demand {pool.gpu.type}"
    yield Problem(f"{path}.spot", f"{machine.name} is not sold {wanted} (only: {sold})", fix)


def _cluster_location(region: str, cluster: ClusterConfig) -> Iterator[Problem]:
    location = cluster.location
    if location == region or location in catalog.regions()[region]:
        return
    zones = ", ".join(catalog.regions()[region])
    yield Problem(
        f"{P}:cluster.location",
        f"{location!r} is neither the region {region} nor one of its zones",
        f"use {region} (regional) or one of {zones}",
    )


def _network(cluster: ClusterConfig) -> Iterator[Problem]:
    net = cluster.network
    if (net.existing_network is None) != (net.existing_subnetwork is None):
        yield Problem(
            f"{P}:cluster.network",
            "existingNetwork and existingSubnetwork must be given together",
            "name both, or neither to let the stack create the VPC",
        )
    ranges = {"subnetCidr": net.subnet_cidr, "podsCidr": net.pods_cidr, "servicesCidr": net.services_cidr}
    if cluster.private_nodes:
        ranges["controlPlane.masterIpv4CidrBlock"] = cluster.control_plane.master_ipv4_cidr_block
        if IPv4Network(cluster.control_plane.master_ipv4_cidr_block).prefixlen != 28:
            yield Problem(
                f"{P}:cluster.controlPlane.masterIpv4CidrBlock",
                "the control-plane range must be a /28",
                "use a /28 such as 172.16.0.0/28",
            )
    for (a, ca), (b, cb) in combinations(ranges.items(), 2):
        if IPv4Network(ca).overlaps(IPv4Network(cb)):
            yield Problem(f"{P}:cluster.network.{a}", f"{ca} overlaps {b} {cb}", "choose disjoint ranges")
    yield from _authorized_networks(cluster)


def _authorized_networks(cluster: ClusterConfig) -> Iterator[Problem]:
    """The blocks' union, not each block: 0.0.0.0/1 and 128.0.0.0/1 open the control plane as 0.0.0.0/0 does."""
    entries = cluster.control_plane.authorized_networks
    path = f"{P}:cluster.controlPlane.authorizedNetworks"
    for whole in covers_everything(e.cidr for e in entries):
        alone = [e.name for e in entries if covers_everything([e.cidr]) == [whole]]
        yield Problem(
            f"{path}.{alone[0]}" if alone else path,
            f"{'the block covers' if alone else 'together the blocks cover'} {whole}: the control plane would be open to "
            "the internet",
            "list only the CIDR blocks of your offices and CI runners (their union must not be every address), "
            "or use dnsEndpoint",
        )


def _system_pool(cluster: ClusterConfig) -> Iterator[Problem]:
    pool = cluster.system_pool
    path = f"{P}:cluster.systemPool"
    cpu_types = catalog.cpu_machine_types()
    if pool.machine_type not in cpu_types:
        yield Problem(
            f"{path}.machineType",
            f"unknown CPU machine type {pool.machine_type!r}",
            f"use one of {', '.join(cpu_types)}",
        )
    if pool.min_nodes > pool.max_nodes:
        yield Problem(
            f"{path}.minNodes",
            f"minNodes ({pool.min_nodes}) is above maxNodes ({pool.max_nodes})",
            "raise maxNodes or lower minNodes",
        )


def _gpu_pool(path: str, region: str, pool: NodePoolConfig) -> Iterator[Problem]:
    machines, gpus = catalog.machine_types(), catalog.gpus()
    if pool.gpu.type not in gpus:
        hint = closest(pool.gpu.type, list(gpus))
        yield Problem(
            f"{path}.gpu.type",
            f"unknown GPU {pool.gpu.type!r}",
            f"did you mean '{hint}'?" if hint else f"use one of {', '.join(gpus)}",
        )
    machine = machines.get(pool.machine_type)
    if machine is None:
        hint = closest(pool.machine_type, list(machines))
        yield Problem(
            f"{path}.machineType",
            f"unknown GPU machine type {pool.machine_type!r}",
            f"did you mean '{hint}'?" if hint else "use a g2, a2, a3 or n1 machine type",
        )
    elif pool.gpu.type in gpus:
        mismatch = catalog.gpu_mismatch(machine, pool.gpu.type, pool.gpu.count)
        if mismatch:
            suggestion = catalog.machine_for(pool.gpu.type, pool.gpu.count)
            fix = (
                f"use machineType {suggestion}"
                if suggestion
                else f"set gpu to {{type: {machine.gpu}, count: {machine.gpus}}}"
                if machine.gpu
                else "use a GPU count the machine can attach"
            )
            yield Problem(f"{path}.machineType", mismatch, fix)
    if pool.min_nodes > pool.max_nodes:
        yield Problem(
            f"{path}.minNodes",
            f"minNodes ({pool.min_nodes}) is above maxNodes ({pool.max_nodes})",
            "raise maxNodes or lower minNodes",
        )
    zones = catalog.regions()[region]
    for zone in pool.zones or []:
        if zone not in zones:
            yield Problem(f"{path}.zones", f"{zone!r} is not a zone of {region}", f"use zones among {', '.join(zones)}")
    if pool.zones is not None and len(set(pool.zones)) != len(pool.zones):
        yield Problem(f"{path}.zones", "a zone is listed twice", "list each zone once")
