"""The shared /v1 endpoint: the body-based router, its GKE routing extension and each pool's route
(workloads/body_routing.py), and the model -> service map the stack exports."""

from __future__ import annotations

from dataclasses import replace

import yaml

import catalog
from preview.cel import evaluate_with
from runtimes import VllmService
from workloads import body_routing as bbr
from workloads.inference_routing import model_names
from workloads.server import server_spec

L4 = catalog.gpus()["nvidia-l4"]
GEMMA = server_spec(
    "gemma", VllmService.model_validate({"runtime": "vllm", "model": "google/gemma-7b", "pool": "l4"}), L4
)


def test_a_pools_route_matches_its_base_model_on_each_body_carrying_v1_path() -> None:
    spec = bbr.shared_route_spec("gemma", "gemma", GEMMA.served_paths)
    (rule,) = spec["rules"]
    assert rule["backendRefs"] == [{"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": "gemma"}]
    paths = [m["path"]["value"] for m in rule["matches"]]
    assert paths == [p for p in GEMMA.served_paths if p != "/v1/models"]
    assert "/v1/chat/completions" in paths
    for match in rule["matches"]:
        assert match["path"]["type"] == "Exact"
        assert match["headers"] == [{"type": "Exact", "name": "X-Gateway-Base-Model-Name", "value": "gemma"}]
    assert "filters" not in rule  # the path reaches the server unchanged


def test_the_models_config_map_names_the_base_model_and_its_adapters() -> None:
    assert bbr.models_config_data("gemma", ()) == {"baseModel": "gemma"}
    data = bbr.models_config_data("gemma", ("sql-lora", "chat-lora"))
    assert yaml.safe_load(data["adapters"]) == ["sql-lora", "chat-lora"]
    assert bbr.models_config_labels("gemma")["inference.networking.k8s.io/bbr-managed"] == "true"


def test_the_routing_extension_meets_gkes_schema_rules() -> None:
    (chain,) = bbr.routing_extension_spec()["extensionChains"]
    (extension,) = chain["extensions"]
    assert extension["authority"]  # required with a backendRef
    assert extension["timeout"] == "1s"  # GKE caps it at 10 s
    assert extension["requestBodySendMode"] == "FullDuplexStreamed"
    assert {"RequestBody", "RequestTrailers"} <= set(extension["supportedEvents"])
    assert extension["backendRef"] == {"group": "", "kind": "Service", "name": "body-based-router", "port": 9004}
    target = bbr.routing_extension_spec()["targetRefs"]
    assert target == [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gateway"}]


def test_the_router_streams_reads_only_config_maps_and_is_checked_over_grpc() -> None:
    pod = bbr.router_deployment_spec()["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "registry.k8s.io/gateway-api-inference-extension/bbr:v1.5.0"
    assert container["args"][0] == "--streaming"
    assert pod["nodeSelector"] == {"cloud.google.com/gke-nodepool": "system"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert bbr.router_deployment_spec()["replicas"] == 2
    assert bbr.router_role_rules() == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}
    ]
    check = bbr.router_health_check_policy_spec()["default"]["config"]
    assert check == {"type": "GRPC", "grpcHealthCheck": {"portSpecification": "USE_FIXED_PORT", "port": 9005}}


def test_every_model_and_adapter_name_maps_to_its_service() -> None:
    with_adapters = replace(GEMMA, adapters=("sql-lora",))
    assert model_names({"gemma": with_adapters, "chat": replace(GEMMA, served_name="qwen")}) == {
        "gemma": "gemma",
        "sql-lora": "gemma",
        "qwen": "chat",
    }


def test_only_the_shared_endpoints_requests_pass_the_router() -> None:
    """The chain's CEL matcher, evaluated over request.path: a service's own paths, whose bodies need no model
    lookup (and may be multipart), never reach the router, which refuses a body that is not JSON."""
    (chain,) = bbr.routing_extension_spec()["extensionChains"]
    (matcher,) = [e["celMatcher"] for e in chain["matchCondition"]["celExpressions"]]

    def passes(path: str) -> bool:
        return bool(evaluate_with(matcher, {"request": {"path": path}}))

    assert passes("/v1/chat/completions") and passes("/v1/completions")
    assert not passes("/gemma/v1/chat/completions")
    assert not passes("/embed/v1/embeddings")
    assert not passes("/v1")  # no model route there either
