"""Queue-metric HPAs, PodMonitorings and the Custom Metrics Stackdriver Adapter, as plain manifests."""

from __future__ import annotations

from typing import Any

import pytest

import catalog
from config.services import Autoscaling, TeiService, TritonService, VllmService
from infra.identity import workload_identity_member
from preview.manifests import validate_manifest
from workloads.autoscaling import hpa_metric_name, hpa_spec, metrics_port_name, pod_monitoring_spec
from workloads.metrics_adapter import (
    ARGS,
    IMAGE,
    NAME,
    NAMESPACE,
    account_id,
    api_service_specs,
    auth_reader_binding,
    cluster_role_bindings,
    cluster_roles,
    deployment_spec,
    service_spec,
)
from workloads.server import server_spec

K8S = "1.34"
L4 = catalog.gpus()["nvidia-l4"]
VLLM = server_spec(
    "gemma", VllmService.model_validate({"runtime": "vllm", "model": "google/gemma-7b-AWQ", "pool": "l4"}), L4
)
TEI = server_spec("embed", TeiService.model_validate({"runtime": "tei", "model": "BAAI/bge-m3", "pool": "l4"}), L4)
TRITON = server_spec(
    "resnet",
    TritonService.model_validate(
        {"runtime": "triton", "model": "resnet50", "pool": "l4", "auth": False, "modelRepository": "gs://acme/m"}
    ),
    L4,
)


def scaling(**keys: Any) -> Autoscaling:
    return Autoscaling.model_validate({"maxReplicas": 4, **keys})


def body(api_version: str, kind: str, spec: dict[str, Any], namespace: str | None = "serving") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "x", **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, "spec": spec}


# --- HPA -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("vllm:num_requests_waiting", "prometheus.googleapis.com|vllm:num_requests_waiting|gauge"),
        ("tgi_queue_size", "prometheus.googleapis.com|tgi_queue_size|gauge"),
        ("nv_inference_pending_request_count", "prometheus.googleapis.com|nv_inference_pending_request_count|gauge"),
    ],
)
def test_hpa_metric_is_the_managed_prometheus_gauge(metric: str, expected: str) -> None:
    assert hpa_metric_name(metric) == expected


def test_hpa_targets_the_deployment_on_its_runtime_queue_metric() -> None:
    spec = hpa_spec("gemma", VLLM.queue_metric, scaling(minReplicas=2, maxReplicas=5, targetQueueSize=4))
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gemma"}
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 5)
    (metric,) = spec["metrics"]
    assert metric["type"] == "Pods"
    assert metric["pods"]["metric"]["name"] == "prometheus.googleapis.com|vllm:num_requests_waiting|gauge"
    assert metric["pods"]["target"] == {"type": "AverageValue", "averageValue": "4"}


def test_triton_hpa_scales_on_pending_requests() -> None:
    spec = hpa_spec("resnet", TRITON.queue_metric, scaling())
    assert spec["metrics"][0]["pods"]["metric"]["name"] == (
        "prometheus.googleapis.com|nv_inference_pending_request_count|gauge"
    )


def test_fractional_queue_target_becomes_a_milli_quantity() -> None:
    spec = hpa_spec("gemma", "q", scaling(targetQueueSize=2.5))
    assert spec["metrics"][0]["pods"]["target"]["averageValue"] == "2500m"


