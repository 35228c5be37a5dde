"""Queue-metric HPAs, PodMonitorings and the Custom Metrics Stackdriver Adapter, as plain manifests."""

from __future__ import annotations

from typing import Any

import pytest

import catalog
from config.services import Autoscaling
from infra.identity import workload_identity_member
from preview.manifests import validate_manifest
from runtimes import TeiService, TritonService, VllmService
from tests.args import flags
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
    pod_disruption_budget_spec,
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


def adapter_pod() -> dict[str, Any]:
    pod: dict[str, Any] = deployment_spec()["template"]["spec"]
    return pod


def test_adapter_runs_the_pinned_image_on_the_new_resource_model() -> None:
    (container,) = adapter_pod()["containers"]
    assert container["image"] == IMAGE == "gcr.io/gke-release/custom-metrics-stackdriver-adapter:v0.16.1-gke.0"
    assert container["command"] == ARGS
    assert "--use-new-resource-model=true" in ARGS
    assert "--fallback-for-container-metrics=true" in ARGS
    assert container["resources"]["limits"] == container["resources"]["requests"] == {"cpu": "250m", "memory": "400Mi"}
    assert adapter_pod()["serviceAccountName"] == NAME


def test_adapter_runs_as_non_root_without_capabilities_on_a_read_only_root() -> None:
    pod = adapter_pod()
    (container,) = pod["containers"]
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def test_adapter_serves_on_a_high_port_with_its_certificate_in_an_empty_dir() -> None:
    pod = adapter_pod()
    (container,) = pod["containers"]
    (port,) = container["ports"]
    command = flags(container["command"])
    assert port == {"name": "https", "containerPort": int(command["--secure-port"]), "protocol": "TCP"}
    assert port["containerPort"] > 1023  # binds as an ordinary user
    (mount,) = container["volumeMounts"]
    assert command["--cert-dir"] == mount["mountPath"]
    (volume,) = pod["volumes"]
    assert volume == {"name": mount["name"], "emptyDir": volume["emptyDir"]}
    # The Service keeps 443, where the APIServices call, and forwards to the named container port.
    assert service_spec()["ports"] == [{"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}]


def test_adapter_probes_the_api_servers_health_paths_over_https() -> None:
    (container,) = adapter_pod()["containers"]
    paths = {kind: container[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert paths == {
        "startupProbe": {"path": "/livez", "port": "https", "scheme": "HTTPS"},
        "livenessProbe": {"path": "/livez", "port": "https", "scheme": "HTTPS"},
        "readinessProbe": {"path": "/readyz", "port": "https", "scheme": "HTTPS"},
    }


def test_adapter_runs_two_spread_replicas_that_a_drain_takes_one_at_a_time() -> None:
    spec = deployment_spec()
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    spread = adapter_pod()["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    assert all(c["labelSelector"] == spec["selector"] for c in spread)
    pdb = pod_disruption_budget_spec()
    assert pdb == {"maxUnavailable": 1, "selector": spec["selector"]}


def test_adapter_registers_only_the_custom_metrics_api_on_its_service() -> None:
    specs = api_service_specs()
    assert sorted(specs) == ["v1beta1.custom.metrics.k8s.io", "v1beta2.custom.metrics.k8s.io"]
    assert specs["v1beta2.custom.metrics.k8s.io"]["versionPriority"] == 200
    for spec in specs.values():
        assert spec["service"] == {"name": NAME, "namespace": NAMESPACE}
    # ... and does not serve the external one, which no HPA here reads.
    assert "--enable-external-metrics-api=false" in ARGS


def test_every_hpa_reads_a_pods_metric_the_custom_metrics_api_serves() -> None:
    # Why the external metrics API and its role are gone: an External metric would need them back.
    for spec in (VLLM, TEI, TRITON):
        hpa = hpa_spec("x", spec.queue_metric, scaling())
        assert {m["type"] for m in hpa["metrics"]} == {"Pods"}


def test_adapter_rbac_is_what_the_custom_metrics_provider_calls() -> None:
    bindings = cluster_role_bindings()
    assert sorted(bindings) == ["custom-metrics-resource-reader", "custom-metrics:system:auth-delegator"]
    assert bindings["custom-metrics:system:auth-delegator"]["roleRef"]["name"] == "system:auth-delegator"
    for body in bindings.values():
        assert body["subjects"] == [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}]
    assert cluster_roles() == {
        "custom-metrics-resource-reader": [
            {"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["get", "list"]}
        ]
    }
    reader = auth_reader_binding()
    assert reader["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "extension-apiserver-authentication-reader",
    }


def test_adapter_manifests_satisfy_the_kubernetes_schemas() -> None:
    assert validate_manifest(body("apps/v1", "Deployment", deployment_spec(), NAMESPACE), K8S) == []
    assert validate_manifest(body("v1", "Service", service_spec(), NAMESPACE), K8S) == []
    pdb = body("policy/v1", "PodDisruptionBudget", pod_disruption_budget_spec(), NAMESPACE)
    assert validate_manifest(pdb, K8S) == []
    for spec in api_service_specs().values():
        assert validate_manifest(body("apiregistration.k8s.io/v1", "APIService", spec, None), K8S) == []


def test_adapter_identity_is_bound_to_its_kubernetes_service_account() -> None:
    assert workload_identity_member("acme-ml-prod", NAMESPACE, NAME) == (
        "serviceAccount:acme-ml-prod.svc.id.goog[custom-metrics/custom-metrics-stackdriver-adapter]"
    )
    assert account_id("serving-prod") == "serving-prod-metrics"
    # Too long for 30 characters: shortened with a hash of the whole name, never ending in a hyphen.
    long = account_id("c" * 29)
    assert len(long) == 30 and long.startswith("c" * 23 + "-") and not long.endswith("-")
    assert long != account_id("c" * 30)
