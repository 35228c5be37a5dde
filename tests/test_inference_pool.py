"""A picker-routed service's InferencePool and endpoint picker, field by field (workloads/inference_pool.py), and
the picker's flags parsed as its own flag set reads them."""

from __future__ import annotations

import pytest
import yaml

import catalog
from config import parse_environment
from runtimes import SglangService, TgiService, VllmService
from settings.routing import Routing, ScorerWeights
from tests.test_config import problems, with_service
from workloads import inference_pool as pool
from workloads.server import server_spec

L4 = catalog.gpus()["nvidia-l4"]
GEMMA = server_spec(
    "gemma", VllmService.model_validate({"runtime": "vllm", "model": "google/gemma-7b", "pool": "l4"}), L4
)
CHAT = server_spec(
    "chat", SglangService.model_validate({"runtime": "sglang", "model": "Qwen/Qwen2.5-7B-Instruct", "pool": "l4"}), L4
)


def flags(args: list[str]) -> dict[str, str]:
    """--name=value -> {name: value}; a bare --flag -> "true" (pflag's reading of a boolean)."""
    out = {}
    for arg in args:
        name, _, value = arg.removeprefix("--").partition("=")
        out[name] = value or "true"
    return out


def test_the_pool_selects_the_services_pods_on_its_port_and_names_its_picker() -> None:
    spec = pool.inference_pool_spec("gemma", GEMMA, Routing())
    assert spec["selector"] == {
        "matchLabels": {"app.kubernetes.io/name": "gemma", "app.kubernetes.io/instance": "gemma"}
    }
    assert spec["targetPorts"] == [{"number": 8000}]
    assert spec["endpointPickerRef"] == {
        "group": "",
        "kind": "Service",
        "name": "gemma-picker",
        "port": {"number": 9002},
        "failureMode": "FailOpen",
    }
    closed = pool.inference_pool_spec("gemma", GEMMA, Routing.model_validate({"failureMode": "FailClose"}))
    assert closed["endpointPickerRef"]["failureMode"] == "FailClose"


def test_picked_servers_carry_the_engine_label_value_and_prefix_caching() -> None:
    assert (GEMMA.picker_engine, CHAT.picker_engine) == ("vllm", "sglang")
    assert "--enable-prefix-caching" in GEMMA.args
    plain = server_spec(
        "gemma",
        VllmService.model_validate(
            {"runtime": "vllm", "model": "google/gemma-7b", "pool": "l4", "routing": {"picker": False}}
        ),
        L4,
    )
    assert plain.picker_engine is None
    assert "--enable-prefix-caching" not in plain.args
    tgi = server_spec(
        "llama", TgiService.model_validate({"runtime": "tgi", "model": "meta-llama/Llama-2-7b-hf", "pool": "l4"}), L4
    )
    assert tgi.picker_engine is None


def test_the_config_weighs_the_default_scorers_as_llm_d_does() -> None:
    config = pool.picker_config("vllm", ScorerWeights(), "/metrics", lora_affinity=False)
    assert (config["apiVersion"], config["kind"]) == ("llm-d.ai/v1alpha1", "EndpointPickerConfig")
    (profile,) = config["schedulingProfiles"]
    assert profile == {
        "name": "default",
        "plugins": [
            {"pluginRef": "queue-scorer", "weight": 2},
            {"pluginRef": "kv-cache-utilization-scorer", "weight": 2},
            {"pluginRef": "prefix-cache-scorer", "weight": 3},
        ],
    }
    types = [p["type"] for p in config["plugins"]]
    assert types == [
        "queue-scorer",
        "kv-cache-utilization-scorer",
        "prefix-cache-scorer",
        "metrics-data-source",
        "core-metrics-extractor",
    ]
    assert config["plugins"][3]["parameters"] == {"scheme": "http", "path": "/metrics"}
    assert config["plugins"][4]["parameters"] == {"defaultEngine": "vllm"}


def test_adapters_add_lora_affinity_and_a_zero_weight_drops_a_scorer() -> None:
    weights = ScorerWeights.model_validate({"prefixCache": 0, "loraAffinity": 4})
    config = pool.picker_config("vllm", weights, "/metrics", lora_affinity=True)
    refs = {p["pluginRef"]: p["weight"] for p in config["schedulingProfiles"][0]["plugins"]}
    assert refs == {"queue-scorer": 2, "kv-cache-utilization-scorer": 2, "lora-affinity-scorer": 4}
    assert "prefix-cache-scorer" not in [p["type"] for p in config["plugins"]]


def test_sglang_pools_read_sglang_metrics() -> None:
    config = pool.picker_config("sglang", ScorerWeights(), CHAT.metrics_path, lora_affinity=False)
    assert config["plugins"][-1] == {"type": "core-metrics-extractor", "parameters": {"defaultEngine": "sglang"}}


