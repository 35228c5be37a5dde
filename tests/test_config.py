"""Validation of environment files: each rule, good and bad, with the exact message."""

from __future__ import annotations

import copy
from importlib import resources
from typing import Any

import pytest

import catalog
from config import InvalidEnvironment, parse_environment
from config.platform import KUBERNETES_VERSIONS
from preview.manifests import validate_manifest
from settings.limits import MAX_GPUS
from settings.secrets import credential_kind
from tests.tables import table

VALID: dict[str, Any] = {
    "gcp:project": "acme-ml-dev",
    "gcp:region": "us-central1",
    "gke-serving:hfToken": "placeholder",
    "gke-serving:cluster": {"name": "serving-dev", "location": "us-central1-a"},
    "gke-serving:nodePools": {
        "l4": {"machineType": "g2-standard-8", "gpu": {"type": "nvidia-l4", "count": 1}, "maxNodes": 4},
        "l4x2": {"machineType": "g2-standard-24", "gpu": {"type": "nvidia-l4", "count": 2}, "maxNodes": 2},
        "t4": {"machineType": "n1-standard-8", "gpu": {"type": "nvidia-tesla-t4", "count": 1}, "maxNodes": 1},
        "a100": {"machineType": "a2-highgpu-1g", "gpu": {"type": "nvidia-tesla-a100", "count": 1}},
    },
    "gke-serving:services": {
        "embed": {"runtime": "tei", "model": "BAAI/bge-m3", "pool": "l4"},
        "llm": {"runtime": "tgi", "model": "google/gemma-2b", "pool": "l4"},
    },
}


def env_with(**changes: Any) -> dict[str, Any]:
    """VALID with `section__key=value` changes; a value of ... deletes the key."""
    env = copy.deepcopy(VALID)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = env
        for part in parents:
            node = node[part.replace("_", ":", 1) if part in ("gcp_project", "gke_serving") else part]
        if value is ...:
            del node[last]
        else:
            node[last] = value
    return env


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidEnvironment) as caught:
        parse_environment(raw)
    return [str(p) for p in caught.value.problems]


def with_service(**service: Any) -> dict[str, Any]:
    env = copy.deepcopy(VALID)
    env["gke-serving:services"] = {"svc": service}
    return env


def with_pool(**pool: Any) -> dict[str, Any]:
    env = copy.deepcopy(VALID)
    env["gke-serving:nodePools"] = {"p": pool}
    env["gke-serving:services"] = {}
    return env


def test_valid_environment_parses() -> None:
    env = parse_environment(VALID)
    assert env.pool_zones(env.node_pools["l4"]) == ("us-central1-a",)
    assert set(env.node_pools) == {"l4", "l4x2", "t4", "a100"}
    assert env.services["embed"].runtime == "tei"
    # Gemma is gated on the Hub: valid, with the license to accept as its only warning.
    assert env.warnings == (
        "gke-serving:services.llm.model: google/gemma-2b is gated on the Hugging Face Hub — accept its license at "
        "https://huggingface.co/google/gemma-2b with the account that owns hfToken, or the download fails with 403",
    )


def test_a_regional_pool_spans_the_zones_of_the_region_that_offer_its_gpu() -> None:
    raw = copy.deepcopy(VALID)
    raw["gke-serving:cluster"]["location"] = "us-central1"
    env = parse_environment(raw)
    # us-central1-f has T4s but no L4 (catalog/gpu_zones.yaml).
    assert env.pool_zones(env.node_pools["l4"]) == ("us-central1-a", "us-central1-b", "us-central1-c")
    assert env.pool_zones(env.node_pools["t4"]) == ("us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {k: v for k, v in VALID.items() if k != "gke-serving:hfToken"},
            "gke-serving:hfToken: required key is missing — run `pulumi config set --secret hfToken hf_...` "
            "(a read token from huggingface.co)",
        ),
        (
            {**VALID, "gke-serving:service": {}},
            "gke-serving:service: unknown key — did you mean 'gke-serving:services'?",
        ),
        (
            {**VALID, "gcp:project": "Acme"},
            "gcp:project: 'Acme' is not a GCP project id — use 6-30 lowercase letters, digits and hyphens, "
            "starting with a letter",
        ),
        (
            {**VALID, "gcp:region": "us-centrall1"},
            "gcp:region: unknown region 'us-centrall1' — did you mean 'us-central1'?",
        ),
        (
            {**VALID, "gke-serving:nodePools": {}},
            "gke-serving:nodePools: no GPU pool is defined — add at least one pool",
        ),
    ],
)
def test_top_level_problems(raw: dict[str, Any], expected: str) -> None:
    assert expected in problems(raw)


