"""Cross-checks of the gateway config against the cluster's network, and what it exposes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network

from config.platform import ClusterConfig, GatewayConfig
from config.services import ServiceConfig
from settings.problems import Problem

P = "gke-serving"
EXTERNAL_CLASS = "gke-l7-regional-external-managed"
# The only stacks that may opt in to plain HTTP or unauthenticated services on an external gateway.
# Every other stack name (staging, prod, any new one) is refused: secure unless said otherwise.
OPT_IN_STACKS = ("dev",)
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


@dataclass
class Exposure:
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_exposure(gateway: GatewayConfig, services: Mapping[str, ServiceConfig], stack: str | None) -> Exposure:
    """An external gateway without TLS, or a service without auth on one, is refused unless the
    stack is in OPT_IN_STACKS and opts in explicitly (then the preview warns). `stack` None: the
    caller names no environment (model-only validation), and exposure is not judged."""
    found = Exposure()
    if stack is None:
        return found
    may_opt_in = stack in OPT_IN_STACKS
    external = gateway.class_name == EXTERNAL_CLASS
    open_services = sorted(name for name, s in services.items() if not s.auth)
    plaintext = external and gateway.domain is None
    unauthenticated = external and bool(open_services)
    internal_fix = "or className gke-l7-rilb for a gateway reachable only inside the VPC"
    for key, enabled in (
        ("allowPlaintext", gateway.allow_plaintext),
        ("allowUnauthenticated", gateway.allow_unauthenticated),
    ):
        if enabled and not may_opt_in:
            found.problems.append(
                Problem(
                    f"{P}:gateway.{key}",
                    f"only {', '.join(OPT_IN_STACKS)} may opt in to this exposure, not {stack}",
                    f"remove {key} and fix what it allowed",
                )
            )
    if plaintext:
        if may_opt_in and gateway.allow_plaintext:
            found.warnings.append(
                f"{P}:gateway.allowPlaintext: {stack} serves its external gateway over plain HTTP — API keys "
                "and requests cross the internet in clear text (refused outside dev)"
            )
        else:
            opt_in = "; or, in dev only, opt in with gateway.allowPlaintext: true" if may_opt_in else ""
            found.problems.append(
                Problem(
                    f"{P}:gateway.domain",
                    f"an external gateway without a domain serves plain HTTP: API keys and requests would cross "
                    f"the internet in clear text (stack {stack})",
                    f"set gateway.domain to a DNS name you control (HTTPS with a Google-managed certificate), "
                    f"{internal_fix}{opt_in}",
                )
            )
    if unauthenticated:
        if may_opt_in and gateway.allow_unauthenticated:
            found.warnings.append(
                f"{P}:gateway.allowUnauthenticated: {stack} lets anyone on the internet call "
                f"{', '.join(open_services)} without a key (auth: false; refused outside dev)"
            )
        else:
            opt_in = "; or, in dev only, opt in with gateway.allowUnauthenticated: true" if may_opt_in else ""
            for name in open_services:
                found.problems.append(
                    Problem(
                        f"{P}:services.{name}.auth",
                        f"auth: false on an external gateway answers anyone on the internet (stack {stack})",
                        "remove auth: false (the service then needs its API key; Triton: auth: true behind "
                        f"gateway.iap), {internal_fix}{opt_in}",
                    )
                )
    return found
