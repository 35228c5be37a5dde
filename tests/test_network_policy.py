"""Ingress to the model servers: deny by default, then only the load balancer and the metrics collector."""

from __future__ import annotations

from typing import Any

import catalog
from preview.manifests import validate_manifest
from runtimes import TritonService, VllmService
from workloads.network_policy import (
    GMP_NAMESPACE,
    HEALTH_CHECK_RANGES,
    default_deny_ingress_spec,
    model_server_ingress_spec,
)
from workloads.server import server_spec

L4 = catalog.gpus()["nvidia-l4"]
VLLM = server_spec(
    "gemma", VllmService.model_validate({"runtime": "vllm", "model": "google/gemma-7b-AWQ", "pool": "l4"}), L4
)
TRITON = server_spec(
    "resnet",
    TritonService.model_validate(
        {"runtime": "triton", "model": "resnet50", "pool": "l4", "auth": False, "modelRepository": "gs://acme/m"}
    ),
    L4,
)
PROXY = "10.24.0.0/23"


def policy(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "x", "namespace": "serving"},
        "spec": spec,
    }


def sources(rule: dict[str, Any]) -> list[dict[str, Any]]:
    return list(rule["from"])


def test_default_deny_selects_every_pod_and_admits_nothing() -> None:
    spec = default_deny_ingress_spec()
    assert spec == {"podSelector": {}, "policyTypes": ["Ingress"]}
    assert "ingress" not in spec


def test_google_health_check_ranges_are_the_documented_ones() -> None:
    assert HEALTH_CHECK_RANGES == ("35.191.0.0/16", "130.211.0.0/22")


def test_load_balancer_reaches_only_the_api_port() -> None:
    lb, _ = model_server_ingress_spec("gemma", VLLM, PROXY)["ingress"]
    assert [s["ipBlock"]["cidr"] for s in sources(lb)] == [PROXY, "35.191.0.0/16", "130.211.0.0/22"]
    assert lb["ports"] == [{"protocol": "TCP", "port": 8000}]


def test_metrics_collector_reaches_tritons_metrics_port_not_its_api() -> None:
    lb, collector = model_server_ingress_spec("resnet", TRITON, PROXY)["ingress"]
    assert lb["ports"] == [{"protocol": "TCP", "port": 8000}]
    assert collector["ports"] == [{"protocol": "TCP", "port": 8002}]
    assert sources(collector) == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": GMP_NAMESPACE}}}
    ]


def test_policy_selects_only_the_service_pods() -> None:
    spec = model_server_ingress_spec("gemma", VLLM, PROXY)
    assert spec["podSelector"] == {
        "matchLabels": {"app.kubernetes.io/name": "gemma", "app.kubernetes.io/instance": "gemma"}
    }
    assert spec["policyTypes"] == ["Ingress"]


def test_policies_satisfy_the_strict_kubernetes_schema() -> None:
    assert validate_manifest(policy(default_deny_ingress_spec()), "1.34") == []
    assert validate_manifest(policy(model_server_ingress_spec("resnet", TRITON, PROXY)), "1.34") == []
    broken = model_server_ingress_spec("gemma", VLLM, PROXY)
    broken["ingress"][0]["from"][0]["ipBlock"]["cdir"] = PROXY
    assert validate_manifest(policy(broken), "1.34") != []
