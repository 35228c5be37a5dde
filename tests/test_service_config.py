"""Validation of `services`: each server rule, with the exact message and the warnings."""

from __future__ import annotations

from typing import Any

import pytest

from config import parse_environment
from config.services import gpus_per_replica
from tests.test_config import problems, with_service

L4, T4, L4X2, A100 = "l4", "t4", "l4x2", "a100"


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        (
            {"runtime": "tgi", "model": "a/b", "pool": "h100"},
            "gke-serving:services.svc.pool: no GPU pool named 'h100' — use one of l4, l4x2, t4, a100",
        ),
        (
            {"runtime": "tgi", "model": "a/b", "pool": L4, "quantize": "int4"},
            "gke-serving:services.svc.quantize: 'int4' is not accepted by this server version — use one of awq, "
            "compressed-tensors, eetq, exl2, gptq, marlin, bitsandbytes, bitsandbytes-nf4, bitsandbytes-fp4, fp8",
        ),
        (
            {"runtime": "vllm", "model": "a/b", "pool": L4, "quantization": "awk"},
            "gke-serving:services.svc.quantization: 'awk' is not accepted by this server version — did you mean 'awq'? "
            "allowed: awq, auto_awq, awq_marlin, auto_gptq, gptq, gptq_marlin, fp8, fbgemm_fp8, fp_quant, mxfp4, "
            "gpt_oss_mxfp4, deepseek_v4_fp8, mxfp8, modelopt, modelopt_fp4, modelopt_mxfp8, modelopt_mixed, humming, "
            "compressed-tensors, experts_int8, quark, moe_wna16, torchao, inc, online, fp8_per_tensor, fp8_per_block, "
            "fp8_per_channel, int8_per_channel_weight_only, nvfp4_per_token",
        ),
        (
            {"runtime": "tgi", "model": "a/b", "pool": L4, "kvCacheDtype": "fp8_e4m3"},
            "gke-serving:services.svc.kvCacheDtype: 'fp8_e4m3' is not accepted by this server version — did you mean "
            "'fp8_e4m3fn'? allowed: fp8_e4m3fn, fp8_e5m2",
        ),
        (
            {"runtime": "tei", "model": "a/b", "pool": L4, "pooling": "max"},
            "gke-serving:services.svc.pooling: 'max' is not accepted by this server version — use one of cls, mean, "
            "splade, last-token",
        ),
        (
            {"runtime": "tgi", "model": "a/b", "pool": L4, "numShard": 2},
            "gke-serving:services.svc.numShard: one replica needs 2 GPUs but a node of pool 'l4' has 1 — use a pool of "
            "g2-standard-24, or lower the parallelism to 1",
        ),
        (
            {"runtime": "vllm", "model": "a/b", "pool": L4X2, "tensorParallelSize": 2, "pipelineParallelSize": 2},
            "gke-serving:services.svc.tensorParallelSize: one replica needs 4 GPUs but a node of pool 'l4x2' has 2 — "
            "use a pool of g2-standard-48, or lower the parallelism to 2",
        ),
        (
            {
                "runtime": "triton",
                "model": "m",
                "pool": L4,
                "gpus": 2,
                "modelRepository": "gs://models-bucket/m",
                "auth": False,
            },
            "gke-serving:services.svc.gpus: one replica needs 2 GPUs but a node of pool 'l4' has 1 — use a pool of "
            "g2-standard-24, or lower the parallelism to 1",
        ),
        (
            {"runtime": "tgi", "model": "a/b", "pool": L4, "maxInputTokens": 4096, "maxTotalTokens": 4096},
            "gke-serving:services.svc.maxInputTokens: maxInputTokens (4096) must be below maxTotalTokens (4096) — lower "
            "maxInputTokens to at most 4095 or raise maxTotalTokens",
        ),
        (
            {"runtime": "tgi", "model": "a/b", "pool": L4, "maxTotalTokens": 8192, "maxBatchTotalTokens": 4096},
            "gke-serving:services.svc.maxTotalTokens: maxTotalTokens (8192) is above maxBatchTotalTokens (4096) — raise "
            "maxBatchTotalTokens to at least 8192 or lower maxTotalTokens",
        ),
        (
            {"runtime": "tgi", "model": "a/b", "pool": L4, "maxInputTokens": 2048, "maxBatchPrefillTokens": 1024},
            "gke-serving:services.svc.maxBatchPrefillTokens: maxBatchPrefillTokens (1024) is below maxInputTokens "
            "(2048) — raise maxBatchPrefillTokens to at least 2048",
        ),
        (
            {"runtime": "tgi", "model": "a/b", "pool": L4, "quantize": "awq", "dtype": "float16"},
            "gke-serving:services.svc.dtype: TGI refuses --dtype together with --quantize — remove dtype (the quantized "
            "kernels pick it)",
        ),
        (
            {"runtime": "tgi", "model": "a/b", "pool": L4X2, "quantize": "exl2", "numShard": 2},
            "gke-serving:services.svc.quantize: exl2 cannot be sharded over several GPUs — use numShard: 1 or another "
            "quantization (awq, gptq)",
        ),
        (
            {"runtime": "vllm", "model": "a/b", "pool": T4, "dtype": "bfloat16"},
            "gke-serving:services.svc.dtype: T4 has no bf16 support (compute capability 7.5 < 8.0) — use float16, or a "
            "pool of L4, A100 40GB, A100 80GB, H100 80GB, H100 Mega 80GB, H200, B200",
        ),
        (
            {"runtime": "vllm", "model": "a/b", "pool": A100, "quantization": "fp8"},
            "gke-serving:services.svc.quantization: FP8 weights need FP8 tensor cores, which A100 40GB lacks — use awq "
            "or gptq (4-bit), or a pool of L4, H100 80GB, H100 Mega 80GB, H200, B200",
        ),
        (
            {"runtime": "tgi", "model": "a/b", "pool": A100, "quantize": "fp8"},
            "gke-serving:services.svc.quantize: FP8 weights need FP8 tensor cores, which A100 40GB lacks — use awq or "
            "gptq (4-bit), or a pool of L4, H100 80GB, H100 Mega 80GB, H200, B200",
        ),
        (
            {"runtime": "vllm", "model": "a/b", "pool": A100, "kvCacheDtype": "fp8_e4m3"},
            "gke-serving:services.svc.kvCacheDtype: an fp8 e4m3 KV cache needs FP8 hardware, which A100 40GB lacks — use "
            "fp8_e5m2, or a pool of L4, H100 80GB, H100 Mega 80GB, H200, B200",
        ),
        (
            {"runtime": "vllm", "model": "a/b", "pool": T4, "kvCacheDtype": "fp8_e5m2"},
            "gke-serving:services.svc.kvCacheDtype: fp8 KV-cache kernels need compute capability 8.0, T4 has 7.5 — "
            "remove kvCacheDtype",
        ),
        (
            {"runtime": "vllm", "model": "a/b", "pool": L4, "kvCacheDtype": "nvfp4"},
            "gke-serving:services.svc.kvCacheDtype: nvfp4 needs Blackwell GPUs (compute capability 10.0) — use fp8_e5m2, "
            "or a pool of B200",
        ),
        (
            {"runtime": "tgi", "model": "a/b", "pool": L4, "extraArgs": ["--max-input-length=1024"]},
            "gke-serving:services.svc.extraArgs: --max-input-length no longer exists in tgi 3.3.7 — use maxInputTokens",
        ),
        (
            {"runtime": "vllm", "model": "a/b", "pool": L4, "extraArgs": ["--max-model-len", "4096"]},
            "gke-serving:services.svc.extraArgs: --max-model-len is set from the service's maxModelLen key — set "
            "maxModelLen instead",
        ),
        (
            {"runtime": "tei", "model": "a/b", "pool": L4, "extraArgs": ["--port=80"]},
            "gke-serving:services.svc.extraArgs: --port is generated by the platform — remove it",
        ),
        (
            {"runtime": "triton", "model": "m", "pool": L4, "modelRepository": "gs://models-bucket/m"},
            "gke-serving:services.svc.auth: Triton has no API-key check of its own — enable Identity-Aware Proxy on "
            "the gateway (gateway.iap.oauthClientId and the secret iapClientSecret), or set auth: false (the route is "
            "then open to anyone who reaches the gateway)",
        ),
        (
            {"runtime": "triton", "model": "m", "pool": L4, "modelRepository": "s3://b/m", "auth": False},
            "gke-serving:services.svc.modelRepository: 's3://b/m' is not a Cloud Storage path — write "
            "gs://<bucket>/<folder>, the bucket in lowercase letters, digits, -, _ and ., e.g. gs://acme-models/triton",
        ),
        (
            {"runtime": "vllm", "model": "gemma-7b", "pool": L4},
            "gke-serving:services.svc.model: 'gemma-7b' is not a Hugging Face model id — write namespace/name of "
            "letters, digits, _, - and ., each part starting and ending with a letter, digit or _, without -- or .., "
            "not ending in .git, the name at most 96 characters (e.g. BAAI/bge-m3)",
        ),
        (
            {"runtime": "vllm", "model": "a/b", "pool": L4, "image": "vllm/vllm-openai:latest extra"},
            "gke-serving:services.svc.image: 'vllm/vllm-openai:latest extra' is not an image reference — write "
            "[registry[:port]/]repository[:tag][@sha256:<64 hex>], the repository in lowercase letters, digits, ., _ and -, "
            "e.g. registry.example.com:5000/team/server:1.2.3",
        ),
        (
            {"runtime": "vllm", "model": "a/b", "pool": L4, "autoscaling": {"minReplicas": 3, "maxReplicas": 2}},
            "gke-serving:services.svc.autoscaling: minReplicas (3) is above maxReplicas (2) — raise maxReplicas or lower "
            "minReplicas",
        ),
        (
            {"runtime": "vllm", "model": "a/b", "pool": L4, "gpuMemoryUtilization": 1.5},
            "gke-serving:services.svc.gpuMemoryUtilization: 1.5: input should be less than or equal to 1 — change the "
            "value",
        ),
        (
            {"runtime": "vllm", "model": "a/b", "pool": L4, "tensorParalelSize": 2},
            "gke-serving:services.svc.tensorParalelSize: unknown key — did you mean 'tensorParallelSize'?",
        ),
        (
            {"model": "a/b", "pool": L4},
            "gke-serving:services.svc: runtime is missing — add runtime: tei, tgi, vllm, triton, sglang or custom",
        ),
    ],
)
def test_service_problems(service: dict[str, Any], expected: str) -> None:
    assert expected in problems(with_service(**service))


