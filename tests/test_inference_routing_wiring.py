"""Model-aware routing as the real program registers it under the mock engine: the pool, its picker and the shared
/v1 endpoint agree with the server they route to (objects compared with each other, not with the code's values)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from preview.engine import ProgramRun, run_program
from preview.envfile import read_environment_file

ENV = (Path(__file__).parent / "fixtures" / "environments" / "serving-wiring.yaml").read_text()
POOL = "kubernetes:inference.networking.k8s.io/v1:InferencePool"
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
HCP = "kubernetes:networking.gke.io/v1:HealthCheckPolicy"
GBP = "kubernetes:networking.gke.io/v1:GCPBackendPolicy"
POOL_REF = {"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": "gemma"}


def program(tmp: Path, text: str) -> ProgramRun:
    env_file = tmp / "Pulumi.test.yaml"
    env_file.write_text(text)
    return run_program("gke-serving", "test", read_environment_file(env_file))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> ProgramRun:
    return program(tmp_path_factory.mktemp("env"), ENV)


def named(run: ProgramRun, type_: str, name: str) -> dict[str, Any]:
    found = [r.inputs for r in run.registrations if r.type == type_ and r.inputs["metadata"]["name"] == name]
    assert len(found) == 1, f"{type_} {name}: {len(found)}"
    return found[0]


def server(run: ProgramRun) -> dict[str, Any]:
    return dict(named(run, "kubernetes:apps/v1:Deployment", "gemma")["spec"]["template"])


def served_name(run: ProgramRun) -> str:
    (container,) = server(run)["spec"]["containers"]
    (flag,) = [a for a in container["args"] if a.startswith("--served-model-name=")]
    return str(flag.split("=", 1)[1])


def test_the_pool_selects_the_servers_pods_on_their_serving_port(run: ProgramRun) -> None:
    pool = named(run, POOL, "gemma")["spec"]
    labels = server(run)["metadata"]["labels"]
    assert pool["selector"]["matchLabels"].items() <= labels.items()
    (container,) = server(run)["spec"]["containers"]
    http = next(p["containerPort"] for p in container["ports"] if p["name"] == "http")
    assert pool["targetPorts"] == [{"number": http}]


def test_the_pool_calls_its_picker_on_the_picker_services_ext_proc_port(run: ProgramRun) -> None:
    ref = named(run, POOL, "gemma")["spec"]["endpointPickerRef"]
    service = named(run, "kubernetes:core/v1:Service", ref["name"])["spec"]
    assert ref["port"]["number"] in [p["port"] for p in service["ports"]]
    picker = named(run, "kubernetes:apps/v1:Deployment", ref["name"])["spec"]["template"]
    assert service["selector"].items() <= picker["metadata"]["labels"].items()


def test_the_picker_reads_the_servers_engine_and_its_own_config(run: ProgramRun) -> None:
    picker = named(run, "kubernetes:apps/v1:Deployment", "gemma-picker")["spec"]["template"]["spec"]
    (container,) = picker["containers"]
    config_file = next(a.split("=", 1)[1] for a in container["args"] if a.startswith("--config-file="))
    mount = next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "config")
    config_map = named(run, "kubernetes:core/v1:ConfigMap", picker["volumes"][0]["configMap"]["name"])
    config = yaml.safe_load(config_map["data"][config_file.removeprefix(f"{mount}/")])
    extractor = next(p for p in config["plugins"] if p["type"] == "core-metrics-extractor")
    assert extractor["parameters"]["defaultEngine"] == server(run)["metadata"]["labels"]["llm-d.ai/engine-type"]
    assert "--pool-name=gemma" in container["args"]


def test_the_load_balancer_checks_and_times_out_the_pool_and_a_tgi_service_keeps_its_service(run: ProgramRun) -> None:
    assert named(run, HCP, "gemma")["spec"]["targetRef"] == POOL_REF
    assert named(run, GBP, "gemma")["spec"]["targetRef"] == POOL_REF
    assert named(run, HCP, "llama")["spec"]["targetRef"] == {"group": "", "kind": "Service", "name": "llama"}
    assert [r.inputs["metadata"]["name"] for r in run.registrations if r.type == POOL] == ["gemma"]


def test_the_shared_endpoint_routes_the_servers_own_model_name_to_its_pool(run: ProgramRun) -> None:
    (rule,) = named(run, ROUTE, "gemma-openai")["spec"]["rules"]
    assert rule["backendRefs"] == [POOL_REF]
    assert {h["value"] for m in rule["matches"] for h in m["headers"]} == {served_name(run)}
    models = named(run, "kubernetes:core/v1:ConfigMap", "gemma-models")
    assert models["data"]["baseModel"] == served_name(run)
    assert models["metadata"]["labels"]["inference.networking.k8s.io/bbr-managed"] == "true"
    extension = named(run, "kubernetes:networking.gke.io/v1:GCPRoutingExtension", "body-based-router")["spec"]
    backend = extension["extensionChains"][0]["extensions"][0]["backendRef"]
    router = named(run, "kubernetes:core/v1:Service", backend["name"])["spec"]
    assert backend["port"] in [p["port"] for p in router["ports"]]


def test_outputs_name_the_shared_endpoint_and_each_models_service_without_keys(run: ProgramRun) -> None:
    assert run.outputs["openaiUrl"] == "https://llm.example.com/v1"
    assert run.outputs["models"] == {served_name(run): "gemma"}
    assert "models" not in run.secret_outputs


def test_the_cluster_asks_for_the_inference_gateways_version_only_when_a_service_is_picked(
    run: ProgramRun, tmp_path: Path
) -> None:
    (cluster,) = [r.inputs for r in run.registrations if r.type == "gcp:container/cluster:Cluster"]
    assert cluster["minMasterVersion"] == "1.34.0-gke.1626000"
    plain = program(
        tmp_path,
        ENV.replace(
            "      autoscaling: {minReplicas: 1, maxReplicas: 3, targetQueueSize: 4}",
            "      autoscaling: {minReplicas: 1, maxReplicas: 3, targetQueueSize: 4}\n      routing: {picker: false}",
        ),
    )
    (cluster,) = [r.inputs for r in plain.registrations if r.type == "gcp:container/cluster:Cluster"]
    assert "minMasterVersion" not in cluster
    assert [r for r in plain.registrations if r.type == POOL] == []
