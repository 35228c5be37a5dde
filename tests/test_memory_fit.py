"""The per-GPU memory-fit estimator: every published observation, the Gemma 7B / L4 cases, the messages."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import catalog
from sizing.memory import FitRequest, FitResult, estimate, gpus_needed
from sizing.models import catalog as model_catalog
from sizing.models import resolve
from tests.tables import table

OBSERVATIONS: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parent / "fit_observations.yaml").read_text())


def request(model: str, runtime: str, gpu: str, **settings_: Any) -> FitRequest:
    resolved = resolve(model)
    assert resolved is not None, model
    return FitRequest(engine=runtime, model=model, arch=resolved[1], gpu=catalog.gpus()[gpu], **settings_)


def _row_id(row: dict[str, Any]) -> str:
    extras = ",".join(f"{k}={v}" for k, v in row["settings"].items())
    return f"{row['model']}|{row['runtime']}|{row['gpus']}x{row['gpu']}|{extras}"


# --- the published observations ------------------------------------------------------------------


def test_observation_rows_are_complete() -> None:
    assert len(OBSERVATIONS) == 42
    for row in OBSERVATIONS:
        assert row["source"], row
        assert row["runtime"] in ("vllm", "tgi", "tei")
        assert row["gpu"] in catalog.gpus()
        assert row["expect"] in ("fits", "does not fit")
        assert set(row["settings"]) <= {f.name for f in dataclasses.fields(FitRequest)}


@pytest.mark.parametrize("row", OBSERVATIONS, ids=_row_id)
def test_estimator_reproduces_published_observation(row: dict[str, Any]) -> None:
    req = request(row["model"], row["runtime"], row["gpu"], tensor_parallel=row["gpus"], **row["settings"])
    result = estimate(req)
    assert result.fits == (row["expect"] == "fits"), result.explain()
    if result.fits:
        assert result.suggestion == ""
        assert result.explain().endswith(" Fits.")


# --- Gemma 7B on L4 with vLLM (sizing.md §9a) ----------------------------------------------------

GEMMA_8K = (
    "google/gemma-7b on 1 x L4 (22.5 GiB): vLLM may use 0.92 x 22.5 = 20.7 GiB; weights 15.9 GiB (bf16), "
    "overhead 2.2 GiB (activations for 2048 tokens, logits 256 x 256000, CUDA graphs) leave 2.6 GiB of KV cache "
    "= 5,983 tokens at 448 KiB/token; 8,192 tokens need 3.5 GiB. Fits up to 5,968 tokens: set maxModelLen ≤ 5968, "
    "use an fp8 KV cache (kvCacheDtype fp8), quantize (awq), or use 2 GPUs."
)


def test_gemma_7b_bf16_on_one_l4_does_not_fit_8192_tokens_and_says_what_would() -> None:
    result = estimate(request("google/gemma-7b", "vllm", "nvidia-l4", max_len=8192))
    assert not result.fits
    assert result.usable_gib == pytest.approx(0.92 * 23034 / 1024)
    assert result.weights_gib == pytest.approx(15.90, abs=0.01)
    assert result.overhead_gib == pytest.approx(2.24, abs=0.01)
    assert result.kv_budget_gib == pytest.approx(result.usable_gib - result.weights_gib - result.overhead_gib)
    assert result.kv_needed_gib == pytest.approx(8192 * 458752 / 1024**3)
    assert result.max_len_that_fits == 5968
    assert result.suggestion == (
        "Fits up to 5,968 tokens: set maxModelLen ≤ 5968, use an fp8 KV cache (kvCacheDtype fp8), "
        "quantize (awq), or use 2 GPUs."
    )
    assert result.explain() == GEMMA_8K


def test_default_length_is_the_model_maximum() -> None:
    assert estimate(request("google/gemma-7b", "vllm", "nvidia-l4")) == estimate(
        request("google/gemma-7b", "vllm", "nvidia-l4", max_len=8192)
    )


def test_gemma_7b_fits_one_l4_at_600_tokens() -> None:
    result = estimate(request("google/gemma-7b", "vllm", "nvidia-l4", max_len=600))
    assert result.fits
    assert result.suggestion == ""


def test_the_suggested_length_fits_and_one_block_more_does_not() -> None:
    base = request("google/gemma-7b", "vllm", "nvidia-l4")
    longest = estimate(base).max_len_that_fits
    assert estimate(dataclasses.replace(base, max_len=longest)).fits
    assert not estimate(dataclasses.replace(base, max_len=longest + 16)).fits


def test_gemma_7b_fits_two_l4_with_tensor_parallel_2() -> None:
    one = estimate(request("google/gemma-7b", "vllm", "nvidia-l4"))
    two = estimate(request("google/gemma-7b", "vllm", "nvidia-l4", tensor_parallel=2))
    assert two.fits
    assert two.weights_gib == pytest.approx(one.weights_gib / 2)
    assert two.kv_needed_gib == pytest.approx(one.kv_needed_gib / 2)  # KV heads split too


def test_fp8_kv_cache_doubles_the_context_and_1200_tokens_fit() -> None:
    bf16 = estimate(request("google/gemma-7b", "vllm", "nvidia-l4", max_len=1200))
    fp8 = estimate(request("google/gemma-7b", "vllm", "nvidia-l4", max_len=1200, kv_cache_dtype="fp8_e5m2"))
    assert fp8.fits
    assert fp8.kv_needed_gib == pytest.approx(bf16.kv_needed_gib / 2)
    assert fp8.kv_needed_gib == pytest.approx(1200 * 229376 / 1024**3)


def test_gemma_7b_awq_fits_one_l4_at_the_default_length() -> None:
    result = estimate(request("google/gemma-7b-AWQ", "vllm", "nvidia-l4", quantization="awq"))
    assert result.fits
    assert result.weights_gib == pytest.approx(5.22, abs=0.01)
    assert result.max_len_that_fits == 8192  # capped at the model's max_position_embeddings


def test_gpus_needed() -> None:
    assert gpus_needed(request("google/gemma-7b", "vllm", "nvidia-l4")) == 2
    assert gpus_needed(request("google/gemma-7b", "vllm", "nvidia-l4", max_len=600)) == 1
    assert gpus_needed(request("meta-llama/Llama-3.1-70B", "vllm", "nvidia-l4", max_len=8192)) == 8
    assert gpus_needed(request("meta-llama/Llama-3.1-70B", "vllm", "nvidia-l4", max_len=8192), max_gpus=4) is None
    assert gpus_needed(request("meta-llama/Llama-3.1-70B", "vllm", "nvidia-l4")) is None  # 131072 tokens


# --- engine defaults -----------------------------------------------------------------------------


def test_large_gpus_get_vllm_large_batch_defaults() -> None:
    # get_batch_defaults: >= 70 GiB and not A100 -> 8192 batched tokens, 1024 sequences.
    h100 = estimate(request("google/gemma-7b", "vllm", "nvidia-h100-80gb")).explain()
    a100 = estimate(request("google/gemma-7b", "vllm", "nvidia-a100-80gb")).explain()
    assert "(activations for 8192 tokens, logits 1024 x 256000, CUDA graphs)" in h100
    assert "(activations for 2048 tokens, logits 256 x 256000, CUDA graphs)" in a100


def test_vllm_caps_the_batch_at_sequences_times_length() -> None:
    explain = estimate(request("google/gemma-7b", "vllm", "nvidia-l4", max_len=256, max_num_seqs=4)).explain()
    assert "(activations for 1024 tokens, logits 4 x 256000, CUDA graphs)" in explain


def test_gpu_memory_utilization_sets_the_usable_memory() -> None:
    result = estimate(request("google/gemma-7b", "vllm", "nvidia-l4", gpu_memory_utilization=0.5))
    assert result.usable_gib == pytest.approx(0.5 * 23034 / 1024)
    assert result.max_len_that_fits == 0
    assert result.suggestion == "The weights need 15.9 GiB per GPU of 11.2 GiB: quantize (awq), or use 4 GPUs."


@pytest.mark.parametrize(
    ("model", "runtime", "gpu", "settings", "explanation"),
    table("memory_explanations", "model", "runtime", "gpu", "settings", "explanation"),
)
def test_the_estimate_explains_itself(
    model: str, runtime: str, gpu: str, settings: dict[str, Any], explanation: str
) -> None:
    result = estimate(request(model, runtime, gpu, **settings))
    assert result.explain() == explanation
    assert explanation.endswith(" Fits.") == result.fits


def test_tgi_memory_fraction_reserves_the_rest() -> None:
    full = estimate(request("google/gemma-2-2b", "tgi", "nvidia-l4", max_len=2048))
    part = estimate(request("google/gemma-2-2b", "tgi", "nvidia-l4", max_len=2048, cuda_memory_fraction=0.93))
    assert part.usable_gib == pytest.approx(0.93 * full.usable_gib)
    assert part.kv_budget_gib < full.kv_budget_gib


def test_tgi_kv_cache_must_hold_the_prefill_batch() -> None:
    # 12,421 tokens of KV cache: a 3,072-token context fits, a 16,000-token prefill batch does not.
    result = estimate(request("google/gemma-7b", "tgi", "nvidia-l4", max_len=3072, max_batch_prefill_tokens=16000))
    assert not result.fits
    assert "set maxTotalTokens" not in result.suggestion  # a shorter context alone would not help


def test_tgi_suggests_max_total_tokens() -> None:
    result = estimate(request("google/gemma-7b", "tgi", "nvidia-l4", cuda_memory_fraction=0.85))
    assert not result.fits
    assert result.suggestion == ("Fits up to 3,931 tokens: set maxTotalTokens ≤ 3931, quantize (awq), or use 2 GPUs.")
    # 1.7 GiB of KV cache: even at 1 byte per value 8,192 tokens (1.75 GiB) do not fit.
    assert 1.6 < result.kv_budget_gib < 8192 * 229376 / 1024**3
    # The default prefill batch (4096) shrinks with the context, so 3,931 tokens fit.
    assert estimate(request("google/gemma-7b", "tgi", "nvidia-l4", cuda_memory_fraction=0.85, max_len=3931)).fits


# --- encoders, refusals, errors ------------------------------------------------------------------


def test_tei_encoder_has_no_kv_cache() -> None:
    result = estimate(request("BAAI/bge-m3", "tei", "nvidia-l4"))
    assert result.fits
    assert (result.kv_budget_gib, result.kv_needed_gib) == (0.0, 0.0)
    assert result.weights_gib == pytest.approx(567754752 * 2 / 1024**3)  # TEI defaults to float16


def test_tei_without_flash_attention_pays_for_attention_scores() -> None:
    l4 = estimate(request("BAAI/bge-m3", "tei", "nvidia-l4"))
    t4 = estimate(request("BAAI/bge-m3", "tei", "nvidia-tesla-t4"))
    assert t4.overhead_gib == pytest.approx(l4.overhead_gib + 16 * 8194 * 8194 * 2 / 1024**3)


def test_tei_batch_too_large_for_the_gpu() -> None:
    result = estimate(request("BAAI/bge-m3", "tei", "nvidia-tesla-p4", max_batch_prefill_tokens=400000))
    assert not result.fits
    assert result.max_len_that_fits == 0
    assert result.suggestion == "Weights and activations exceed 7.5 GiB: lower maxBatchTokens."


def test_vllm_loads_fp32_encoders_in_fp16() -> None:
    result = estimate(request("BAAI/bge-m3", "vllm", "nvidia-l4"))
    assert result.fits
    assert result.weights_gib == pytest.approx(567754752 * 2 / 1024**3)
    explicit = estimate(request("BAAI/bge-m3", "vllm", "nvidia-l4", dtype="float32"))
    assert explicit.weights_gib == pytest.approx(2 * result.weights_gib)


@pytest.mark.parametrize(
    ("req", "message"),
    [
        (
            request("BAAI/bge-m3", "tgi", "nvidia-l4"),
            "BAAI/bge-m3 on 1 x L4 (22.5 GiB): TGI serves generative models only (its supported_models.md). "
            "Serve it with TEI or vLLM.",
        ),
        (
            request("BAAI/bge-m3", "tei", "nvidia-l4", tensor_parallel=2),
            "BAAI/bge-m3 on 2 x L4 (22.5 GiB): TEI runs one GPU per container (no tensor parallelism). "
            "Use 1 GPU per replica and scale out with replicas.",
        ),
        (
            request("google/gemma-7b", "vllm", "nvidia-l4", tensor_parallel=3),
            "google/gemma-7b on 3 x L4 (22.5 GiB): 16 attention heads do not split evenly across 3 GPUs. "
            "Use a GPU count that divides 16.",
        ),
    ],
)
def test_configurations_the_runtime_refuses(req: FitRequest, message: str) -> None:
    result = estimate(req)
    assert not result.fits
    assert result.explain() == message
    assert message.endswith(result.suggestion)


def test_context_longer_than_the_model_supports() -> None:
    result = estimate(request("google/gemma-7b", "vllm", "nvidia-h100-80gb", max_len=9000))
    assert not result.fits
    assert result.suggestion == "google/gemma-7b takes at most 8,192 tokens: set maxModelLen ≤ 8192."


def test_weights_that_fit_nowhere_get_a_combined_fix() -> None:
    result = estimate(request("meta-llama/Llama-3.1-70B-Instruct", "vllm", "nvidia-l4"))
    assert not result.fits
    assert result.max_len_that_fits == 0
    assert result.explain().endswith(
        "leave no room for the KV cache (-112.8 GiB). The weights need 131.4 GiB per GPU of 20.7 GiB: "
        "use 8 GPUs with maxModelLen ≤ 60048."
    )
    eight = request("meta-llama/Llama-3.1-70B-Instruct", "vllm", "nvidia-l4", tensor_parallel=8, max_len=60048)
    assert estimate(eight).fits


def test_old_gpus_get_gptq_not_awq() -> None:
    result = estimate(request("meta-llama/Llama-2-13b-chat-hf", "vllm", "nvidia-tesla-v100"))
    assert result.suggestion == "The weights need 24.2 GiB per GPU of 14.7 GiB: quantize (gptq), or use 4 GPUs."


def test_unknown_inputs_are_errors() -> None:
    with pytest.raises(ValueError, match=r"^unknown memory engine 'triton'; sizing covers vllm, tgi, tei$"):
        estimate(request("google/gemma-7b", "triton", "nvidia-l4"))
    with pytest.raises(ValueError, match=r"^unknown KV cache dtype 'int4'; use auto, fp8, fp8_e4m3 or fp8_e5m2$"):
        estimate(request("google/gemma-7b", "vllm", "nvidia-l4", kv_cache_dtype="int4"))
    with pytest.raises(ValueError, match=r"^tensor_parallel must be at least 1, not 0$"):
        estimate(request("google/gemma-7b", "vllm", "nvidia-l4", tensor_parallel=0))


# --- properties ----------------------------------------------------------------------------------

DECODERS = sorted(k for k, a in model_catalog().items() if a.kind == "decoder")
GPUS = sorted(catalog.gpus())


@settings(max_examples=150, deadline=None)
@given(
    model=st.sampled_from(DECODERS),
    gpu=st.sampled_from(GPUS),
    runtime=st.sampled_from(["vllm", "tgi"]),
    tp=st.sampled_from([1, 2, 4, 8]),
    max_len=st.integers(min_value=64, max_value=32768),
)
def test_budget_identities_and_monotonic_length(model: str, gpu: str, runtime: str, tp: int, max_len: int) -> None:
    arch = model_catalog()[model]
    max_len = min(max_len, arch.max_position_embeddings)
    req = FitRequest(engine=runtime, model=model, arch=arch, gpu=catalog.gpus()[gpu], tensor_parallel=tp)
    result: FitResult = estimate(dataclasses.replace(req, max_len=max_len))
    if arch.attention_heads % tp:
        assert not result.fits
        return
    assert result.kv_budget_gib == pytest.approx(result.usable_gib - result.weights_gib - result.overhead_gib)
    assert (result.suggestion == "") == result.fits
    assert result.max_len_that_fits <= arch.max_position_embeddings
    if result.fits:
        assert result.max_len_that_fits >= max_len
        assert estimate(dataclasses.replace(req, max_len=max(1, max_len // 2))).fits
        assert gpus_needed(dataclasses.replace(req, max_len=max_len)) in (1, 2, 4, 8)
    elif result.kv_budget_gib <= 0:
        assert result.max_len_that_fits == 0


@settings(max_examples=60, deadline=None)
@given(model=st.sampled_from(DECODERS), gpu=st.sampled_from(GPUS), low=st.floats(0.5, 0.9))
def test_more_memory_utilization_never_breaks_a_fit(model: str, gpu: str, low: float) -> None:
    arch = model_catalog()[model]
    req = FitRequest(engine="vllm", model=model, arch=arch, gpu=catalog.gpus()[gpu], max_len=4096)
    if estimate(dataclasses.replace(req, gpu_memory_utilization=low)).fits:
        assert estimate(dataclasses.replace(req, gpu_memory_utilization=low + 0.05)).fits


@pytest.mark.parametrize(
    ("req", "suggestion"),
    [
        (
            request("google/gemma-7b", "vllm", "nvidia-l4", gpu_memory_utilization=0.8),
            "Weights and overhead leave no KV cache in 18.0 GiB per GPU: quantize (awq), or use 2 GPUs.",
        ),
        (
            request("google/gemma-7b", "tgi", "nvidia-l4", cuda_memory_fraction=0.9),
            "Fits up to 6,300 tokens: set maxTotalTokens ≤ 6300, use an fp8 KV cache (kvCacheDtype fp8_e5m2), "
            "quantize (awq), or use 2 GPUs.",
        ),
        (
            request("Qwen/Qwen2.5-72B-Instruct", "vllm", "nvidia-h100-80gb"),
            "The weights need 135.4 GiB per GPU of 73.3 GiB: quantize (awq), or use 4 GPUs.",
        ),
        (
            request("meta-llama/Llama-4-Maverick-17B-128E", "vllm", "nvidia-l4"),
            "The weights need 748.8 GiB per GPU of 20.7 GiB; nothing up to 8 GPUs fits: use a GPU with more memory.",
        ),
    ],
)
def test_suggestions(req: FitRequest, suggestion: str) -> None:
    result = estimate(req)
    assert not result.fits
    assert result.suggestion == suggestion
    assert result.explain().endswith(" " + suggestion)
