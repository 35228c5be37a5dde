"""Rendering of each runtime: arguments, image, volumes, probes, resources, scheduling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import TypeAdapter

import catalog
from config.services import ServiceConfig
from tests.args import flags
from tests.conftest import ENVIRONMENTS, Preview
from workloads.probes import startup_budget_seconds, weights_gib
from workloads.server import image_for, server_spec

SERVICE = TypeAdapter(ServiceConfig)
L4, T4, A100, H100 = (
    catalog.gpus()[g] for g in ("nvidia-l4", "nvidia-tesla-t4", "nvidia-tesla-a100", "nvidia-h100-80gb")
)


def service(**fields: Any) -> ServiceConfig:
    return SERVICE.validate_python({"pool": "p", **fields})


def container(p: Preview, name: str) -> dict[str, Any]:
    (c,) = p.manifest("Deployment", name)["spec"]["template"]["spec"]["containers"]
    return dict(c)


TEI = "ghcr.io/huggingface/text-embeddings-inference"
TEI_89_DIGEST = "sha256:e47e625ced2385d3dbfdee79ba0380204578e0b27ef1a926783f9b3486aaf109"


@pytest.mark.parametrize(
    ("gpu", "image"),
    [
        (T4, f"{TEI}:turing-1.9.3"),
        (L4, f"{TEI}:89-1.9.3@{TEI_89_DIGEST}"),  # the one tag with a sourced digest: the tag stays for humans
        (A100, f"{TEI}:1.9.3"),
        (H100, f"{TEI}:hopper-1.9.3"),
    ],
)
def test_tei_image_follows_the_gpu_architecture(gpu: catalog.Gpu, image: str) -> None:
    assert image_for(service(runtime="tei", model="BAAI/bge-m3"), gpu) == image


def test_image_override_wins() -> None:
    assert image_for(service(runtime="tgi", model="a/b", image="registry.example/tgi:3.3.7-patched"), L4) == (
        "registry.example/tgi:3.3.7-patched"
    )


def test_tgi_arguments_use_the_pinned_flag_names() -> None:
    spec = server_spec(
        "llama",
        service(
            runtime="tgi",
            model="meta-llama/Llama-2-13b-hf",
            numShard=2,
            quantize="eetq",
            maxInputTokens=2048,
            maxTotalTokens=4096,
            maxBatchPrefillTokens=4096,
            extraArgs=["--max-batch-size=32"],
        ),
        A100,
    )
    assert spec.image == "ghcr.io/huggingface/text-generation-inference:3.3.7"
    assert spec.args == [
        "--model-id=meta-llama/Llama-2-13b-hf",
        "--port=8080",
        "--usage-stats=off",
        "--quantize=eetq",
        "--num-shard=2",
        "--max-input-tokens=2048",
        "--max-total-tokens=4096",
        "--max-batch-prefill-tokens=4096",
        "--max-batch-size=32",
    ]
    assert not any(a.startswith("--max-input-length") for a in spec.args)
    assert (spec.port, spec.health_path, spec.api_key_env) == (8080, "/health", "API_KEY")


def test_vllm_takes_the_model_as_positional_argument_and_a_stable_name() -> None:
    gemma = {"runtime": "vllm", "model": "google/gemma-7b-AWQ", "quantization": "awq", "maxModelLen": 4096}
    spec = server_spec("gemma", service(**gemma, kvCacheDtype="fp8_e5m2", revision="abc123"), L4)
    assert spec.args[:3] == ["google/gemma-7b-AWQ", "--port=8000", "--served-model-name=gemma"]
    given = flags(spec.args)
    assert {k: given[k] for k in ("--quantization", "--max-model-len", "--kv-cache-dtype", "--revision")} == {
        "--quantization": "awq",
        "--max-model-len": "4096",
        "--kv-cache-dtype": "fp8_e5m2",
        "--revision": "abc123",
    }
    assert given["--tensor-parallel-size"] == "1"
    assert spec.api_key_env == "VLLM_API_KEY"
    assert spec.image == "vllm/vllm-openai:v0.33.0"


def test_vllm_deprecated_quantization_is_allowed_explicitly() -> None:
    spec = server_spec("m", service(runtime="vllm", model="a/b", quantization="fbgemm_fp8"), H100)
    assert "--allow-deprecated-quantization" in spec.args


def test_tei_booleans_are_spelled_as_the_router_parses_them() -> None:
    spec = server_spec(
        "embed", service(runtime="tei", model="BAAI/bge-m3", autoTruncate=False, maxBatchTokens=16384), L4
    )
    assert spec.args == ["--model-id=BAAI/bge-m3", "--port=8080", "--max-batch-tokens=16384", "--auto-truncate=false"]


def test_triton_reads_its_repository_from_gcs_and_has_no_key() -> None:
    spec = server_spec(
        "det", service(runtime="triton", model="toxicity", modelRepository="gs://bkt/models", auth=False), L4
    )
    assert spec.args[:2] == ["tritonserver", "--model-repository=gs://bkt/models"]
    assert (spec.health_path, spec.liveness_path, spec.metrics_port) == ("/v2/health/ready", "/v2/health/live", 8002)
    assert spec.api_key_env is None and spec.cache_path is None


def test_auth_false_removes_the_key() -> None:
    assert server_spec("e", service(runtime="tei", model="a/b", auth=False), L4).api_key_env is None


def test_startup_budget_grows_with_the_weights() -> None:
    small = weights_gib(service(runtime="tei", model="BAAI/bge-m3"))
    big = weights_gib(service(runtime="vllm", model="Qwen/Qwen2.5-72B-Instruct"))
    assert small is not None and big is not None
    assert small < 3 and big > 100
    assert startup_budget_seconds(small, "hub") == 600  # floor: engine start dominates
    assert startup_budget_seconds(big, "hub") == 3600  # ceiling
    assert startup_budget_seconds(None, "hub") == 1800  # a model the catalog does not know
    assert 600 < startup_budget_seconds(30, "hub") < 3600


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_server_is_production_shaped(previews: Callable[[str], Preview], env: str) -> None:
    p = previews(env)
    deployments = [
        m
        for m in p.manifests.values()
        if m["kind"] == "Deployment" and m["metadata"]["labels"].get("app.kubernetes.io/component") == "model-server"
    ]
    assert deployments
    for d in deployments:
        pod = d["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        res = c["resources"]
        assert res["requests"] == res["limits"], d["metadata"]["name"]
        assert int(res["limits"]["nvidia.com/gpu"]) >= 1
        # A GPU type, or a compute class whose options each carry one (tests/test_compute_classes.py).
        selector = pod["nodeSelector"]
        assert selector.get("cloud.google.com/gke-accelerator", "nvidia-").startswith("nvidia-")
        assert ("cloud.google.com/gke-accelerator" in selector) != ("cloud.google.com/compute-class" in selector)
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
        startup, liveness = c["startupProbe"], c["livenessProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 600
        assert liveness["periodSeconds"] * liveness["failureThreshold"] < 120
        assert c["lifecycle"]["preStop"]["sleep"]["seconds"] == 30
        assert pod["terminationGracePeriodSeconds"] > 30
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        env_vars = {e["name"]: e for e in c.get("env", [])}
        if d["metadata"]["labels"]["gke-serving/runtime"] in ("triton", "custom") or pod.get("initContainers"):
            # Triton reads gs:// through its own identity; a custom image fetches its weights its own way; a
            # server that loads from the mirror waits for it (init container) and reads it as model-reader.
            assert "HF_TOKEN" not in env_vars
        else:
            assert env_vars["HF_TOKEN"] == {
                "name": "HF_TOKEN",
                "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "HF_TOKEN"}},
            }


def test_multi_gpu_pods_get_shared_memory_and_single_gpu_tei_does_not(previews: Callable[[str], Preview]) -> None:
    p = previews("prod")
    llama = p.manifest("Deployment", "llama")["spec"]["template"]["spec"]
    (dshm,) = [v for v in llama["volumes"] if v["name"] == "dshm"]
    assert dshm["emptyDir"] == {"medium": "Memory", "sizeLimit": "4Gi"}
    assert {"name": "dshm", "mountPath": "/dev/shm"} in llama["containers"][0]["volumeMounts"]
    embed = p.manifest("Deployment", "embed")["spec"]["template"]["spec"]
    assert not [v for v in embed["volumes"] if v["name"] == "dshm"]
    assert {"name": "model-cache", "mountPath": "/data"} in embed["containers"][0]["volumeMounts"]


def test_prod_renders_what_the_environment_asks(previews: Callable[[str], Preview]) -> None:
    p = previews("prod")
    llama = container(p, "llama")
    assert llama["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert {k: flags(llama["args"])[k] for k in ("--num-shard", "--quantize")} == {
        "--num-shard": "2",
        "--quantize": "eetq",
    }
    qwen = container(p, "qwen")
    bucket = p.resources("gcp:storage/bucket:Bucket")[0]["inputs"]["name"]
    # The mirror copy of the pinned commit, streamed: the commit is in the path, so no --revision.
    assert qwen["args"][0] == f"gs://{bucket}/Qwen/Qwen2.5-72B-Instruct-AWQ/698703eae6604af048a3d2f509995dc302088217"
    qwen_flags = flags(qwen["args"])
    assert qwen_flags["--tensor-parallel-size"] == "2"
    assert qwen_flags["--load-format"] == "runai_streamer"
    assert "--revision" not in qwen_flags
    assert p.manifest("Deployment", "llama")["spec"]["template"]["spec"]["nodeSelector"] == {
        "cloud.google.com/gke-accelerator": "nvidia-tesla-a100",
        "cloud.google.com/gke-nodepool": "a100",
    }
    assert p.manifest("PodDisruptionBudget", "rerank")["spec"]["maxUnavailable"] == 1


def test_triton_reads_its_bucket_through_its_own_identity(previews: Callable[[str], Preview]) -> None:
    p = previews("staging")
    pod = p.manifest("Deployment", "detector")["spec"]["template"]["spec"]
    ksa = p.manifest("ServiceAccount", pod["serviceAccountName"])
    gsa_email = ksa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"]
    (reader,) = [
        r
        for r in p.resources("gcp:storage/bucketIAMMember:BucketIAMMember")
        if r["inputs"]["bucket"] == "acme-ml-staging-triton"
    ]
    assert reader["inputs"]["role"] == "roles/storage.objectViewer"
    assert reader["inputs"]["member"] == f"serviceAccount:{gsa_email}"
    (binding,) = [r for r in p.resources("gcp:serviceaccount/iAMMember:IAMMember") if r["name"].startswith("detector")]
    assert binding["inputs"]["member"] == "serviceAccount:acme-ml-staging.svc.id.goog[serving/detector-triton]"
    assert "HF_TOKEN" not in {e["name"] for e in pod["containers"][0].get("env", [])}


def test_startup_budget_counts_the_checkpoint_that_is_downloaded() -> None:
    full = weights_gib(service(runtime="tgi", model="meta-llama/Llama-2-13b-hf"))
    eetq = weights_gib(service(runtime="tgi", model="meta-llama/Llama-2-13b-hf", quantize="eetq"))
    awq = weights_gib(service(runtime="vllm", model="TheBloke/Llama-2-13B-chat-AWQ", quantization="awq"))
    assert full is not None and awq is not None
    assert eetq == full  # EETQ quantizes after downloading the fp16 weights (24 GiB)
    assert awq < full / 3  # an AWQ repository ships 4-bit weights


def test_vllm_runs_as_the_user_and_group_its_image_documents(previews: Any) -> None:
    # docs/deployment/docker.md: the image "is also prepared to run as the built-in vllm user (UID 2000, GID 0)".
    pod = previews("prod").manifest("Deployment", "qwen")["spec"]["template"]["spec"]
    assert {k: pod["securityContext"][k] for k in ("runAsNonRoot", "runAsUser", "runAsGroup", "fsGroup")} == {
        "runAsNonRoot": True,
        "runAsUser": 2000,
        "runAsGroup": 0,
        "fsGroup": 0,
    }


def test_every_awaited_resource_waits_as_long_as_its_rollout(previews: Any) -> None:
    for env in ("dev", "staging", "prod"):
        resources = previews(env).plan["resources"]
        deployments = {
            r["inputs"]["metadata"]["name"]: r for r in resources if r["type"] == "kubernetes:apps/v1:Deployment"
        }
        for name, r in deployments.items():
            deadline = r["inputs"]["spec"].get("progressDeadlineSeconds", 600)  # the apps/v1 default
            timeouts = r["options"]["customTimeouts"]
            assert int(timeouts["create"].removesuffix("m")) * 60 >= deadline, (env, name)
            assert int(timeouts["update"].removesuffix("m")) * 60 >= deadline, (env, name)
        for r in (r for r in resources if r["type"] == "kubernetes:core/v1:Service"):
            name = r["inputs"]["metadata"]["name"]
            if name in deployments:
                deadline = deployments[name]["inputs"]["spec"].get("progressDeadlineSeconds", 600)
                assert int(r["options"]["customTimeouts"]["create"].removesuffix("m")) * 60 >= deadline, (env, name)