@pytest.mark.parametrize(("cluster", "expected"), table("cluster_problems", "cluster", "expected"))
def test_cluster_problems(cluster: dict[str, Any], expected: str) -> None:
    assert expected in problems({**VALID, "gke-serving:cluster": cluster})


@pytest.mark.parametrize(("pool", "expected"), table("pool_problems", "pool", "expected"))
def test_node_pool_problems(pool: dict[str, Any], expected: str) -> None:
    assert expected in problems(with_pool(**pool))


def test_pool_names_must_be_dns_labels() -> None:
    raw = copy.deepcopy(VALID)
    raw["gke-serving:nodePools"]["GPU_Pool"] = raw["gke-serving:nodePools"].pop("t4")
    assert (
        "gke-serving:nodePools.GPU_Pool: 'GPU_Pool' is not a valid name — use at most 30 lowercase letters, "
        "digits and hyphens, starting with a letter"
    ) in problems(raw)


def test_every_problem_is_reported_at_once() -> None:
    raw = copy.deepcopy(VALID)
    raw["gke-serving:cluster"]["releaseChannel"] = "FAST"
    raw["gke-serving:nodePools"]["l4"]["maxNodes"] = "many"
    raw["gke-serving:services"]["embed"]["runtime"] = "onnx"
    found = problems(raw)
    assert len(found) == 3
    assert found[2] == (
        "gke-serving:services.embed: unknown runtime 'onnx' — use one of 'tei', 'tgi', 'vllm', 'triton', 'sglang', 'custom'"
    )


# Input limits: every number bounded and finite, a Kubernetes version the preview can check, and no
# credential outside a secret key.


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        (
            {"autoscaling": {"maxReplicas": 2, "targetQueueSize": "inf"}},
            "gke-serving:services.svc.autoscaling.targetQueueSize: 'inf' is not a finite number — write a number, e.g. 3",
        ),
        (
            {"autoscaling": {"maxReplicas": 2, "targetQueueSize": 0.01}},
            "gke-serving:services.svc.autoscaling.targetQueueSize: 0.01: input should be greater than or equal to 0.1 "
            "— change the value",
        ),
        (
            {"replicas": 10**30},
            "gke-serving:services.svc.replicas: 1000000000000000000000000000000: input should be less than or equal "
            "to 16000 — change the value",
        ),
        (
            {"resources": {"memory": "0Gi"}},
            "gke-serving:services.svc.resources.memory: '0Gi' requests nothing — give an amount, or remove the key "
            "for the pod's share of the node",
        ),
    ],
)
def test_numbers_are_bounded_and_finite(service: dict[str, Any], expected: str) -> None:
    assert problems(with_service(runtime="tei", model="BAAI/bge-m3", pool="l4", **service)) == [expected]


def test_architecture_numbers_are_bounded() -> None:
    architecture = {
        "paramsBillion": "nan",
        "layers": 32,
        "hiddenSize": 4096,
        "attentionHeads": 32,
        "kvHeads": 8,
        "headDim": 128,
        "intermediateSize": 14336,
        "vocabSize": 10**400,
        "maxPositionEmbeddings": 8192,
    }
    found = problems(with_service(runtime="vllm", model="acme/private-8b", pool="l4", architecture=architecture))
    assert [p.split(":")[1] for p in found] == [
        "services.svc.architecture.paramsBillion",
        "services.svc.architecture.vocabSize",
    ]


