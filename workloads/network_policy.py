"""Ingress to the serving namespace: nothing by default; the load balancer and the metrics collector
to the model servers' ports only; for picker-routed services, the load balancer to the endpoint picker and the
body-based router, and the picker to its servers' metrics. Manifest bodies are plain functions; the component
registers them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

import naming
from workloads import body_routing as bbr
from workloads import inference_pool as pool
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


def _load_balancer(proxy_subnet_cidr: str) -> list[dict[str, Any]]:
    return [{"ipBlock": {"cidr": cidr}} for cidr in (proxy_subnet_cidr, *HEALTH_CHECK_RANGES)]


def _collectors() -> list[dict[str, Any]]:
    return [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": GMP_NAMESPACE}}}]


def model_server_ingress_spec(service: str, spec: ServerSpec, proxy_subnet_cidr: str) -> dict[str, Any]:
    """The regional load balancer's proxies (its proxy-only subnet) and Google's health checkers
    reach the API port; the Managed Prometheus collectors reach the metrics port, and so does the service's
    endpoint picker when it has one (it scrapes each pod's queue and KV cache)."""
    ingress = [
        {"from": _load_balancer(proxy_subnet_cidr), "ports": [_tcp(spec.port)]},
        {"from": _collectors(), "ports": [_tcp(spec.metrics_port)]},
    ]
    if spec.picker_engine is not None:
        picker = {"podSelector": {"matchLabels": selector(naming.picker_name(service))}}
        ingress.append({"from": [picker], "ports": [_tcp(spec.metrics_port)]})
    return {"podSelector": {"matchLabels": selector(service)}, "policyTypes": ["Ingress"], "ingress": ingress}


def picker_ingress_spec(service: str, proxy_subnet_cidr: str) -> dict[str, Any]:
    """The load balancer's proxies call the picker (ext-proc); they and Google's health checkers reach its gRPC
    health port (GKE health-checks a picker there); the collectors read its metrics."""
    return {
        "podSelector": {"matchLabels": selector(naming.picker_name(service))},
        "policyTypes": ["Ingress"],
        "ingress": [
            {"from": [{"ipBlock": {"cidr": proxy_subnet_cidr}}], "ports": [_tcp(pool.EXT_PROC_PORT)]},
            {"from": _load_balancer(proxy_subnet_cidr), "ports": [_tcp(pool.HEALTH_PORT)]},
            {"from": _collectors(), "ports": [_tcp(pool.METRICS_PORT)]},
        ],
    }


def body_router_ingress_spec(proxy_subnet_cidr: str) -> dict[str, Any]:
    """The load balancer's proxies call the body-based router; they and the health checkers reach its health port."""
    return {
        "podSelector": {"matchLabels": selector(bbr.BODY_ROUTER)},
        "policyTypes": ["Ingress"],
        "ingress": [
            {"from": [{"ipBlock": {"cidr": proxy_subnet_cidr}}], "ports": [_tcp(bbr.GRPC_PORT)]},
            {"from": _load_balancer(proxy_subnet_cidr), "ports": [_tcp(bbr.HEALTH_PORT)]},
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
        picked = [service for service, spec in args.servers.items() if spec.picker_engine is not None]
        for service in picked:
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{service}-picker",
                metadata={
                    "name": naming.picker_name(service),
                    "namespace": namespace,
                    "labels": pool.picker_labels(service),
                },
                spec=cast(Any, picker_ingress_spec(service, args.proxy_subnet_cidr)),
                opts=child,
            )
        if picked:
            k8s.networking.v1.NetworkPolicy(
                f"{name}-body-router",
                metadata={"name": f"{bbr.BODY_ROUTER}-ingress", "namespace": namespace, "labels": bbr.labels()},
                spec=cast(Any, body_router_ingress_spec(args.proxy_subnet_cidr)),
                opts=child,
            )
        self.register_outputs({})