def test_min_replicas_must_fit_the_pool() -> None:
    raw = with_service(runtime="tei", model="a/b", pool="l4", replicas=5)
    assert (
        "gke-serving:nodePools.l4.maxNodes: the services on this pool need 5 GPUs at their minimum replicas but "
        "the pool has 4 (4 nodes x 1) — raise maxNodes to at least 5 or lower the services' replicas"
    ) in problems(raw)


@pytest.mark.parametrize(
    ("service", "warning"),
    [
        (
            {"runtime": "tgi", "model": "a/b", "pool": L4, "quantize": "bitsandbytes"},
            "gke-serving:services.svc.quantize: 'bitsandbytes' is deprecated in tgi 3.3.7 — use 'eetq'",
        ),
        (
            {"runtime": "vllm", "model": "a/b-FP8", "pool": L4, "quantization": "fbgemm_fp8"},
            "gke-serving:services.svc.quantization: 'fbgemm_fp8' is deprecated in vllm v0.33.0 — use 'fp8'",
        ),
        (
            {"runtime": "tei", "model": "a/b", "pool": L4, "auth": False},
            "gke-serving:services.svc.auth: false — the service answers anyone who reaches the gateway",
        ),
        (
            {"runtime": "tei", "model": "a/b", "pool": L4, "autoscaling": {"maxReplicas": 6}},
            "gke-serving:nodePools.l4.maxNodes: the services on this pool may scale to 6 GPUs but the pool stops at 4 — "
            "raise maxNodes to scale fully",
        ),
    ],
)
def test_accepted_with_a_warning(service: dict[str, Any], warning: str) -> None:
    assert warning in parse_environment(with_service(**service)).warnings


def test_tei_always_takes_one_gpu_per_replica() -> None:
    env = parse_environment(with_service(runtime="tei", model="a/b", pool=L4X2, replicas=2))
    assert gpus_per_replica(env.services["svc"]) == 1


IAP = {"iap": {"oauthClientId": "1234-abc.apps.googleusercontent.com"}}
TRITON = {"runtime": "triton", "model": "m", "pool": L4, "modelRepository": "gs://models-bucket/m"}


def test_triton_with_auth_is_accepted_behind_iap() -> None:
    raw = with_service(**TRITON)
    raw["gke-serving:gateway"] = IAP
    raw["gke-serving:iapClientSecret"] = "placeholder"
    assert parse_environment(raw).gateway.iap is not None


def test_iap_needs_its_client_secret() -> None:
    raw = with_service(**TRITON)
    raw["gke-serving:gateway"] = IAP
    assert problems(raw) == [
        "gke-serving:iapClientSecret: gateway.iap needs the OAuth client's secret — run `pulumi config set "
        "--secret iapClientSecret <the client's secret>`"
    ]
