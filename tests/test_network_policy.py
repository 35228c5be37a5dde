"""Ingress to the model servers: deny by default, then only the load balancer and the metrics collector."""

from __future__ import annotations

from typing import Any

import catalog
from preview.manifests import validate_manifest
from runtimes import TritonService, VllmService
from workloads.network_policy import (
    GMP_NAMESPACE,
    HEALTH_CHECK_RANGES,
    body_router_ingress_spec,
    default_deny_ingress_spec,
    model_server_ingress_spec,
    picker_ingress_spec,
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
    lb, *_ = model_server_ingress_spec("gemma", VLLM, PROXY)["ingress"]
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


PICKER = {
    "podSelector": {
        "matchLabels": {"app.kubernetes.io/name": "gemma-picker", "app.kubernetes.io/instance": "gemma-picker"}
    }
}
PLAIN = server_spec(
    "gemma",
    VllmService.model_validate(
        {"runtime": "vllm", "model": "google/gemma-7b-AWQ", "pool": "l4", "routing": {"picker": False}}
    ),
    L4,
)


def test_a_picker_routed_servers_metrics_admit_its_picker_and_a_plain_ones_do_not() -> None:
    *_, picker = model_server_ingress_spec("gemma", VLLM, PROXY)["ingress"]
    assert sources(picker) == [PICKER]
    assert picker["ports"] == [{"protocol": "TCP", "port": 8000}]  # vLLM serves /metrics on its API port
    assert [sources(rule) for rule in model_server_ingress_spec("gemma", PLAIN, PROXY)["ingress"]].count([PICKER]) == 0


def test_the_picker_admits_the_proxies_on_ext_proc_the_checkers_on_health_and_the_collectors_on_metrics() -> None:
    ext_proc, health, metrics = picker_ingress_spec("gemma", PROXY)["ingress"]
    assert (sources(ext_proc), ext_proc["ports"]) == (
        [{"ipBlock": {"cidr": PROXY}}],
        [{"protocol": "TCP", "port": 9002}],
    )
    assert [s["ipBlock"]["cidr"] for s in sources(health)] == [PROXY, *HEALTH_CHECK_RANGES]
    assert health["ports"] == [{"protocol": "TCP", "port": 9003}]
    assert metrics["ports"] == [{"protocol": "TCP", "port": 9090}]
    assert sources(metrics) == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": GMP_NAMESPACE}}}]
    assert validate_manifest(policy(picker_ingress_spec("gemma", PROXY)), "1.34") == []


def test_the_body_router_admits_the_proxies_and_the_health_checkers_only() -> None:
    calls, health = body_router_ingress_spec(PROXY)["ingress"]
    assert (sources(calls), calls["ports"]) == ([{"ipBlock": {"cidr": PROXY}}], [{"protocol": "TCP", "port": 9004}])
    assert [s["ipBlock"]["cidr"] for s in sources(health)] == [PROXY, *HEALTH_CHECK_RANGES]
    assert health["ports"] == [{"protocol": "TCP", "port": 9005}]
    assert validate_manifest(policy(body_router_ingress_spec(PROXY)), "1.34") == []
