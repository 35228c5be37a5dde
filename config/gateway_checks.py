"""Cross-checks of the gateway config against the cluster's network."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Network

from config.platform import ClusterConfig, GatewayConfig
from config.problems import Problem

P = "gke-serving"
# Google's minimum for a proxy-only subnet is a /26 (64 addresses); /23 is what it recommends.
SMALLEST_PROXY_SUBNET = 26


def check_gateway(gateway: GatewayConfig, cluster: ClusterConfig) -> list[Problem]:
    return [*_proxy_subnet(gateway, cluster)]


def _proxy_subnet(gateway: GatewayConfig, cluster: ClusterConfig) -> Iterator[Problem]:
    path = f"{P}:gateway.proxySubnetCidr"
    proxy = IPv4Network(gateway.proxy_subnet_cidr)
    if proxy.prefixlen > SMALLEST_PROXY_SUBNET:
        yield Problem(
            path, f"{proxy} is too small for a proxy-only subnet (at least a /26)", "use a /23 such as 10.24.0.0/23"
        )
    net = cluster.network
    ranges = {
        "cluster.network.subnetCidr": net.subnet_cidr,
        "cluster.network.podsCidr": net.pods_cidr,
        "cluster.network.servicesCidr": net.services_cidr,
    }
    if cluster.private_nodes:
        ranges["cluster.controlPlane.masterIpv4CidrBlock"] = cluster.control_plane.master_ipv4_cidr_block
    for key, cidr in ranges.items():
        if proxy.overlaps(IPv4Network(cidr)):
            yield Problem(
                path,
                f"{proxy} overlaps {key} {cidr}",
                "choose a range outside the node, pod, Service and control-plane ranges",
            )
    if not gateway.create_proxy_subnet and net.existing_network is None:
        yield Problem(
            f"{P}:gateway.createProxySubnet",
            "the stack creates the VPC, so no proxy-only subnet exists to reuse",
            "remove createProxySubnet, or name cluster.network.existingNetwork",
        )
