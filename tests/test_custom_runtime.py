"""The custom runtime: any image with its command, port, probes, metrics, GPUs, env and API-key variable,
refused with the same depth as the built-in servers, rendered through the same code paths (routes,
probes, hardening, disruption budget, network policy) and memory-sized only with an `architecture`.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from config import parse_environment
from policies.evaluate import evaluate
from policies.rules.memory import NotSized, fit_request, memory_report, model_architecture_known, model_fits_gpu_memory
from policies.rules.pods import Pod, pod_of
from preview.engine import ProgramRun, run_program
from preview.envfile import read_environment_file
from preview.manifests import manifests_of, validate_manifest
from preview.plan import build_plan
from runtimes.custom import Custom, CustomService
from sizing.memory import estimate
from tests.test_config import problems, with_service
from tests.test_policy_rules import not_applicable, violations
from workloads.probes import weights_gib

# --- config ----------------------------------------------------------------------------------------

GOOGLE_KEY = "AIza" + "SyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUv"  # the shape of a Google API key
OCR: dict[str, Any] = {
    "runtime": "custom",
    "model": "acme/ocr-large",
    "image": "ghcr.io/acme/ocr-server:2.1.0",
    "port": 9000,
    "pool": "l4",
    "apiKeyEnv": "OCR_API_KEY",
}
P = "gke-serving:services.svc"


def ocr(**changes: Any) -> dict[str, Any]:
    """OCR with `changes`; a value of ... removes the key."""
    return {k: v for k, v in {**OCR, **changes}.items() if v is not ...}


def test_a_minimal_custom_service_parses_and_takes_its_defaults() -> None:
    s = parse_environment(with_service(**OCR)).services["svc"]
    assert isinstance(s, CustomService)
    assert (s.health_path, s.gpus, s.args, s.env, s.command) == ("/health", 1, [], {}, None)
    assert s.served_paths == ["/v1/chat/completions", "/v1/completions", "/v1/models"]


RESERVED = "; a server may set any variable but those listed in catalog/reserved_env.yaml"
REFUSED = [
    (
        "no image",
        ocr(image=...),
        f"{P}.image: required key is missing — add it (see the environment-file reference in README.md)",
    ),
    (
        "an image without a tag",
        ocr(image="ghcr.io/acme/ocr"),
        f"{P}.image: 'ghcr.io/acme/ocr' has no tag — pin a version tag or a digest (@sha256:...)",
    ),
    (
        "the latest tag",
        ocr(image="ghcr.io/acme/ocr:latest"),
        f"{P}.image: 'ghcr.io/acme/ocr:latest' uses the moving tag latest — pin a version tag or a digest",
    ),
    (
        "a privileged port",
        ocr(port=80),
        f"{P}.port: 80: input should be greater than or equal to 1024 — change the value",
    ),
    (
        "a health path without its slash",
        ocr(healthPath="health"),
        f"{P}.healthPath: 'health' is not an HTTP path — write a path starting with /, of letters, digits and - . _ ~ "
        "! $ & ' ( ) * + , ; = : / or %-escapes, optionally followed by ?query, e.g. /health or /health?ready=1",
    ),
    (
        "zero retries",
        ocr(maxRetries=0),
        f"{P}.maxRetries: 0: input should be greater than or equal to 1 — change the value",
    ),
    (
        "an infinite checkpoint",
        ocr(checkpointGb=float("inf")),
        f"{P}.checkpointGb: inf is not a finite number — write a number, e.g. 3",
    ),
    ("root", ocr(runAsUser=0), f"{P}.runAsUser: 0: input should be greater than or equal to 1 — change the value"),
    (
        "HF_TOKEN in env",
        ocr(env={"HF_TOKEN": ""}),
        f"{P}.env: HF_TOKEN is reserved: it carries the Hugging Face token, which the platform fills from its "
        f"Secret (source: platform) — remove it from env{RESERVED}",
    ),
    (
        "HF_HOME in env",
        ocr(env={"HF_HOME": "/data"}),
        f"{P}.env: HF_HOME is reserved: it is where the platform mounts the model cache (source: platform) — remove "
        f"it from env{RESERVED}",
    ),
    (
        "the API-key variable in env",
        ocr(env={"OCR_API_KEY": ""}),
        f"{P}.env.OCR_API_KEY: OCR_API_KEY is the service's apiKeyEnv: the platform fills it from the generated key "
        "— remove it from env",
    ),
    (
        "the token as the API-key variable",
        ocr(apiKeyEnv="HF_TOKEN"),
        f"{P}.apiKeyEnv: HF_TOKEN is reserved: it carries the Hugging Face token, which the platform fills from its "
        f"Secret (source: platform) — name the variable the image reads its API key from{RESERVED}",
    ),
    (
        "not a variable name",
        ocr(env={"1X": "x"}),
        f"{P}.env: '1X' is not an environment variable name — use letters, digits and _, not starting with a digit",
    ),
    (
        "autoscaling without metrics",
        ocr(autoscaling={"maxReplicas": 2}),
        f"{P}.autoscaling: the autoscaler scales on a queue metric of the server, and the service names none — add "
        "metrics.queueMetric (a gauge of the requests waiting in one replica), or remove autoscaling",
    ),
    (
        "autoscaling with metrics but no queue metric",
        ocr(metrics={"path": "/stats"}, autoscaling={"maxReplicas": 2}),
        f"{P}.autoscaling: the autoscaler scales on a queue metric of the server, and the service names none — add "
        "metrics.queueMetric (a gauge of the requests waiting in one replica), or remove autoscaling",
    ),
    (
        "auth without apiKeyEnv and without IAP",
        ocr(apiKeyEnv=...),
        f"{P}.auth: custom runtime has no API-key check of its own — enable Identity-Aware Proxy on the gateway "
        "(gateway.iap.oauthClientId and the secret iapClientSecret), or set auth: false (the route is then open to "
        "anyone who reaches the gateway)",
    ),
    (
        "more GPUs than a node has",
        ocr(gpus=2),
        f"{P}.gpus: one replica needs 2 GPUs but a node of pool 'l4' has 1 — use a pool of g2-standard-24, or lower "
        "the parallelism to 1",
    ),
    (
        "the metrics path routed",
        ocr(servedPaths=["/v1/ocr", "/metrics"]),
        f"{P}.servedPaths: /metrics is the metrics path: routing it would publish the server's metrics — remove "
        "/metrics from servedPaths, or move the metrics (metrics.path or metrics.port)",
    ),
    (
        "a path an HTTPRoute refuses",
        ocr(servedPaths=["/v1//ocr"]),
        f"{P}.servedPaths: '/v1//ocr' holds a sequence an HTTPRoute refuses or a server reads as another folder "
        "(percent-encoded ones decoded) — write a plain path: no //, /./, /../, %2F or \\, and no trailing /. or /..",
    ),
    ("a path twice", ocr(servedPaths=["/a", "/a"]), f"{P}.servedPaths: /a listed more than once — list each path once"),
    (
        "no served path",
        ocr(servedPaths=[]),
        f"{P}.servedPaths: the list is empty — list at least one entry, or remove the key for the default",
    ),
    (
        "a revision the image never sees",
        ocr(revision="main"),
        f"{P}.revision: the custom runtime passes no revision to an image that fetches its own weights, so it would "
        "not pin them; a revision pins only a mirror copy the pod mounts — give the revision in args (the image's own "
        "flag) and remove revision, or set a mounted `load`",
    ),
    (
        "a group without a user",
        ocr(runAsGroup=1000),
        f"{P}.runAsGroup: a group without runAsUser is not applied (the image's user and group stand) — set runAsUser "
        "too, or remove runAsGroup",
    ),
]


@pytest.mark.parametrize(("case", "service", "expected"), REFUSED, ids=[c[0] for c in REFUSED])
def test_a_custom_service_is_refused_with_the_path_and_the_fix(
    case: str, service: dict[str, Any], expected: str
) -> None:
    assert problems(with_service(**service)) == [expected], case


def test_a_credential_in_env_is_refused_without_being_echoed() -> None:
    found = problems(with_service(**ocr(env={"OCR_LICENSE": GOOGLE_KEY})))
    assert found == [
        f"{P}.env.OCR_LICENSE: holds what looks like a Google API key (AIza…) — remove it, and revoke it if it is "
        "real: a credential goes only into a secret key (`pulumi config set --secret <key> ...`), never into a plain "
        "setting",
    ]
    assert not any(GOOGLE_KEY in p for p in found)
    # In a variable's name, the environment's own check reports it at the map, and nothing else repeats it.
    assert problems(with_service(**ocr(env={GOOGLE_KEY: "x"}))) == [
        f"{P}.env: holds what looks like a Google API key (AIza…) in a key — remove it, and revoke it if it is real: "
        "a credential goes only into a secret key (`pulumi config set --secret <key> ...`), never into a plain setting"
    ]


def test_auth_without_an_api_key_variable_is_accepted_behind_iap() -> None:
    raw = with_service(**ocr(apiKeyEnv=...))
    raw["gke-serving:gateway"] = {"iap": {"oauthClientId": "1234-abc.apps.googleusercontent.com"}}
    raw["gke-serving:iapClientSecret"] = "placeholder"
    assert parse_environment(raw).services["svc"].auth


def test_the_runtime_reads_no_catalog_block() -> None:
    service = CustomService.model_validate(OCR)
    with pytest.raises(LookupError, match="no catalog block"):
        _ = Custom().facts
    facts = Custom().facts_for(service)
    assert (facts.image, facts.version, facts.port, facts.health) == (
        "ghcr.io/acme/ocr-server",
        "2.1.0",
        9000,
        "/health",
    )
    assert (facts.hf_home, facts.api_key_env, facts.read_only_root, facts.queue_metric) == (
        None,
        "OCR_API_KEY",
        False,
        "",
    )


# --- rendering, under the mock engine --------------------------------------------------------------

DIGEST = "sha256:" + "ab" * 32
ENV = textwrap.dedent(f"""\
    config:
      gcp:project: acme-ml-test
      gcp:region: us-central1
      gke-serving:cluster:
        name: serving-test
        location: us-central1
      gke-serving:nodePools:
        l4:
          machineType: g2-standard-8
          gpu: {{type: nvidia-l4, count: 1}}
          maxNodes: 4
        l4x2:
          machineType: g2-standard-24
          gpu: {{type: nvidia-l4, count: 2}}
          maxNodes: 4
      gke-serving:hfToken:
        secure: v1:placeholder
      gke-serving:gateway:
        className: gke-l7-rilb   # internal: `tiny` runs without auth, which an external gateway refuses
        domain: llm.example.com
      gke-serving:services:
        ocr:
          runtime: custom
          model: acme/ocr-large
          image: ghcr.io/acme/ocr-server:2.1.0
          command: [python, -m, ocr.serve]
          args: [--listen, "0.0.0.0:9000"]
          extraArgs: ["--languages=en,de"]
          port: 9000
          healthPath: /ready
          initialDelaySeconds: 20
          maxRetries: 120
          metrics: {{path: /stats, port: 9100, queueMetric: ocr_queue_depth}}
          gpus: 2
          pool: l4x2
          env: {{OCR_THREADS: "8"}}
          apiKeyEnv: OCR_API_KEY
          checkpointGb: 12
          servedPaths: [/v1/ocr, /v1/models]
          runAsUser: 1000
          runAsGroup: 2000
          autoscaling: {{minReplicas: 2, maxReplicas: 2}}
        tiny:
          runtime: custom
          model: Qwen/Qwen2.5-1.5B-Instruct-GGUF
          image: ghcr.io/ggml-org/llama.cpp:server-cuda-b11206@{DIGEST}
          port: 8080
          pool: l4
          auth: false
          architecture: {{paramsBillion: 1.54, layers: 28, hiddenSize: 1536, attentionHeads: 12, kvHeads: 2,
                         headDim: 128, intermediateSize: 8960, vocabSize: 151936, maxPositionEmbeddings: 32768}}
    """)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> ProgramRun:
    env_file = tmp_path_factory.mktemp("env") / "Pulumi.test.yaml"
    env_file.write_text(ENV)
    return run_program("gke-serving", "test", read_environment_file(Path(env_file)))


def named(run: ProgramRun, type_: str, name: str) -> dict[str, Any]:
    found = [
        r.inputs for r in run.registrations if r.type == type_ and r.inputs.get("metadata", {}).get("name") == name
    ]
    assert len(found) == 1, f"{type_} {name}: {len(found)}"
    return found[0]


DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def container(run: ProgramRun, service: str) -> dict[str, Any]:
    (c,) = named(run, DEPLOYMENT, service)["spec"]["template"]["spec"]["containers"]
    return dict(c)


def pod(run: ProgramRun, service: str) -> Pod:
    found = pod_of(DEPLOYMENT, named(run, DEPLOYMENT, service))
    assert found is not None
    return found


def test_the_container_runs_the_images_command_args_env_and_ports(run: ProgramRun) -> None:
    c = container(run, "ocr")
    assert c["image"] == "ghcr.io/acme/ocr-server:2.1.0"
    assert c["command"] == ["python", "-m", "ocr.serve"]
    assert c["args"] == ["--listen", "0.0.0.0:9000", "--languages=en,de"]
    assert c["env"][0] == {"name": "OCR_THREADS", "value": "8"}
    assert c["ports"] == [
        {"name": "http", "containerPort": 9000, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 9100, "protocol": "TCP"},
    ]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "2"
    # Without a command the image's entrypoint runs, with no argument the platform made up.
    assert "command" not in container(run, "tiny")
    assert container(run, "tiny")["args"] == []


def test_the_probes_take_the_initial_delay_and_the_retries_and_the_waits_cover_them(run: ProgramRun) -> None:
    c = container(run, "ocr")
    startup = c["startupProbe"]
    assert startup["httpGet"] == {"path": "/ready", "port": "http"}
    assert (startup["initialDelaySeconds"], startup["failureThreshold"]) == (20, 120)
    assert c["readinessProbe"]["httpGet"] == c["livenessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    window = startup["initialDelaySeconds"] + startup["periodSeconds"] * startup["failureThreshold"]
    assert named(run, DEPLOYMENT, "ocr")["spec"]["progressDeadlineSeconds"] > window
    # Without its own numbers the startup probe follows the budget, with no initial delay.
    assert "initialDelaySeconds" not in container(run, "tiny")["startupProbe"]


QWEN_1_5B = {
    "paramsBillion": 1.54,
    "layers": 28,
    "hiddenSize": 1536,
    "attentionHeads": 12,
    "kvHeads": 2,
    "headDim": 128,
    "intermediateSize": 8960,
    "vocabSize": 151936,
    "maxPositionEmbeddings": 32768,
}


def test_checkpoint_gb_sets_the_startup_budget() -> None:
    def weights(**changes: Any) -> float | None:
        return weights_gib(parse_environment(with_service(**ocr(**changes))).services["svc"])

    assert weights(checkpointGb=12) == pytest.approx(12e9 / 2**30)  # GB as the Hub lists files
    assert weights() is None  # no checkpointGb, architecture or catalog entry: the unknown-model budget
    from_architecture = weights(architecture=QWEN_1_5B)
    assert from_architecture is not None
    assert weights(checkpointGb=12, architecture=QWEN_1_5B) != from_architecture  # the stated size wins


def test_the_pod_is_hardened_and_gets_no_hugging_face_token_or_cache(run: ProgramRun) -> None:
    for service in ("ocr", "tiny"):
        c = container(run, service)
        assert c["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": False,
        }
        assert all(e["name"] not in ("HF_TOKEN", "HF_HOME") for e in c["env"]), service
        volumes = named(run, DEPLOYMENT, service)["spec"]["template"]["spec"]["volumes"]
        assert "model-cache" not in [v["name"] for v in volumes], service
    spec = named(run, DEPLOYMENT, "ocr")["spec"]["template"]["spec"]
    assert spec["securityContext"] == {
        "seccompProfile": {"type": "RuntimeDefault"},
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 2000,
        "fsGroup": 2000,
    }
    # No user given: the image's own, without a runAsNonRoot the kubelet could not prove.
    assert named(run, DEPLOYMENT, "tiny")["spec"]["template"]["spec"]["securityContext"] == {
        "seccompProfile": {"type": "RuntimeDefault"}
    }


def test_the_api_key_variable_is_filled_from_the_services_secret(run: ProgramRun) -> None:
    (key,) = [e for e in container(run, "ocr")["env"] if e["name"] == "OCR_API_KEY"]
    secret = named(run, "kubernetes:core/v1:Secret", key["valueFrom"]["secretKeyRef"]["name"])
    data = secret["stringData"]
    assert key["valueFrom"]["secretKeyRef"]["key"] in data.get("value", data)  # the engine wraps a secret value
    assert container(run, "tiny")["env"] == []  # auth: false, and no key variable anyway
    assert "ocr" in run.outputs["apiKeys"] and "tiny" not in run.outputs["apiKeys"]


def test_the_route_forwards_only_the_served_paths(run: ProgramRun) -> None:
    rules = named(run, "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "ocr")["spec"]["rules"]
    assert [r["matches"] for r in rules] == [
        [{"path": {"type": "Exact", "value": "/ocr/v1/ocr"}}],
        [{"path": {"type": "Exact", "value": "/ocr/v1/models"}}],
    ]
    assert [r["filters"][0]["urlRewrite"]["path"]["replaceFullPath"] for r in rules] == ["/v1/ocr", "/v1/models"]
    port = named(run, "kubernetes:core/v1:Service", "ocr")["spec"]["ports"][0]["port"]
    assert all(r["backendRefs"] == [{"name": "ocr", "port": port}] for r in rules)
    tiny = named(run, "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "tiny")["spec"]["rules"]
    assert [r["filters"][0]["urlRewrite"]["path"]["replaceFullPath"] for r in tiny] == [
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/models",
    ]
    check = named(run, "kubernetes:networking.gke.io/v1:HealthCheckPolicy", "ocr")["spec"]["default"]["config"]
    assert check["httpHealthCheck"] == {"portSpecification": "USE_FIXED_PORT", "port": port, "requestPath": "/ready"}


def test_metrics_are_scraped_where_the_service_says_and_scale_the_hpa(run: ProgramRun) -> None:
    (endpoint,) = named(run, "kubernetes:monitoring.googleapis.com/v1:PodMonitoring", "ocr")["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("metrics", "/stats")
    hpa = named(run, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "ocr")["spec"]
    assert hpa["metrics"][0]["pods"]["metric"]["name"] == "prometheus.googleapis.com|ocr_queue_depth|gauge"
    ingress = named(run, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "ocr-ingress")["spec"]["ingress"]
    assert [rule["ports"] for rule in ingress] == [
        [{"protocol": "TCP", "port": 9000}],
        [{"protocol": "TCP", "port": 9100}],
    ]


def test_a_disruption_budget_as_for_the_built_in_servers(run: ProgramRun) -> None:
    pdb = named(run, "kubernetes:policy/v1:PodDisruptionBudget", "ocr")["spec"]
    assert pdb == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": named(run, DEPLOYMENT, "ocr")["spec"]["selector"]["matchLabels"]},
    }


def test_the_manifests_validate_and_the_mandatory_policies_pass(run: ProgramRun) -> None:
    mine = [
        m for m in manifests_of(run.registrations) if m.body["metadata"].get("name", "").startswith(("ocr", "tiny"))
    ]
    assert {m.body["kind"] for m in mine} >= {"Deployment", "Service", "HTTPRoute", "NetworkPolicy", "PodMonitoring"}
    assert {m.file: validate_manifest(m.body, "1.34") for m in mine} == {m.file: [] for m in mine}
    resources = build_plan("gke-serving", "test", run)["resources"]
    assert [v for v in evaluate(resources, "dev") if v["enforcement"] == "mandatory"] == []


# --- memory fit ------------------------------------------------------------------------------------


def test_memory_fit_is_not_checked_without_an_architecture(run: ProgramRun) -> None:
    props = named(run, DEPLOYMENT, "ocr")
    reason = "custom runtime: memory fit not checked — give the service an `architecture`"
    with pytest.raises(NotSized, match=reason):
        fit_request(pod(run, "ocr"))
    assert not_applicable(model_fits_gpu_memory, props) == reason
    assert violations(model_architecture_known, props) == []  # not checked is listed, not failed


def test_memory_fit_is_checked_with_an_architecture(run: ProgramRun) -> None:
    request = fit_request(pod(run, "tiny"))
    assert (request.engine, request.model, request.tensor_parallel) == ("tgi", "Qwen/Qwen2.5-1.5B-Instruct-GGUF", 1)
    assert request.max_len is None  # the architecture's full context: nothing in the arguments says less
    assert estimate(request).fits
    resources = build_plan("gke-serving", "test", run)["resources"]
    rows = {row["service"]: row for row in memory_report(resources)}
    assert rows["tiny"]["fits"] is True
    assert rows["ocr"]["notChecked"] == "custom runtime: memory fit not checked — give the service an `architecture`"