def test_max_gpus_is_the_most_a_machine_carries() -> None:
    machines = catalog.machine_types().values()
    assert max(m.gpus for m in machines) == MAX_GPUS
    assert all(count <= MAX_GPUS for m in machines for counts in m.attachable.values() for count in counts)


def test_kubernetes_versions_are_those_whose_schemas_ship() -> None:
    schemas = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    shipped = {
        p.name.removeprefix("v").removesuffix(".0-local-strict")
        for p in schemas.iterdir()
        if p.name.endswith(".0-local-strict")
    }
    assert set(KUBERNETES_VERSIONS) == shipped
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "serving"}}
    for version in KUBERNETES_VERSIONS:
        assert validate_manifest(namespace, version) == [], version


def test_a_kubernetes_version_without_schemas_is_refused() -> None:
    raw = copy.deepcopy(VALID)
    raw["gke-serving:cluster"]["kubernetesVersion"] = "1.24"
    assert problems(raw) == [
        "gke-serving:cluster.kubernetesVersion: '1.24' is not a Kubernetes minor version the manifests can be "
        f"checked against — use one of {', '.join(KUBERNETES_VERSIONS)}"
    ]


TOKENS = {
    "hf_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZ012345": "a Hugging Face token (hf_…)",
    "key=AIza" + "SyA1bC2dE3fG4hI5jK6lM7nO8pQ9rS0tUvW": "a Google API key (AIza…)",
    "GOCSPX-" + "aBcDeFgHiJkLmNoPqRsTuVwXyZ01": "a Google OAuth client secret (GOCSPX-…)",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIE": "a private key (-----BEGIN … PRIVATE KEY-----)",
    "ghp_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789": "a GitHub token (ghp_…, github_pat_…)",
    "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnop": "a GitHub token (ghp_…, github_pat_…)",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig": "a JSON Web Token (eyJ…)",
    "Authorization: Bearer 9f8e7d6c5b4a3210fedcba98": "a bearer token",
    "--api-key=Zx8Kq2LmN4pR7sT1vW3yB6dF9hJ0cE5gA2iU8oQ4": "a long random token",
}
NOT_TOKENS = [
    "BAAI/bge-m3",
    "TheBloke/Mixtral-8x7B-Instruct-v0.1-GPTQ",
    "0123456789abcdef0123456789abcdef01234567",  # a commit sha
    "vllm/vllm-openai@sha256:" + "0a" * 32,
    "--hf-token-path=/secrets/token",
    "hf_transfer",
    "1234-abcd.apps.googleusercontent.com",
    "gs://acme-models/triton/repository",
    "preview-placeholder-secret",
]


@pytest.mark.parametrize("text", [*TOKENS, *NOT_TOKENS])
def test_credential_shapes(text: str) -> None:
    assert credential_kind(text) == TOKENS.get(text)


def test_a_credential_in_a_plain_setting_is_refused_without_echoing_it() -> None:
    token = next(iter(TOKENS))
    found = problems(with_service(runtime="tei", model=token, pool="l4", extraArgs=["--json-output", token]))
    assert found == [
        f"gke-serving:services.svc.{field}: holds what looks like a Hugging Face token (hf_…) — remove it, and "
        "revoke it if it is real: a credential goes only into a secret key (`pulumi config set --secret <key> ...`), never "
        "into a plain setting"
        for field in ("extraArgs.1", "model")
    ]