def test_the_config_map_holds_the_file_the_picker_reads() -> None:
    config = pool.picker_config("vllm", ScorerWeights(), "/metrics", lora_affinity=False)
    data = pool.picker_config_data(config)
    assert list(data) == ["endpoint-picker.yaml"]
    assert yaml.safe_load(data["endpoint-picker.yaml"]) == config
    args = flags(pool.picker_args("gemma", "serving", Routing()))
    assert args["config-file"] == "/config/endpoint-picker.yaml"


def test_the_picker_is_told_its_pool_and_namespace_and_elects_only_when_replicated() -> None:
    args = flags(pool.picker_args("gemma", "serving", Routing()))
    assert (args["pool-name"], args["pool-namespace"], args["pool-group"]) == (
        "gemma",
        "serving",
        "inference.networking.k8s.io",
    )
    assert (args["grpc-port"], args["grpc-health-port"], args["metrics-port"]) == ("9002", "9003", "9090")
    assert (args["tracing"], args["metrics-endpoint-auth"], args["enable-pprof"]) == ("false", "false", "false")
    assert "ha-enable-leader-election" not in args
    assert "v" not in args
    ha = flags(pool.picker_args("gemma", "serving", Routing.model_validate({"pickerReplicas": 2, "logRequests": True})))
    assert ha["ha-enable-leader-election"] == "true"
    assert ha["v"] == "3"


def test_the_picker_deployment_is_hardened_and_on_the_system_pool() -> None:
    spec = pool.picker_deployment_spec("gemma", "serving", Routing(), "abc", 100)
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "ghcr.io/llm-d/llm-d-router-endpoint-picker:v0.10.0"
    assert pod["nodeSelector"] == {"cloud.google.com/gke-nodepool": "system"}
    assert pod["serviceAccountName"] == "gemma-picker"
    assert pod["securityContext"]["runAsUser"] == 65532
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["resources"] == {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}
    assert pod["terminationGracePeriodSeconds"] == 100
    assert spec["template"]["metadata"]["annotations"] == {"gke-serving/config-hash": "abc"}
    assert {p["containerPort"] for p in container["ports"]} == {9002, 9003, 9090}
    assert container["readinessProbe"]["grpc"] == {"port": 9003, "service": "inference-extension"}
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def test_electing_pickers_probe_leadership_and_recreate() -> None:
    spec = pool.picker_deployment_spec("gemma", "serving", Routing.model_validate({"pickerReplicas": 2}), "abc", 100)
    (container,) = spec["template"]["spec"]["containers"]
    assert spec["replicas"] == 2
    assert container["readinessProbe"]["grpc"]["service"] == "readiness"
    assert container["livenessProbe"]["grpc"]["service"] == "liveness"
    assert spec["strategy"] == {"type": "Recreate"}
    # Only the leader is ever ready: `pulumi up` cannot wait for every replica.
    assert pool.picker_annotations(Routing.model_validate({"pickerReplicas": 2})) == {"pulumi.com/skipAwait": "true"}
    assert pool.picker_annotations(Routing()) == {}


def test_the_role_reads_only_what_the_picker_reads_and_leases_when_electing() -> None:
    single = pool.picker_role_rules(Routing())
    assert {(tuple(r["apiGroups"]), tuple(r["resources"])) for r in single} == {
        (("",), ("pods",)),
        (("inference.networking.k8s.io",), ("inferencepools",)),
        (("llm-d.ai",), ("inferenceobjectives",)),
    }
    assert all(r["verbs"] == ["get", "list", "watch"] for r in single)
    electing = pool.picker_role_rules(Routing.model_validate({"pickerReplicas": 3}))
    assert {"leases"} <= {res for r in electing for res in r["resources"]}
    binding = pool.picker_role_binding("gemma", "serving")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "gemma-picker", "namespace": "serving"}]


def test_the_picker_service_exposes_ext_proc_and_metrics() -> None:
    ports = {p["name"]: p for p in pool.picker_service_spec("gemma")["ports"]}
    assert ports["grpc-ext-proc"]["port"] == 9002
    assert ports["grpc-ext-proc"]["appProtocol"] == "kubernetes.io/h2c"
    assert ports["http-metrics"]["port"] == 9090


@pytest.mark.parametrize(
    "spelling", ["--no-enable-prefix-caching", "--enable-prefix-caching", "--enable_prefix_caching"]
)
def test_prefix_caching_is_the_platforms_on_a_picked_service_and_the_users_on_a_plain_route(spelling: str) -> None:
    service = {"runtime": "vllm", "model": "Qwen/Qwen2.5-1.5B-Instruct", "pool": "l4", "extraArgs": [spelling]}
    assert [p for p in problems(with_service(**service)) if "prefix caching" in p] == [
        f"gke-serving:services.svc.extraArgs: {spelling} sets prefix caching, which the platform turns on for a "
        "service the endpoint picker routes (its prefix-cache scorer relies on it) — remove it, or set routing: "
        "{picker: false} to keep the plain route"
    ]
    plain = parse_environment(with_service(**service, routing={"picker": False}))
    assert plain.services["svc"].extra_args == [spelling]
