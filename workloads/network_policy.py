"""Ingress to the serving namespace: nothing by default; the load balancer and the metrics collector
to the model servers' ports only. Manifest bodies are plain functions; the component registers them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

import naming
from workloads.deployment import labels, selector
from workloads.server import ServerSpec

# Google's health-check probe ranges (Cloud Load Balancing "Firewall rules": the minimum ingress
# rules of a regional Application Load Balancer are these and the proxy-only subnet).
HEALTH_CHECK_RANGES = ("35.191.0.0/16", "130.211.0.0/22")
# Managed Service for Prometheus runs its collectors in this namespace.
GMP_NAMESPACE = "gmp-system"


def default_deny_ingress_spec() -> dict[str, Any]:
    """Every pod of the namespace refuses ingress unless another policy admits it."""
    return {"podSelector": {}, "policyTypes": ["Ingress"]}


def _tcp(port: int) -> dict[str, Any]:
    return {"protocol": "TCP", "port": port}


def model_server_ingress_spec(service: str, spec: ServerSpec, proxy_subnet_cidr: str) -> dict[str, Any]:
    """The regional load balancer's proxies (its proxy-only subnet) and Google's health checkers
    reach the API port; the Managed Prometheus collectors reach the metrics port."""
    load_balancer = [{"ipBlock": {"cidr": cidr}} for cidr in (proxy_subnet_cidr, *HEALTH_CHECK_RANGES)]
    collectors = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": GMP_NAMESPACE}}}]
    return {
        "podSelector": {"matchLabels": selector(service)},
        "policyTypes": ["Ingress"],
        "ingress": [
            {"from": load_balancer, "ports": [_tcp(spec.port)]},
            {"from": collectors, "ports": [_tcp(spec.metrics_port)]},
        ],
    }


@dataclass(frozen=True)
class ServingNetworkPoliciesArgs:
    namespace: pulumi.Input[str]
    servers: Mapping[str, ServerSpec]  # service -> its server: the ports the policies open
    proxy_subnet_cidr: str  # the regional load balancer's proxy-only subnet


class ServingNetworkPolicies(pulumi.ComponentResource):
    def __init__(self, name: str, args: ServingNetworkPoliciesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gke-serving:workloads:ServingNetworkPolicies", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        namespace = args.namespace
        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata={
                "name": naming.DEFAULT_DENY_POLICY,
                "namespace": namespace,
                "labels": {"app.kubernetes.io/part-of": "gke-serving", "app.kubernetes.io/managed-by": "pulumi"},
            },
            spec=cast(Any, default_deny_ingress_spec()),
            opts=child,
        )
        for service, spec in args.servers.items():
            meta = {
                "name": naming.ingress_policy_name(service),
                "namespace": namespace,
                "labels": labels(service, spec.runtime),
            }
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{service}",
                metadata=meta,
                spec=cast(Any, model_server_ingress_spec(service, spec, args.proxy_subnet_cidr)),
                opts=child,
            )
        self.register_outputs({})