def test_secret_keys_may_hold_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real values of secrets reach the program decrypted: the project's own, and any key the stack
    marks secret (the language host lists them in PULUMI_CONFIG_SECRET_KEYS)."""
    raw = {
        **VALID,
        "gke-serving:hfToken": next(iter(TOKENS)),
        "gcp:credentials": {"private_key": "-----BEGIN PRIVATE KEY"},
    }
    assert problems(raw) == [
        "gcp:credentials.private_key: holds what looks like a private key (-----BEGIN … PRIVATE KEY-----) — remove "
        "it, and revoke it if it is real: a credential goes only into a secret key (`pulumi config set --secret <key> "
        "...`), never into a plain setting"
    ]
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", '["gcp:credentials"]')
    parse_environment(raw)


TRITON = {"runtime": "triton", "model": "resnet50", "pool": "l4", "auth": False, "modelRepository": "gs://acme/m"}


def with_key(key: str, value: Any) -> dict[str, Any]:
    env = copy.deepcopy(VALID)
    env[key] = value
    return env


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (with_key("gcp:project", "acme-ml-dev\n"), "gcp:project"),
        (
            with_key("gke-serving:cluster", {"name": "serving-dev\n", "location": "us-central1-a"}),
            "gke-serving:cluster.name",
        ),
        (with_key("gke-serving:gateway", {"domain": "llm.example.com\n"}), "gke-serving:gateway.domain"),
        (
            with_key("gke-serving:gateway", {"iap": {"oauthClientId": "1-a.apps.googleusercontent.com\n"}}),
            "gke-serving:gateway.iap.oauthClientId",
        ),
        (with_service(runtime="tei", model="BAAI/bge-m3\n", pool="l4"), "gke-serving:services.svc.model"),
        (
            with_service(runtime="tei", model="BAAI/bge-m3", pool="l4", image="ghcr.io/x/y:1.0\n"),
            "gke-serving:services.svc.image",
        ),
        (
            with_service(runtime="tei", model="BAAI/bge-m3", pool="l4", resources={"cpu": "6\n"}),
            "gke-serving:services.svc.resources.cpu",
        ),
        (
            with_service(runtime="vllm", model="a/b", pool="l4", servedModelName="b\n"),
            "gke-serving:services.svc.servedModelName",
        ),
        (with_service(**{**TRITON, "model": "resnet50\n"}), "gke-serving:services.svc.model"),
        (with_service(**{**TRITON, "modelRepository": "gs://acme/m\n"}), "gke-serving:services.svc.modelRepository"),
    ],
)
def test_a_trailing_newline_fails_every_name_pattern(raw: dict[str, Any], path: str) -> None:
    """Python's `$` matches before a final newline; every pattern here must refuse it (pydantic's Rust
    engine reads `$` as the end of the text, the module-level regexes use fullmatch)."""
    assert any(p.startswith(f"{path}: ") for p in problems(raw)), problems(raw)


def test_a_map_key_with_a_trailing_newline_is_refused() -> None:
    raw = with_service(runtime="tei", model="BAAI/bge-m3", pool="l4")
    raw["gke-serving:services"] = {"embed\n": raw["gke-serving:services"]["svc"]}
    assert problems(raw) == [
        "gke-serving:services.'embed\\n': 'embed\\n' is not a valid name — use at most 30 lowercase letters,"
        " digits and hyphens, starting with a letter"
    ]


def test_gke_default_pool_name_is_reserved() -> None:
    raw = copy.deepcopy(VALID)
    raw["gke-serving:nodePools"]["default-pool"] = raw["gke-serving:nodePools"].pop("t4")
    assert problems(raw) == [
        "gke-serving:nodePools.default-pool: 'default-pool' is a reserved name (GKE's default pool, created with"
        " the cluster, is named so) — rename the pool; reserved pool names: default-pool, system"
    ]


def test_two_triton_services_with_a_long_common_prefix_get_different_accounts() -> None:
    """Cut to 30 characters, both ids would be `<cluster>-imagenet-classifier-r…`: hashes keep them apart."""
    raw = copy.deepcopy(VALID)
    raw["gke-serving:services"] = {
        "imagenet-classifier-resnet50": TRITON,
        "imagenet-classifier-resnet101": TRITON,
    }
    parse_environment(raw)


def test_a_cluster_name_that_takes_a_bucket_reader_account_id_is_refused() -> None:
    raw = with_key("gke-serving:cluster", {"name": "lab", "location": "us-central1-a"})
    raw["gke-serving:services"] = {"metrics": TRITON}
    assert problems(raw) == [
        "gke-serving:services.metrics: the service account of service 'metrics' would get the Google"
        " service account id 'lab-metrics', which the metrics adapter's service account already has"
        " — rename the service: a service account id is unique in the project"
    ]
