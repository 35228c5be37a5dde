"""The gateway, autoscaling and network policy as the real program registers them under the mock engine.

Assertions compare objects with each other (a route's port with its Service's, a health check's path
with the Deployment's probe), not with values copied from the code under test.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from catalog.servers import server_facts
from policies.evaluate import duration_seconds
from preview.engine import ProgramRun, Registration, run_program
from preview.envfile import read_environment_file
from preview.manifests import manifests_of
from preview.plan import REDACTED, build_plan, redact
from workloads.deployment import PRESTOP_SECONDS

# Four runtimes on two pools, one autoscaled on its queue and one without auth behind an internal gateway.
ENV = (Path(__file__).parent / "fixtures" / "environments" / "serving-wiring.yaml").read_text()
SERVICES = ("embed", "gemma", "llama", "resnet")
LLMS = ("gemma", "llama", "resnet")
QUEUE_METRICS = {"gemma": "vllm:num_requests_waiting", "resnet": "nv_inference_pending_request_count"}
API_KEY_ENV = {"embed": "API_KEY", "gemma": "VLLM_API_KEY", "llama": "API_KEY"}
PICKED = (
    "gemma",
)  # vLLM: routed through its InferencePool and endpoint picker (tests/test_inference_routing_wiring.py)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> ProgramRun:
    env_file = tmp_path_factory.mktemp("env") / "Pulumi.test.yaml"
    env_file.write_text(ENV)
    return run_program("gke-serving", "test", read_environment_file(env_file))


def of_type(run: ProgramRun, type_: str) -> list[Registration]:
    return [r for r in run.registrations if r.type == type_]


def named(run: ProgramRun, type_: str, name: str) -> dict[str, Any]:
    found = [r.inputs for r in of_type(run, type_) if r.inputs.get("metadata", {}).get("name") == name]
    assert len(found) == 1, f"{type_} {name}: {len(found)}"
    return found[0]


def container(run: ProgramRun, service: str) -> dict[str, Any]:
    deployment = named(run, "kubernetes:apps/v1:Deployment", service)
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(c)


def container_port(run: ProgramRun, service: str, port_name: str) -> int:
    return int(next(p["containerPort"] for p in container(run, service)["ports"] if p["name"] == port_name))


ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
HCP = "kubernetes:networking.gke.io/v1:HealthCheckPolicy"
GBP = "kubernetes:networking.gke.io/v1:GCPBackendPolicy"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"


@pytest.mark.parametrize("service", SERVICES)
def test_route_forwards_each_served_path_onto_the_service_port(run: ProgramRun, service: str) -> None:
    rules = named(run, ROUTE, service)["spec"]["rules"]
    svc_port = named(run, "kubernetes:core/v1:Service", service)["spec"]["ports"][0]["port"]
    runtime = named(run, "kubernetes:apps/v1:Deployment", service)["metadata"]["labels"]["gke-serving/runtime"]
    model = named(run, "kubernetes:apps/v1:Deployment", service)["spec"]["template"]["metadata"]["annotations"]
    served = [p.replace("{model}", model["gke-serving/model"]) for p in server_facts()[runtime].served_paths]
    assert [r["matches"] for r in rules] == [[{"path": {"type": "Exact", "value": f"/{service}{p}"}}] for p in served]
    assert [r["filters"][0]["urlRewrite"]["path"] for r in rules] == [
        {"type": "ReplaceFullPath", "replaceFullPath": p} for p in served
    ]
    backend = (
        {"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": service}
        if service in PICKED
        else {"name": service, "port": svc_port}
    )
    assert all(r["backendRefs"] == [backend] for r in rules)


@pytest.mark.parametrize("service", SERVICES)
def test_health_check_uses_the_pods_readiness_path_and_serving_port(run: ProgramRun, service: str) -> None:
    check = named(run, HCP, service)["spec"]["default"]["config"]["httpHealthCheck"]
    readiness = container(run, service)["readinessProbe"]["httpGet"]
    assert check["requestPath"] == readiness["path"]
    assert check["port"] == container_port(run, service, "http")


@pytest.mark.parametrize("service", SERVICES)
def test_backend_policy_timeout_and_draining(run: ProgramRun, service: str) -> None:
    default = named(run, GBP, service)["spec"]["default"]
    if service in LLMS:
        assert default["timeoutSec"] == 900
        assert default["timeoutSec"] >= 300
    else:
        assert default["timeoutSec"] == 45
    prestop = container(run, service)["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert default["connectionDraining"]["drainingTimeoutSec"] == prestop == PRESTOP_SECONDS


@pytest.mark.parametrize("service", SERVICES)
def test_hpa_exactly_where_autoscaling_is_set(run: ProgramRun, service: str) -> None:
    hpas = [r.inputs for r in of_type(run, HPA) if r.inputs["metadata"]["name"] == service]
    deployment = named(run, "kubernetes:apps/v1:Deployment", service)
    if service in QUEUE_METRICS:
        (hpa,) = hpas
        assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
        metric = hpa["spec"]["metrics"][0]["pods"]["metric"]["name"]
        assert metric == f"prometheus.googleapis.com|{QUEUE_METRICS[service]}|gauge"
        assert "replicas" not in deployment["spec"]  # the HPA owns the count
    else:
        assert hpas == []
        assert deployment["spec"]["replicas"] >= 1


@pytest.mark.parametrize("service", SERVICES)
def test_api_key_env_unless_auth_is_off(run: ProgramRun, service: str) -> None:
    env = {e["name"]: e for e in container(run, service)["env"]}
    if service in API_KEY_ENV:
        ref = env[API_KEY_ENV[service]]["valueFrom"]["secretKeyRef"]
        secret = redact(named(run, "kubernetes:core/v1:Secret", ref["name"]))
        assert secret["stringData"][ref["key"]] == REDACTED  # the key exists, its value is secret
    else:
        assert not {"API_KEY", "VLLM_API_KEY"} & set(env)


@pytest.mark.parametrize("service", SERVICES)
def test_pod_monitoring_scrapes_a_port_the_pod_exposes(run: ProgramRun, service: str) -> None:
    (endpoint,) = named(run, "kubernetes:monitoring.googleapis.com/v1:PodMonitoring", service)["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in container(run, service)["ports"]}


def test_no_api_key_value_in_plaintext_in_the_plan_or_manifests(run: ProgramRun) -> None:
    keys = run.outputs["apiKeys"]
    assert sorted(keys) == sorted(API_KEY_ENV)
    assert "apiKeys" in run.secret_outputs
    plan = json.dumps(build_plan("gke-serving", "test", run))
    manifests = json.dumps([m.body for m in manifests_of(run.registrations)])
    for value in keys.values():
        assert len(value) > 8
        assert value not in plan
        assert value not in manifests


def test_gateway_uses_the_reserved_address_and_the_certificate(run: ProgramRun) -> None:
    (address,) = of_type(run, "gcp:compute/address:Address")
    (certificate,) = of_type(run, "gcp:certificatemanager/certificate:Certificate")
    gateway = named(run, "kubernetes:gateway.networking.k8s.io/v1:Gateway", "gateway")["spec"]
    assert address.inputs["addressType"] == "INTERNAL"  # gke-l7-rilb
    assert gateway["addresses"] == [{"type": "NamedAddress", "value": address.inputs["name"]}]
    (listener,) = gateway["listeners"]
    assert (listener["protocol"], listener["port"]) == ("HTTPS", 443)
    assert listener["tls"]["options"]["networking.gke.io/cert-manager-certs"] == certificate.inputs["name"]
    assert certificate.inputs["managed"]["domains"] == ["llm.example.com"]


def test_proxy_only_subnet_joins_the_cluster_vpc_and_is_admitted_by_the_network_policy(run: ProgramRun) -> None:
    subnets = {r.inputs.get("purpose"): r.inputs for r in of_type(run, "gcp:compute/subnetwork:Subnetwork")}
    proxy, nodes = subnets["REGIONAL_MANAGED_PROXY"], subnets[None]
    assert proxy["role"] == "ACTIVE"
    assert proxy["network"] == nodes["network"]
    policy = named(run, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "gemma-ingress")["spec"]
    cidrs = [peer["ipBlock"]["cidr"] for peer in policy["ingress"][0]["from"]]
    assert proxy["ipCidrRange"] in cidrs
    assert policy["ingress"][0]["ports"] == [{"protocol": "TCP", "port": container_port(run, "gemma", "http")}]


def test_serving_namespace_denies_ingress_by_default(run: ProgramRun) -> None:
    deny = named(run, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "default-deny-ingress")
    namespace = named(run, "kubernetes:core/v1:Namespace", "serving")
    assert deny["metadata"]["namespace"] == namespace["metadata"]["name"]
    assert deny["spec"]["podSelector"] == {}


def test_outputs_give_the_address_urls_and_dns_records(run: ProgramRun) -> None:
    address = run.outputs["gatewayAddress"]
    assert address.count(".") == 3
    assert run.outputs["serviceUrls"] == {s: f"https://llm.example.com/{s}" for s in SERVICES}
    records = {r["type"]: r for r in run.outputs["gatewayDnsRecords"]}
    assert records["A"] == {"name": "llm.example.com.", "type": "A", "data": address}
    assert records["CNAME"]["name"].endswith(".llm.example.com.")


def test_metrics_adapter_is_deployed_with_its_own_identity(run: ProgramRun) -> None:
    apis = sorted(r.inputs["metadata"]["name"] for r in of_type(run, "kubernetes:apiregistration.k8s.io/v1:APIService"))
    # Custom metrics only: every HPA reads a Pods metric, so the external-metrics API is not served.
    assert apis == ["v1beta1.custom.metrics.k8s.io", "v1beta2.custom.metrics.k8s.io"]
    ksa = named(run, "kubernetes:core/v1:ServiceAccount", "custom-metrics-stackdriver-adapter")
    account = next(
        r for r in of_type(run, "gcp:serviceaccount/account:Account") if r.name.endswith("metrics-adapter-gsa")
    )
    email = f"{account.inputs['accountId']}@acme-ml-test.iam.gserviceaccount.com"
    assert ksa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == email
    roles = {r.inputs["role"]: r.inputs["member"] for r in of_type(run, "gcp:projects/iAMMember:IAMMember")}
    assert roles["roles/monitoring.viewer"] == f"serviceAccount:{email}"
    binding = next(
        r.inputs
        for r in of_type(run, "gcp:serviceaccount/iAMMember:IAMMember")
        if r.inputs["role"] == "roles/iam.workloadIdentityUser" and "custom-metrics" in r.inputs["member"]
    )
    assert binding["member"].endswith(f"[{ksa['metadata']['namespace']}/{ksa['metadata']['name']}]")


def test_the_adapters_awaits_outlast_its_startup_probe(run: ProgramRun) -> None:
    """`pulumi up` and the rollout deadline wait at least as long as the startup probe lets the adapter
    start; a shorter wait fails an update whose pods are still allowed to come up."""
    (adapter,) = [
        r
        for r in of_type(run, "kubernetes:apps/v1:Deployment")
        if r.inputs["metadata"]["name"] == "custom-metrics-stackdriver-adapter"
    ]
    (server,) = adapter.inputs["spec"]["template"]["spec"]["containers"]
    probe = server["startupProbe"]
    window = probe.get("initialDelaySeconds", 0) + probe["periodSeconds"] * probe["failureThreshold"]
    timeouts = adapter.options["customTimeouts"]
    assert duration_seconds(timeouts["create"]) >= window
    assert duration_seconds(timeouts["update"]) >= window * adapter.inputs["spec"]["replicas"]
    assert adapter.inputs["spec"].get("progressDeadlineSeconds", 600) >= window  # Kubernetes' default: 600


def test_only_the_adapter_mounts_its_service_account_token(run: ProgramRun) -> None:
    """The adapter, the endpoint pickers and the body router call the API server; a model server's or the mirror's
    pod never does."""
    accounts = {r.inputs["metadata"]["name"]: r.inputs for r in of_type(run, "kubernetes:core/v1:ServiceAccount")}
    mounted = {n for n, a in accounts.items() if a.get("automountServiceAccountToken", True)}
    assert mounted == {"custom-metrics-stackdriver-adapter", "gemma-picker", "body-based-router"}
    assert "resnet-triton" in accounts  # Triton reads its bucket as its own account


def test_without_autoscaling_there_is_no_adapter_and_no_hpa(previews: Callable[[str], Any]) -> None:
    dev = previews("dev")
    assert dev.exit_code == 0
    assert dev.resources("kubernetes:apiregistration.k8s.io/v1:APIService") == []
    assert dev.resources(HPA) == []
    # Every Deployment's metrics are scraped (servers and endpoint pickers), but the body router's.
    deployments = [
        d for d in dev.resources("kubernetes:apps/v1:Deployment") if d["name"] != "inference-routing-router-deployment"
    ]
    assert len(dev.resources("kubernetes:monitoring.googleapis.com/v1:PodMonitoring")) == len(deployments)


def test_internal_class_reserves_an_internal_address_in_the_node_subnet(previews: Callable[[str], Any]) -> None:
    staging = previews("staging")
    (address,) = staging.resources("gcp:compute/address:Address")
    nodes = next(r for r in staging.resources("gcp:compute/subnetwork:Subnetwork") if "purpose" not in r["inputs"])
    assert address["inputs"]["addressType"] == "INTERNAL"
    assert address["inputs"]["subnetwork"].endswith(f"/subnetworks/{nodes['inputs']['name']}")


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_every_environment_previews_without_schema_errors(previews: Callable[[str], Any], env: str) -> None:
    preview = previews(env)
    assert preview.plan["manifests"]["schemaErrors"] == {}
    kinds = {m["kind"] for m in preview.manifests.values()}
    assert {"Gateway", "HTTPRoute", "HealthCheckPolicy", "GCPBackendPolicy", "PodMonitoring", "NetworkPolicy"} <= kinds


def test_environment_file_fixture_is_the_one_used(tmp_path: Path) -> None:
    # Guards the fixture above: the env text must parse as the program reads it.
    env_file = tmp_path / "Pulumi.x.yaml"
    env_file.write_text(ENV)
    config = read_environment_file(env_file)
    assert json.loads(config.values["gke-serving:gateway"])["domain"] == "llm.example.com"