def test_hpa_scales_up_at_once_and_down_after_the_configured_window() -> None:
    behavior = hpa_spec("gemma", "q", scaling(scaleDownStabilizationSeconds=900))["behavior"]
    up, down = behavior["scaleUp"], behavior["scaleDown"]
    assert up["stabilizationWindowSeconds"] == 0
    assert up["selectPolicy"] == "Max"
    assert {(p["type"], p["value"]) for p in up["policies"]} == {("Percent", 100), ("Pods", 2)}
    assert down["stabilizationWindowSeconds"] == 900
    assert down["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 60}]


def test_hpa_satisfies_the_autoscaling_v2_schema() -> None:
    hpa = body("autoscaling/v2", "HorizontalPodAutoscaler", hpa_spec("gemma", VLLM.queue_metric, scaling()))
    assert validate_manifest(hpa, K8S) == []


# --- PodMonitoring -------------------------------------------------------------------------


def test_pod_monitoring_scrapes_the_api_port_or_tritons_metrics_port() -> None:
    assert metrics_port_name(VLLM) == "http"
    assert metrics_port_name(TEI) == "http"
    assert metrics_port_name(TRITON) == "metrics"
    (endpoint,) = pod_monitoring_spec("resnet", TRITON)["endpoints"]
    assert endpoint == {"port": "metrics", "path": "/metrics", "interval": "15s"}


def test_pod_monitoring_selects_the_service_pods() -> None:
    spec = pod_monitoring_spec("gemma", VLLM)
    assert spec["selector"] == {
        "matchLabels": {"app.kubernetes.io/name": "gemma", "app.kubernetes.io/instance": "gemma"}
    }
    assert validate_manifest(body("monitoring.googleapis.com/v1", "PodMonitoring", spec), K8S) == []


def test_pod_monitoring_schema_refuses_a_bad_interval_and_a_missing_selector() -> None:
    spec = pod_monitoring_spec("gemma", VLLM)
    spec["endpoints"][0]["interval"] = "15 seconds"
    assert validate_manifest(body("monitoring.googleapis.com/v1", "PodMonitoring", spec), K8S) != []
    no_selector = {"endpoints": [{"port": "http"}]}
    assert validate_manifest(body("monitoring.googleapis.com/v1", "PodMonitoring", no_selector), K8S) != []


# --- Custom Metrics Stackdriver Adapter ----------------------------------------------------


def test_adapter_runs_the_pinned_image_on_the_new_resource_model() -> None:
    (container,) = deployment_spec()["template"]["spec"]["containers"]
    assert container["image"] == IMAGE == "gcr.io/gke-release/custom-metrics-stackdriver-adapter:v0.16.1-gke.0"
    assert container["command"] == ARGS
    assert "--use-new-resource-model=true" in ARGS
    assert "--fallback-for-container-metrics=true" in ARGS
    assert container["resources"]["limits"] == container["resources"]["requests"] == {"cpu": "250m", "memory": "400Mi"}
    assert deployment_spec()["template"]["spec"]["serviceAccountName"] == NAME


def test_adapter_registers_the_three_metrics_apis_on_its_service() -> None:
    specs = api_service_specs()
    assert sorted(specs) == [
        "v1beta1.custom.metrics.k8s.io",
        "v1beta1.external.metrics.k8s.io",
        "v1beta2.custom.metrics.k8s.io",
    ]
    assert specs["v1beta2.custom.metrics.k8s.io"]["versionPriority"] == 200
    for spec in specs.values():
        assert spec["service"] == {"name": NAME, "namespace": NAMESPACE}
    ports = service_spec()["ports"]
    assert ports == [{"port": 443, "targetPort": 443, "protocol": "TCP"}]


def test_adapter_rbac_matches_the_upstream_manifest() -> None:
    bindings = cluster_role_bindings()
    assert bindings["custom-metrics:system:auth-delegator"]["roleRef"]["name"] == "system:auth-delegator"
    assert bindings["external-metrics-reader"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "horizontal-pod-autoscaler", "namespace": "kube-system"}
    ]
    assert cluster_roles()["custom-metrics-resource-reader"][0]["resources"] == ["pods", "nodes", "nodes/stats"]
    reader = auth_reader_binding()
    assert reader["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "extension-apiserver-authentication-reader",
    }


def test_adapter_manifests_satisfy_the_kubernetes_schemas() -> None:
    assert validate_manifest(body("apps/v1", "Deployment", deployment_spec(), NAMESPACE), K8S) == []
    assert validate_manifest(body("v1", "Service", service_spec(), NAMESPACE), K8S) == []
    for spec in api_service_specs().values():
        assert validate_manifest(body("apiregistration.k8s.io/v1", "APIService", spec, None), K8S) == []


def test_adapter_identity_is_bound_to_its_kubernetes_service_account() -> None:
    assert workload_identity_member("acme-ml-prod", NAMESPACE, NAME) == (
        "serviceAccount:acme-ml-prod.svc.id.goog[custom-metrics/custom-metrics-stackdriver-adapter]"
    )
    assert account_id("serving-prod") == "serving-prod-metrics"
    # Cut at 30 characters right after the hyphen: the id may not end with one.
    assert account_id("c" * 29) == "c" * 29
