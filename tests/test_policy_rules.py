"""The pack's resource policies, each against a table of compliant and violating inputs.

Inputs are the engine's camelCase props (as in build/<env>/plan.json), wrapped in the read-only
proxy the engine hands to policies. The builders here are shared with the stack-policy tests.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy import (
    ResourceValidationArgs,
    ResourceValidationPolicy,
)
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import unknown_checking_proxy

from config.services import Architecture as ArchitectureConfig
from policies.evaluate import policy_options
from policies.rules.gpu_requests import gpu_count_matches_parallelism, gpu_requests_equal_limits
from policies.rules.hygiene import hf_token_from_secret, image_pinned, model_server_has_startup_probe
from policies.rules.memory import model_fits_gpu_memory
from policies.rules.node_pool import node_pool_machine_carries_gpu

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
NODE_POOL = "gcp:container/nodePool:NodePool"
OPTS = policy_options(None)
FAKE_TOKEN = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh"  # the shape of a real token: hf_ + 34 letters
HF_FROM_SECRET = {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "HF_TOKEN"}}}
SAME = object()  # requests equal to limits


def server(
    *args: str,
    gpus: Any = "1",
    requests: Any = SAME,
    image: str = "vllm/vllm-openai:v0.33.0",
    env: list[dict[str, Any]] | None = None,
    startup: bool = True,
    name: str = "server",
    command: list[str] | None = None,
) -> dict[str, Any]:
    """A container as workloads/deployment.py renders it; gpus=None leaves nvidia.com/gpu out."""
    resources: dict[str, Any] = {"limits": {"cpu": "7500m"}, "requests": {"cpu": "7500m"}}
    if gpus is not None:
        resources["limits"]["nvidia.com/gpu"] = gpus
    request = gpus if requests is SAME else requests
    if request is not None:
        resources["requests"]["nvidia.com/gpu"] = request
    c: dict[str, Any] = {
        "name": name,
        "image": image,
        "args": list(args),
        "env": [HF_FROM_SECRET] if env is None else env,
        "resources": resources,
    }
    if command is not None:
        c["command"] = command
    if startup:
        c["startupProbe"] = {"httpGet": {"path": "/health", "port": "http"}, "failureThreshold": 60}
    return c


def deployment(
    *containers: dict[str, Any],
    name: str = "gemma",
    runtime: str | None = "vllm",
    accelerator: str | None = "nvidia-l4",
    pool: str | None = "l4",
    annotations: dict[str, str] | None = None,
    init: tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": name, **({"gke-serving/runtime": runtime} if runtime else {})}
    selector = {
        k: v
        for k, v in (("cloud.google.com/gke-accelerator", accelerator), ("cloud.google.com/gke-nodepool", pool))
        if v
    }
    pod: dict[str, Any] = {"containers": list(containers), "nodeSelector": selector}
    if init:
        pod["initContainers"] = list(init)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "serving", "labels": labels},
        "spec": {"template": {"metadata": {"labels": labels, "annotations": annotations or {}}, "spec": pod}},
    }


def node_pool(
    name: str = "l4",
    machine: str = "g2-standard-12",
    gpu: str | None = "nvidia-l4",
    count: Any = 1,
    *,
    min_nodes: int = 0,
    max_nodes: Any = 4,
    spot: bool = False,
    location: str = "us-central1",
    node_locations: list[str] | None = None,
    autoscaling: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """NodePool inputs as infra/gpu_pool.py registers them."""
    config: dict[str, Any] = {"machineType": machine, "spot": spot}
    if gpu is not None:
        config["guestAccelerators"] = [{"type": gpu, "count": count}]
    props: dict[str, Any] = {
        "name": name,
        "cluster": "serving",
        "location": location,
        "nodeConfig": config,
        "autoscaling": autoscaling
        if autoscaling is not None
        else {"totalMinNodeCount": min_nodes, "totalMaxNodeCount": max_nodes},
    }
    if node_locations is not None:
        props["nodeLocations"] = node_locations
    return props


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:test::gke-serving::{type_}::{name}"


def violations(policy: ResourceValidationPolicy, props: dict[str, Any], type_: str = DEPLOYMENT) -> list[str]:
    found: list[str] = []

    def report(message: str, _urn: str | None = None) -> None:
        found.append(message)

    args = ResourceValidationArgs(type_, unknown_checking_proxy(props), urn(type_, "r"), "r", OPTS, None, {})
    policy.validate(args, report)
    return found


def not_applicable(policy: ResourceValidationPolicy, props: dict[str, Any], type_: str = DEPLOYMENT) -> str | None:
    """The reason the policy gives for not applying; fails if it applies (or reports anything)."""

    def report(message: str, _urn: str | None = None) -> None:
        pytest.fail(f"reported {message!r}")

    args = ResourceValidationArgs(type_, unknown_checking_proxy(props), urn(type_, "r"), "r", OPTS, None, {})
    with pytest.raises(_NotApplicableError) as raised:
        policy.validate(args, report)
    return raised.value.reason


# --- gpu-requests-equal-limits ---------------------------------------------------------------------

GPU_REQUESTS = [
    ("one GPU, requests = limits", deployment(server(gpus="1")), []),
    ("limits only: requests default to limits", deployment(server(gpus="2", requests=None)), []),
    ("the engine's floats", deployment(server(gpus=1.0, requests=1)), []),
    ("a CPU workload", deployment(server(gpus=None), runtime=None, accelerator=None, pool=None), []),
    (
        "requests below limits",
        deployment(server(gpus="2", requests="1")),
        ["container server: nvidia.com/gpu requests (1) differ from limits (2) — set both to the GPUs the server uses"],
    ),
    (
        "a request without a limit",
        deployment(server(gpus=None, requests="1")),
        [
            "container server: nvidia.com/gpu is requested (1) without a limit — Kubernetes allocates GPUs by "
            "their limit; set limits equal to requests"
        ],
    ),
    (
        "half a GPU (production-stack#1047)",
        deployment(server(gpus="0.5")),
        [
            "container server: nvidia.com/gpu '0.5' is not a whole number of GPUs — a GPU cannot be split between pods",
            "the pod selects cloud.google.com/gke-accelerator=nvidia-l4 but no container requests nvidia.com/gpu "
            "— it would run without a GPU or share one it was never given",
        ],
    ),
    (
        "a GPU node selected, no GPU asked for",
        deployment(server(gpus=None)),
        [
            "the pod selects cloud.google.com/gke-accelerator=nvidia-l4 but no container requests nvidia.com/gpu "
            "— it would run without a GPU or share one it was never given"
        ],
    ),
    (
        "an init container's mismatch",
        deployment(server(gpus="1"), init=(server(gpus="1", requests="0", name="warmup"),)),
        ["container warmup: nvidia.com/gpu requests (0) differ from limits (1) — set both to the GPUs the server uses"],
    ),
]


@pytest.mark.parametrize(("case", "props", "expected"), GPU_REQUESTS, ids=[c[0] for c in GPU_REQUESTS])
def test_gpu_requests_equal_limits(case: str, props: dict[str, Any], expected: list[str]) -> None:
    assert violations(gpu_requests_equal_limits, props) == expected, case


def test_gpu_requests_ignore_other_resource_types() -> None:
    assert violations(gpu_requests_equal_limits, node_pool(), NODE_POOL) == []


# --- gpu-count-matches-parallelism -----------------------------------------------------------------

PARALLELISM = [
    ("vLLM tp 2 on 2 GPUs", deployment(server("m/x", "--tensor-parallel-size=2", gpus="2")), []),
    ("vLLM defaults on 1 GPU", deployment(server("m/x")), []),
    ("vLLM -tp 2 -pp 2 on 4 GPUs", deployment(server("m/x", "-tp", "2", "-pp", "2", gpus="4")), []),
    (
        "vLLM tp 2 on 1 GPU",
        deployment(server("m/x", "--tensor-parallel-size=2", "--pipeline-parallel-size=1", gpus="1")),
        [
            "vLLM tensor parallel 2 x pipeline parallel 1 needs 2 GPUs per pod, but container server has "
            "nvidia.com/gpu = 1"
        ],
    ),
    (
        "vLLM tp 2 x pp 2 on 2 GPUs",
        deployment(server("m/x", "--tensor-parallel-size", "2", "--pipeline-parallel-size=2", gpus="2")),
        [
            "vLLM tensor parallel 2 x pipeline parallel 2 needs 4 GPUs per pod, but container server has "
            "nvidia.com/gpu = 2"
        ],
    ),
    ("TGI 2 shards on 2 GPUs", deployment(server("--model-id=m/x", "--num-shard=2", gpus="2"), runtime="tgi"), []),
    (
        "TGI 2 shards on 1 GPU",
        deployment(server("--model-id=m/x", "--num-shard=2", gpus="1"), runtime="tgi"),
        ["TGI --num-shard=2 needs 2 GPUs per pod, but container server has nvidia.com/gpu = 1"],
    ),
    ("TGI without --num-shard uses what it gets", deployment(server("--model-id=m/x", gpus="2"), runtime="tgi"), []),
    (
        "TGI without --num-shard and no GPU",
        deployment(server("--model-id=m/x", gpus=None), runtime="tgi"),
        ["TGI without --num-shard needs at least 1 GPU per pod, but container server has nvidia.com/gpu = 0"],
    ),
    (
        "TGI --num-shard that is not a number",
        deployment(server("--model-id=m/x", "--num-shard=two", gpus="2"), runtime="tgi"),
        ["container server: --num-shard=two is not a positive whole number"],
    ),
    ("TEI on 1 GPU", deployment(server("--model-id=BAAI/bge-m3"), runtime="tei"), []),
    (
        "TEI on 2 GPUs",
        deployment(server("--model-id=BAAI/bge-m3", gpus="2"), runtime="tei"),
        ["TEI (one GPU per process) needs 1 GPU per pod, but container server has nvidia.com/gpu = 2"],
    ),
    ("Triton on 2 GPUs", deployment(server("tritonserver", gpus="2"), runtime="triton"), []),
    (
        "Triton without a GPU",
        deployment(server("tritonserver", gpus=None), runtime="triton"),
        ["Triton needs at least 1 GPU per pod, but container server has nvidia.com/gpu = 0"],
    ),
    ("not a model server", deployment(server("m/x", "--tensor-parallel-size=2"), runtime=None), []),
]


@pytest.mark.parametrize(("case", "props", "expected"), PARALLELISM, ids=[c[0] for c in PARALLELISM])
def test_gpu_count_matches_parallelism(case: str, props: dict[str, Any], expected: list[str]) -> None:
    assert violations(gpu_count_matches_parallelism, props) == expected, case


def test_parallelism_reads_the_container_named_server() -> None:
    sidecar = server(gpus=None, name="proxy", image="envoyproxy/envoy:v1.36.2")
    props = deployment(sidecar, server("m/x", "--tensor-parallel-size=2", gpus="1"))
    assert violations(gpu_count_matches_parallelism, props) == [
        "vLLM tensor parallel 2 x pipeline parallel 1 needs 2 GPUs per pod, but container server has nvidia.com/gpu = 1"
    ]


def test_parallelism_of_an_unknown_runtime_is_not_applicable() -> None:
    reason = not_applicable(gpu_count_matches_parallelism, deployment(server("x"), runtime="ollama"))
    assert reason == "no server container of a known runtime (label 'ollama')"


# --- model-fits-gpu-memory -------------------------------------------------------------------------

GEMMA_8K_ON_ONE_L4 = (
    "google/gemma-7b on 1 x L4 (22.5 GiB): vLLM may use 0.92 x 22.5 = 20.7 GiB; weights 15.9 GiB (bf16), "
    "overhead 2.2 GiB (activations for 2048 tokens, logits 256 x 256000, CUDA graphs) leave 2.6 GiB of KV cache "
    "= 5,983 tokens at 448 KiB/token; 8,192 tokens need 3.5 GiB. Fits up to 5,968 tokens: set maxModelLen ≤ 5968, "
    "use an fp8 KV cache (kvCacheDtype fp8), quantize (awq), or use 2 GPUs."
)
# Gemma 7B's config.json, in the environment file's `architecture` keys (config/services.py).
GEMMA_ARCHITECTURE = {
    "paramsBillion": 8.537680896,
    "layers": 28,
    "hiddenSize": 3072,
    "attentionHeads": 16,
    "kvHeads": 16,
    "headDim": 256,
    "intermediateSize": 24576,
    "vocabSize": 256000,
    "maxPositionEmbeddings": 8192,
    "dtype": "bfloat16",
}
LLAMA_13B_ON_ONE_L4 = (
    "meta-llama/Llama-2-13b-hf on 1 x L4 (22.5 GiB): TGI may use 1.00 x 22.5 = 22.5 GiB; weights 24.2 GiB (fp16), "
    "overhead 1.2 GiB (CUDA context, prefill warm-up of 4096 tokens, 10% wiggle room) leave no room for the KV "
    "cache (-2.9 GiB). The weights need 24.2 GiB per GPU of 22.5 GiB: quantize (awq), or use 2 GPUs."
)
LLAMA_13B_CHAT_ON_ONE_L4 = (
    "meta-llama/Llama-2-13b-chat-hf on 1 x L4 (22.5 GiB): vLLM may use 0.92 x 22.5 = 20.7 GiB; weights 24.2 GiB "
    "(fp16), overhead 1.6 GiB (activations for 2048 tokens, logits 256 x 32000, CUDA graphs) leave no room for the "
    "KV cache (-5.2 GiB). The weights need 24.2 GiB per GPU of 20.7 GiB: quantize (awq), or use 2 GPUs."
)

MEMORY = [
    ("Gemma 7B bf16, 8k context, one L4", deployment(server("google/gemma-7b", "--port=8000")), [GEMMA_8K_ON_ONE_L4]),
    ("Gemma 7B at 600 tokens on one L4", deployment(server("google/gemma-7b", "--max-model-len=600")), []),
    (
        "Gemma 7B on two L4s, tensor parallel 2",
        deployment(server("google/gemma-7b", "--tensor-parallel-size=2", gpus="2")),
        [],
    ),
    (
        "an unknown model with its architecture annotated",
        deployment(
            server("acme/house-model-7b"),
            annotations={"gke-serving/architecture": json.dumps(GEMMA_ARCHITECTURE)},
        ),
        [GEMMA_8K_ON_ONE_L4.replace("google/gemma-7b", "acme/house-model-7b")],
    ),
    (
        "an invalid architecture annotation",
        deployment(server("acme/house-model-7b"), annotations={"gke-serving/architecture": '{"layers": 28}'}),
        [
            "the pod's architecture annotation is invalid: "
            + "; ".join(
                f"gke-serving/architecture.{key}: required key is missing — add it (see the environment-file "
                "reference in README.md)"
                for key in (
                    "paramsBillion",
                    "hiddenSize",
                    "attentionHeads",
                    "kvHeads",
                    "headDim",
                    "intermediateSize",
                    "vocabSize",
                    "maxPositionEmbeddings",
                )
            )
        ],
    ),
    (
        "TGI Llama 2 13B fp16 on one L4",
        deployment(server("--model-id=meta-llama/Llama-2-13b-hf", "--max-total-tokens=4096"), runtime="tgi"),
        [LLAMA_13B_ON_ONE_L4],
    ),
    (
        "TGI without --num-shard shards over the pod's 2 GPUs",
        deployment(
            server("--model-id=meta-llama/Llama-2-13b-hf", "--max-total-tokens=4096", gpus="2"),
            runtime="tgi",
        ),
        [],
    ),
    (
        "an AWQ checkpoint loads quantized without --quantization",
        deployment(server("TheBloke/Llama-2-13B-chat-AWQ", "--max-model-len=4096")),
        [],
    ),
    (
        "the same model unquantized",
        deployment(server("meta-llama/Llama-2-13b-chat-hf", "--max-model-len=4096")),
        [LLAMA_13B_CHAT_ON_ONE_L4],
    ),
    (
        "TEI bge-m3 on one L4",
        deployment(server("--model-id=BAAI/bge-m3", "--max-batch-tokens=16384"), runtime="tei"),
        [],
    ),
    ("not a model server", deployment(server("google/gemma-7b"), runtime=None), []),
]


@pytest.mark.parametrize(("case", "props", "expected"), MEMORY, ids=[c[0] for c in MEMORY])
def test_model_fits_gpu_memory(case: str, props: dict[str, Any], expected: list[str]) -> None:
    assert violations(model_fits_gpu_memory, props) == expected, case


def test_the_annotation_is_the_environment_files_architecture_as_json() -> None:
    # What the program writes: json.dumps(service.architecture.model_dump(by_alias=True)).
    written = json.dumps(ArchitectureConfig.model_validate(GEMMA_ARCHITECTURE).model_dump(by_alias=True))
    props = deployment(server("acme/house-model-7b"), annotations={"gke-serving/architecture": written})
    assert violations(model_fits_gpu_memory, props) == [
        GEMMA_8K_ON_ONE_L4.replace("google/gemma-7b", "acme/house-model-7b")
    ]


NOT_SIZED = [
    (
        "an unknown model without an annotation",
        deployment(server("acme/house-model-7b")),
        "acme/house-model-7b is not in sizing/models.yaml and the pod has no gke-serving/architecture annotation",
    ),
    (
        "Triton",
        deployment(server("tritonserver"), runtime="triton"),
        "memory sizing covers tei, tgi, vllm, sglang, custom, not triton",
    ),
    (
        "a GPU type the catalog does not know",
        deployment(server("google/gemma-7b"), accelerator="nvidia-gb200"),
        "the pod selects no GPU type the catalog knows (nvidia-gb200)",
    ),
    (
        "no model in the arguments",
        deployment(server("--port=8080"), runtime="tgi"),
        "the server's arguments name no model",
    ),
    (
        "a context length that is not a number",
        deployment(server("google/gemma-7b", "--max-model-len=lots")),
        "maxModelLen 'lots' is not a number",
    ),
]


@pytest.mark.parametrize(("case", "props", "reason"), NOT_SIZED, ids=[c[0] for c in NOT_SIZED])
def test_model_fits_gpu_memory_not_applicable(case: str, props: dict[str, Any], reason: str) -> None:
    assert not_applicable(model_fits_gpu_memory, props) == reason, case


def test_a_quantization_sizing_does_not_know_is_not_applicable() -> None:
    reason = not_applicable(model_fits_gpu_memory, deployment(server("google/gemma-7b", "--quantization=mxfp4")))
    assert reason is not None
    assert reason.startswith("unknown quantization 'mxfp4'; sizing knows ")


# --- hf-token-from-secret --------------------------------------------------------------------------

HF_TOKEN = [
    ("HF_TOKEN from a Secret", deployment(server()), []),
    ("no token at all", deployment(server(env=[{"name": "HF_HOME", "value": "/data"}])), []),
    ("a flag and a model id with hf_ in them", deployment(server("org/hf_model", "--hf-overrides={}")), []),
    (
        "HF_TOKEN as a literal (plan.json shows a secret as [secret])",
        deployment(server(env=[{"name": "HF_TOKEN", "value": "[secret]"}])),
        [
            "container server: env HF_TOKEN is a literal value — the token would sit in the manifest and the stack "
            "state; read it from a Secret (valueFrom.secretKeyRef)"
        ],
    ),
    (
        "the legacy name from a ConfigMap",
        deployment(
            server(
                env=[{"name": "HUGGING_FACE_HUB_TOKEN", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}]
            )
        ),
        [
            "container server: env HUGGING_FACE_HUB_TOKEN comes from configMapKeyRef, not a Secret (valueFrom.secretKeyRef)"
        ],
    ),
    (
        "a real-looking token in HF_TOKEN",
        deployment(server(env=[{"name": "HF_TOKEN", "value": FAKE_TOKEN}])),
        [
            "container server: env HF_TOKEN is a literal value — the token would sit in the manifest and the stack "
            "state; read it from a Secret (valueFrom.secretKeyRef)",
            "container server: env HF_TOKEN holds a literal Hugging Face token (hf_…) — pass it as env HF_TOKEN "
            "from a Secret, and revoke this one",
        ],
    ),
    (
        "a token in an argument",
        deployment(server("--model-id=m/x", f"--hf-token={FAKE_TOKEN}"), runtime="tei"),
        [
            "container server: args[1] holds a literal Hugging Face token (hf_…) — pass it as env HF_TOKEN from a "
            "Secret, and revoke this one"
        ],
    ),
    (
        "a token in another env var and in an init container's command",
        deployment(
            server(env=[HF_FROM_SECRET, {"name": "HUB_AUTH", "value": f"Bearer {FAKE_TOKEN}"}]),
            init=(server(gpus=None, name="fetch", command=["sh", "-c", f"hf download --token {FAKE_TOKEN} m/x"]),),
        ),
        [
            "container fetch: command[2] holds a literal Hugging Face token (hf_…) — pass it as env HF_TOKEN from a "
            "Secret, and revoke this one",
            "container server: env HUB_AUTH holds a literal Hugging Face token (hf_…) — pass it as env HF_TOKEN from "
            "a Secret, and revoke this one",
        ],
    ),
]


@pytest.mark.parametrize(("case", "props", "expected"), HF_TOKEN, ids=[c[0] for c in HF_TOKEN])
def test_hf_token_from_secret(case: str, props: dict[str, Any], expected: list[str]) -> None:
    assert violations(hf_token_from_secret, props) == expected, case


# --- image-pinned ----------------------------------------------------------------------------------

DIGEST = "sha256:" + "0123456789abcdef" * 4

IMAGES = [
    ("a version tag", "vllm/vllm-openai:v0.33.0", []),
    ("an NGC tag", "nvcr.io/nvidia/tritonserver:26.07-py3", []),
    ("a digest", f"ghcr.io/huggingface/text-embeddings-inference@{DIGEST}", []),
    ("a tag and a digest", f"vllm/vllm-openai:v0.33.0@{DIGEST}", []),
    (
        "no tag",
        "vllm/vllm-openai",
        [
            "container server: image vllm/vllm-openai has no tag, so it runs whatever :latest is at pull time — "
            "pin a version tag or a digest"
        ],
    ),
    (
        "latest",
        "ghcr.io/huggingface/text-generation-inference:latest",
        [
            "container server: image ghcr.io/huggingface/text-generation-inference:latest uses the moving tag "
            "latest — pin a version tag or a digest"
        ],
    ),
    (
        "a registry port is not a tag",
        "localhost:5000/vllm",
        [
            "container server: image localhost:5000/vllm has no tag, so it runs whatever :latest is at pull time — "
            "pin a version tag or a digest"
        ],
    ),
    (
        "a short digest",
        "vllm/vllm-openai@sha256:abc",
        [
            "container server: image vllm/vllm-openai@sha256:abc has a malformed digest (want @sha256:<64 hex>) — "
            "pin a version tag or a digest"
        ],
    ),
]


@pytest.mark.parametrize(("case", "image", "expected"), IMAGES, ids=[c[0] for c in IMAGES])
def test_image_pinned(case: str, image: str, expected: list[str]) -> None:
    assert violations(image_pinned, deployment(server(image=image))) == expected, case


def test_image_pinned_covers_every_workload_and_init_container() -> None:
    job = {"spec": {"template": {"spec": {"initContainers": [{"name": "fetch", "image": "busybox"}]}}}}
    assert violations(image_pinned, job, "kubernetes:batch/v1:Job") == [
        "container fetch: image busybox has no tag, so it runs whatever :latest is at pull time — pin a version "
        "tag or a digest"
    ]


# --- model-server-has-startup-probe ----------------------------------------------------------------

STARTUP = [
    ("a model server with a startup probe", deployment(server()), []),
    ("a plain workload without one", deployment(server(startup=False), runtime=None), []),
    (
        "a model server without one",
        deployment(server(startup=False), runtime="tgi"),
        [
            "container server has no startupProbe — the liveness probe would restart the server while it "
            "downloads and loads the weights"
        ],
    ),
    (
        "a model server whose server container is not named server",
        deployment(server(startup=False, name="vllm")),
        [
            "container vllm has no startupProbe — the liveness probe would restart the server while it downloads "
            "and loads the weights"
        ],
    ),
]


@pytest.mark.parametrize(("case", "props", "expected"), STARTUP, ids=[c[0] for c in STARTUP])
def test_model_server_has_startup_probe(case: str, props: dict[str, Any], expected: list[str]) -> None:
    assert violations(model_server_has_startup_probe, props) == expected, case


# --- node-pool-machine-carries-gpu -----------------------------------------------------------------

MACHINES = [
    ("G2 with its one L4", node_pool(machine="g2-standard-12", count=1), []),
    ("the engine's floats", node_pool(machine="g2-standard-24", count=2.0), []),
    ("A2 with its two A100s", node_pool(machine="a2-highgpu-2g", gpu="nvidia-tesla-a100", count=2), []),
    ("N1 with two T4s", node_pool(machine="n1-standard-8", gpu="nvidia-tesla-t4", count=2), []),
    ("a CPU pool", node_pool(machine="e2-standard-4", gpu=None), []),
    (
        "G2 asked for two L4s",
        node_pool(machine="g2-standard-12", count=2),
        ["g2-standard-12 carries 1 x nvidia-l4, not 2 x nvidia-l4 — GKE refuses the pool; use g2-standard-24"],
    ),
    (
        "A2 with the wrong GPU count",
        node_pool(machine="a2-highgpu-2g", gpu="nvidia-tesla-a100", count=1),
        [
            "a2-highgpu-2g carries 2 x nvidia-tesla-a100, not 1 x nvidia-tesla-a100 — GKE refuses the pool; "
            "use a2-highgpu-1g"
        ],
    ),
    (
        "N1 with three T4s",
        node_pool(machine="n1-standard-8", gpu="nvidia-tesla-t4", count=3),
        ["n1-standard-8 attaches nvidia-tesla-t4 in counts of 1, 2, 4, not 3 — GKE refuses the pool"],
    ),
    (
        "N1 with an L4",
        node_pool(machine="n1-standard-8", gpu="nvidia-l4", count=1),
        [
            "n1-standard-8 cannot attach nvidia-l4 (N1 attaches nvidia-tesla-t4, nvidia-tesla-v100, nvidia-tesla-p4, "
            "nvidia-tesla-p100) — GKE refuses the pool; use g2-standard-4"
        ],
    ),
    (
        "a machine type outside the catalog",
        node_pool(machine="e2-standard-4", count=1),
        [
            "machine type e2-standard-4 is not in the GPU machine catalog (catalog/machines.yaml), so it cannot be "
            "shown to carry 1 x nvidia-l4"
        ],
    ),
    (
        "an accelerator outside the catalog",
        node_pool(machine="a4x-highgpu-4g", gpu="nvidia-gb200", count=4),
        ["accelerator nvidia-gb200 is not in the GPU catalog (catalog/gpus.yaml)"],
    ),
]


@pytest.mark.parametrize(("case", "props", "expected"), MACHINES, ids=[c[0] for c in MACHINES])
def test_node_pool_machine_carries_gpu(case: str, props: dict[str, Any], expected: list[str]) -> None:
    assert violations(node_pool_machine_carries_gpu, props, NODE_POOL) == expected, case


def test_node_pool_rule_ignores_deployments() -> None:
    assert violations(node_pool_machine_carries_gpu, deployment(server()), DEPLOYMENT) == []
