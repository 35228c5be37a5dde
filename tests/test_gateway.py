"""The gateway's pure builders, its config checks, and the project's CRD schemas they must satisfy."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import catalog
from catalog.servers import server_facts
from config import parse_environment
from config.environment import decode
from config.gateway_checks import check_gateway
from config.platform import ClusterConfig, GatewayConfig
from preview.envfile import read_environment_file
from preview.manifests import crd_schema_path, validate_manifest
from runtimes import REGISTRY, TeiService, TgiService, TritonService, VllmService, runtime_of
from workloads.deployment import PRESTOP_SECONDS
from workloads.gateway import (
    CERT_MANAGER_OPTION,
    address_type,
    backend_policy_spec,
    backend_timeout_seconds,
    gateway_spec,
    health_check_policy_spec,
    http_route_spec,
    service_checks,
    service_ref,
    service_urls,
)
from workloads.server import server_spec

K8S = "1.34"
L4 = catalog.gpus()["nvidia-l4"]


def manifest(api_version: str, kind: str, spec: dict[str, Any], name: str = "x") -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": "serving"}, "spec": spec}


def route(spec: dict[str, Any]) -> dict[str, Any]:
    return manifest("gateway.networking.k8s.io/v1", "HTTPRoute", spec)


SPECS = {
    "tei": server_spec(
        "embed", TeiService.model_validate({"runtime": "tei", "model": "BAAI/bge-m3", "pool": "l4"}), L4
    ),
    "tgi": server_spec(
        "llama", TgiService.model_validate({"runtime": "tgi", "model": "meta-llama/Llama-2-13b-hf", "pool": "l4"}), L4
    ),
    "vllm": server_spec(
        "gemma", VllmService.model_validate({"runtime": "vllm", "model": "google/gemma-7b-AWQ", "pool": "l4"}), L4
    ),
    "triton": server_spec(
        "resnet",
        TritonService.model_validate(
            {
                "runtime": "triton",
                "model": "resnet50",
                "pool": "l4",
                "auth": False,
                "modelRepository": "gs://acme-models/triton",
            }
        ),
        L4,
    ),
}


def gateway(**keys: Any) -> GatewayConfig:
    """A gateway config from environment-file (camelCase) keys."""
    return GatewayConfig.model_validate(keys)


# --- builders ------------------------------------------------------------------------------


def test_address_type_follows_the_class() -> None:
    assert address_type("gke-l7-regional-external-managed") == "EXTERNAL"
    assert address_type("gke-l7-rilb") == "INTERNAL"


def test_gateway_without_certificate_listens_on_plain_http_only() -> None:
    spec = gateway_spec("gke-l7-regional-external-managed", "serving-dev-gateway", None)
    assert [(lst["protocol"], lst["port"]) for lst in spec["listeners"]] == [("HTTP", 80)]
    assert "tls" not in spec["listeners"][0]
    assert spec["addresses"] == [{"type": "NamedAddress", "value": "serving-dev-gateway"}]


def test_gateway_with_certificate_serves_https_only_with_the_certificate_manager_certificate() -> None:
    spec = gateway_spec("gke-l7-rilb", "addr", "serving-prod-gateway")
    assert [(lst["protocol"], lst["port"]) for lst in spec["listeners"]] == [("HTTPS", 443)]
    assert spec["listeners"][0]["tls"] == {
        "mode": "Terminate",
        "options": {CERT_MANAGER_OPTION: "serving-prod-gateway"},
    }
    assert spec["gatewayClassName"] == "gke-l7-rilb"


PATHS = ("/v1/chat/completions", "/v1/models")


def test_route_forwards_each_served_path_exactly_without_the_service_prefix() -> None:
    spec = http_route_spec("gemma", 8000, PATHS)
    chat, models = spec["rules"]
    assert chat["matches"] == [{"path": {"type": "Exact", "value": "/gemma/v1/chat/completions"}}]
    assert chat["filters"] == [
        {
            "type": "URLRewrite",
            "urlRewrite": {"path": {"type": "ReplaceFullPath", "replaceFullPath": "/v1/chat/completions"}},
        }
    ]
    assert models["matches"] == [{"path": {"type": "Exact", "value": "/gemma/v1/models"}}]
    assert chat["backendRefs"] == [{"name": "gemma", "port": 8000}]
    assert spec["parentRefs"][0]["name"] == "gateway"


def test_rendered_routes_never_reach_admin_or_unauthenticated_paths(previews: Any) -> None:
    for env in ("dev", "staging", "prod"):
        preview = previews(env)
        file = Path(__file__).resolve().parent.parent / "environments" / f"Pulumi.{env}.yaml"
        services = parse_environment(
            {k: decode(v) for k, v in read_environment_file(file).values.items()}, stack=env
        ).services
        for body in (m for m in preview.manifests.values() if m["kind"] == "HTTPRoute"):
            service = body["spec"]["rules"][0]["backendRefs"][0]["name"]
            # The server's facts as the service runs it (a custom runtime's come from the service).
            runtime, config = runtime_of(services[service]), services[service]
            facts = runtime.facts_for(config)
            served = set(runtime.served_paths(config))
            for rule in body["spec"]["rules"]:
                # A service's own route (`/<service>/...`) or its route on the shared /v1 endpoint.
                for match in rule["matches"]:
                    assert match["path"]["type"] == "Exact", (env, service, match)
                    path = match["path"]["value"].removeprefix(f"/{service}")
                    assert path in served, (env, service, path)
                    assert path not in {*facts.admin_paths, "/metrics", "/invocations", "/pause"}


@pytest.mark.parametrize(
    ("runtime", "path", "port"),
    [
        ("tei", "/health", 8080),
        ("tgi", "/health", 8080),
        ("vllm", "/health", 8000),
        ("triton", "/v2/health/ready", 8000),
    ],
)
def test_health_check_probes_the_runtime_health_path_on_its_serving_port(runtime: str, path: str, port: int) -> None:
    spec = SPECS[runtime]
    policy = health_check_policy_spec(service_ref("svc"), spec.port, spec.health_path)
    check = policy["default"]["config"]
    fixed = {"portSpecification": "USE_FIXED_PORT", "port": port, "requestPath": path}
    assert check == {"type": "HTTP", "httpHealthCheck": fixed}
    assert policy["targetRef"] == {"group": "", "kind": "Service", "name": "svc"}
    # The CRD: timeoutSec may not exceed checkIntervalSec.
    assert policy["default"]["timeoutSec"] <= policy["default"]["checkIntervalSec"]


def test_backend_timeouts_are_long_for_generation_and_short_for_embeddings() -> None:
    config = gateway(requestTimeoutSeconds=900, embeddingTimeoutSeconds=45)
    for runtime in REGISTRY.values():
        expected = 900 if runtime.generates else 45
        assert backend_timeout_seconds(runtime.generates, config) == expected, runtime.name
    assert [r.name for r in REGISTRY.values() if not r.generates] == ["tei"]
    assert backend_timeout_seconds(True, gateway()) >= 300


def test_backend_policy_drains_as_long_as_the_pods_prestop_sleep() -> None:
    policy = backend_policy_spec(service_ref("gemma"), 600)
    assert policy["default"] == {"timeoutSec": 600, "connectionDraining": {"drainingTimeoutSec": PRESTOP_SECONDS}}
    assert policy["targetRef"]["name"] == "gemma"


def test_service_urls_are_scheme_host_and_prefix() -> None:
    assert service_urls("https", "llm.example.com", ["embed", "gemma"]) == {
        "embed": "https://llm.example.com/embed",
        "gemma": "https://llm.example.com/gemma",
    }


# --- config --------------------------------------------------------------------------------


def test_only_regional_classes_are_accepted() -> None:
    with pytest.raises(ValidationError, match="gke-l7-rilb"):
        GatewayConfig.model_validate({"className": "gke-l7-global-external-managed"})


def test_llm_timeout_below_five_minutes_is_refused() -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 300"):
        GatewayConfig.model_validate({"requestTimeoutSeconds": 120})


def test_domain_must_be_a_dns_name() -> None:
    assert GatewayConfig.model_validate({"domain": "llm.example.com"}).domain == "llm.example.com"
    with pytest.raises(ValidationError):
        GatewayConfig.model_validate({"domain": "https://llm.example.com"})


def cluster(**network: Any) -> ClusterConfig:
    return ClusterConfig.model_validate({"name": "serving-dev", "location": "us-central1", "network": network})


def test_default_proxy_subnet_fits_the_default_network() -> None:
    assert check_gateway(gateway(), cluster()) == []


def test_proxy_subnet_overlapping_the_pods_range_is_reported() -> None:
    (problem,) = check_gateway(gateway(proxySubnetCidr="10.17.0.0/23"), cluster())
    assert problem.path == "gke-serving:gateway.proxySubnetCidr"
    assert problem.what == "10.17.0.0/23 overlaps cluster.network.podsCidr 10.16.0.0/14"


def test_proxy_subnet_overlapping_the_control_plane_is_reported() -> None:
    (problem,) = check_gateway(gateway(proxySubnetCidr="172.16.0.0/23"), cluster())
    assert problem.what == "172.16.0.0/23 overlaps cluster.controlPlane.masterIpv4CidrBlock 172.16.0.0/28"


def test_proxy_subnet_smaller_than_a_26_is_reported() -> None:
    (problem,) = check_gateway(gateway(proxySubnetCidr="10.24.0.0/27"), cluster())
    assert problem.what == "10.24.0.0/27 is too small for a proxy-only subnet (at least a /26)"


def test_reusing_a_proxy_subnet_needs_an_existing_network() -> None:
    reuse = gateway(createProxySubnet=False)
    (problem,) = check_gateway(reuse, cluster())
    assert problem.path == "gke-serving:gateway.createProxySubnet"
    assert check_gateway(reuse, cluster(existingNetwork="shared", existingSubnetwork="gke")) == []


# --- CRD schemas ---------------------------------------------------------------------------


def test_every_custom_resource_schema_names_its_source() -> None:
    kinds = [
        ("gateway.networking.k8s.io/v1", "Gateway"),
        ("gateway.networking.k8s.io/v1", "HTTPRoute"),
        ("networking.gke.io/v1", "HealthCheckPolicy"),
        ("networking.gke.io/v1", "GCPBackendPolicy"),
        ("monitoring.googleapis.com/v1", "PodMonitoring"),
    ]
    for api_version, kind in kinds:
        path = crd_schema_path(api_version, kind)
        assert path.is_file(), path
        assert "openAPIV3Schema" in path.read_text()


@pytest.mark.parametrize("certificate", [None, "cert"])
def test_built_gateways_satisfy_the_gateway_schema(certificate: str | None) -> None:
    body = manifest("gateway.networking.k8s.io/v1", "Gateway", gateway_spec("gke-l7-rilb", "a", certificate))
    assert validate_manifest(body, K8S) == []


def test_built_routes_and_policies_satisfy_their_schemas() -> None:
    for runtime, spec in SPECS.items():
        assert validate_manifest(route(http_route_spec(runtime, spec.port, spec.served_paths)), K8S) == []
        hcp = manifest(
            "networking.gke.io/v1",
            "HealthCheckPolicy",
            health_check_policy_spec(service_ref(runtime), spec.port, spec.health_path),
        )
        assert validate_manifest(hcp, K8S) == []
        bp = manifest("networking.gke.io/v1", "GCPBackendPolicy", backend_policy_spec(service_ref(runtime), 600))
        assert validate_manifest(bp, K8S) == []


def test_misspelt_field_fails_the_route_schema() -> None:
    spec = http_route_spec("gemma", 8000, PATHS)
    spec["rules"][0]["backendRefs"][0]["prot"] = 8000
    errors = validate_manifest(route(spec), K8S)
    assert any("'prot' was unexpected" in e for e in errors), errors


def test_prefix_rewrite_needs_a_prefix_match() -> None:
    spec = http_route_spec("gemma", 8000, PATHS)
    spec["rules"][0]["filters"][0]["urlRewrite"]["path"] = {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}
    assert validate_manifest(route(spec), K8S) != []  # ReplacePrefixMatch only goes with PathPrefix


def test_more_than_sixteen_paths_fail_the_route_schema() -> None:
    many = tuple(f"/v1/p{i}" for i in range(17))
    assert validate_manifest(route(http_route_spec("gemma", 8000, many)), K8S) != []


def test_every_runtime_serves_at_most_sixteen_paths_and_no_admin_path() -> None:
    for runtime, facts in server_facts().items():
        assert 1 <= len(facts.served_paths) <= 16, runtime
        assert not set(facts.served_paths) & set(facts.admin_paths), runtime


def test_service_backend_without_port_fails_the_route_schema() -> None:
    spec = http_route_spec("gemma", 8000, PATHS)
    del spec["rules"][0]["backendRefs"][0]["port"]
    assert validate_manifest(route(spec), K8S) != []


def test_tls_on_a_plain_http_listener_fails_the_gateway_schema() -> None:
    spec = gateway_spec("gke-l7-rilb", "a", None)
    spec["listeners"][0]["tls"] = {"mode": "Terminate", "options": {CERT_MANAGER_OPTION: "c"}}
    assert validate_manifest(manifest("gateway.networking.k8s.io/v1", "Gateway", spec), K8S) != []


def test_https_listener_without_certificate_fails_the_gateway_schema() -> None:
    spec = gateway_spec("gke-l7-rilb", "a", "c")
    spec["listeners"][0]["tls"] = {"mode": "Terminate"}
    assert validate_manifest(manifest("gateway.networking.k8s.io/v1", "Gateway", spec), K8S) != []


def test_health_check_out_of_range_or_mismatched_config_fails_its_schema() -> None:
    good = health_check_policy_spec(service_ref("gemma"), 8000, "/health")
    too_long = copy.deepcopy(good)
    too_long["default"]["timeoutSec"] = 301
    assert validate_manifest(manifest("networking.gke.io/v1", "HealthCheckPolicy", too_long), K8S) != []
    mismatched = copy.deepcopy(good)
    mismatched["default"]["config"] = {"type": "TCP", "httpHealthCheck": {"port": 8000}}
    assert validate_manifest(manifest("networking.gke.io/v1", "HealthCheckPolicy", mismatched), K8S) != []


def test_backend_policy_draining_above_an_hour_fails_its_schema() -> None:
    spec = backend_policy_spec(service_ref("gemma"), 600)
    spec["default"]["connectionDraining"]["drainingTimeoutSec"] = 3601
    assert validate_manifest(manifest("networking.gke.io/v1", "GCPBackendPolicy", spec), K8S) != []


def test_custom_resource_metadata_is_checked_against_the_cluster_object_meta() -> None:
    body = route(http_route_spec("gemma", 8000, PATHS))
    body["metadata"]["lables"] = {"a": "b"}
    assert any("lables" in e for e in validate_manifest(body, K8S))


def test_backend_policy_turns_on_iap_for_a_guarded_service() -> None:
    policy = backend_policy_spec(service_ref("detector"), 600, "1234-abc.apps.googleusercontent.com")
    assert policy["default"]["iap"] == {
        "enabled": True,
        "clientID": "1234-abc.apps.googleusercontent.com",
        "oauth2ClientSecret": {"name": "iap-oauth-client"},
    }
    assert validate_manifest(manifest("networking.gke.io/v1", "GCPBackendPolicy", policy), K8S) == []


def test_a_picked_service_is_checked_and_timed_out_at_its_pool_not_its_service() -> None:
    spec = SPECS["vllm"]
    pool = {"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": "gemma"}
    pooled = service_checks("gemma", spec, gateway(requestTimeoutSeconds=900), True, "id.apps.googleusercontent.com")
    plain = service_checks("gemma", spec, gateway(requestTimeoutSeconds=900), False, None)
    for checks, target in ((pooled, pool), (plain, service_ref("gemma"))):
        assert checks["health-check"][2]["targetRef"] == target
        assert checks["backend-policy"][2]["targetRef"] == target
        assert checks["backend-policy"][2]["default"]["timeoutSec"] == 900
    assert all(rule["backendRefs"] == [pool] for rule in pooled["route"][2]["rules"])
    # IAP guards a Service backend; an InferencePool's backend is not confirmed to carry it.
    assert "iap" not in pooled["backend-policy"][2]["default"]
