"""The model catalog: resolving served ids to architectures, KV bytes per token, and weight bytes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

import sizing.models
from sizing.models import Architecture, catalog, quantization_from_name, resolve, weight_bytes

GIB = 1024**3


def arch(model_id: str) -> Architecture:
    resolved = resolve(model_id)
    assert resolved is not None, model_id
    return resolved[1]


@pytest.mark.parametrize(
    ("model_id", "base"),
    [
        ("google/gemma-7b", "google/gemma-7b"),
        ("google/gemma-7b-it", "google/gemma-7b"),
        ("google/gemma-7b-AWQ", "google/gemma-7b"),
        ("GOOGLE/GEMMA-7B", "google/gemma-7b"),
        ("gemma-7b", "google/gemma-7b"),
        ("google/gemma-1.1-7b-it", "google/gemma-7b"),
        ("google/codegemma-1.1-7b-it", "google/gemma-7b"),
        ("google/gemma-2b-it", "google/gemma-2b"),
        ("google/gemma-2-2b-it", "google/gemma-2-2b"),
        ("google/gemma-3-27b-it", "google/gemma-3-27b"),
        ("meta-llama/Llama-2-7b-chat-hf", "meta-llama/Llama-2-7b-hf"),
        ("TheBloke/Llama-2-13B-chat-AWQ", "meta-llama/Llama-2-13b-hf"),
        ("meta-llama/Llama-2-70b-chat-hf", "meta-llama/Llama-2-70b-hf"),
        ("meta-llama/Meta-Llama-3-8B-Instruct", "meta-llama/Meta-Llama-3-8B"),
        ("meta-llama/Meta-Llama-3-70B-Instruct", "meta-llama/Meta-Llama-3-70B"),
        ("meta-llama/Meta-Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B"),
        ("meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8", "meta-llama/Llama-4-Maverick-17B-128E"),
        ("Qwen/Qwen2.5-7B-Instruct-GPTQ-Int4", "Qwen/Qwen2.5-7B"),
        ("Qwen/Qwen2.5-72B-Instruct-AWQ", "Qwen/Qwen2.5-72B"),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", "mistralai/Mixtral-8x7B-v0.1"),
        ("mistralai/Mistral-7B-Instruct-v0.1", "mistralai/Mistral-7B-v0.1"),
        ("mistralai/Mistral-7B-Instruct-v0.3", "mistralai/Mistral-7B-v0.3"),
        ("tiiuae/falcon-40b-instruct", "tiiuae/falcon-40b"),
        ("BAAI/bge-m3", "BAAI/bge-m3"),
        ("BAAI/bge-reranker-v2-m3", "BAAI/bge-reranker-v2-m3"),
    ],
)
def test_resolve_maps_variants_and_mirrors_to_their_base(model_id: str, base: str) -> None:
    resolved = resolve(model_id)
    assert resolved is not None
    assert resolved[0] == base
    # Same architecture; only an -Instruct context may differ (next test).
    context = resolved[1].max_position_embeddings
    assert resolved[1] == dataclasses.replace(catalog()[base], max_position_embeddings=context)


@pytest.mark.parametrize("model_id", ["acme/unknown-1b", "google/gemma-13b", "mistralai/Mistral-7B-v0.2", ""])
def test_resolve_returns_none_for_unknown_models(model_id: str) -> None:
    assert resolve(model_id) is None


def test_instruct_variants_get_the_instruct_context() -> None:
    # Qwen2.5 base configs say 131072 and the -Instruct configs 32768 (sizing.md §2).
    assert arch("Qwen/Qwen2.5-7B").max_position_embeddings == 131072
    assert arch("Qwen/Qwen2.5-7B-Instruct").max_position_embeddings == 32768
    assert arch("Qwen/Qwen2.5-7B-Instruct-GPTQ-Int4").max_position_embeddings == 32768
    assert arch("meta-llama/Llama-3.1-8B-Instruct").max_position_embeddings == 131072


_VARIANT_SUFFIXES = ["-it", "-Instruct", "-chat", "-hf", "-AWQ", "-GPTQ-Int4", "-FP8", "-bnb-4bit", "_instruct"]


@given(
    base=st.sampled_from(sorted(catalog())),
    suffixes=st.lists(st.sampled_from(_VARIANT_SUFFIXES), max_size=3),
    org=st.sampled_from(["", "TheBloke/", "someone/"]),
)
def test_any_variant_suffix_resolves_to_the_base(base: str, suffixes: list[str], org: str) -> None:
    name = base.split("/", 1)[1]
    resolved = resolve(org + name + "".join(suffixes))
    assert resolved is not None
    assert resolved[0] == base


def test_kv_bytes_per_token() -> None:
    gemma = arch("google/gemma-7b")
    # 2 (K, V) x 28 layers x 16 KV heads x 256 head_dim x 2 bytes = 448 KiB (sizing.md §2).
    assert gemma.kv_bytes_per_token(2) == 458752
    assert gemma.kv_bytes_per_token(1) == 229376
    assert arch("meta-llama/Meta-Llama-3-8B").kv_bytes_per_token(2) == 131072
    assert arch("Qwen/Qwen2.5-7B").kv_bytes_per_token(2) == 57344
    assert arch("BAAI/bge-m3").kv_bytes_per_token(2) == 0.0


def _decoder_params(model_id: str, a: Architecture) -> int:
    """sizing.md §1: embeddings, attention, gated MLP (x experts), norms, an untied lm_head."""
    h, hd = a.hidden_size, a.head_dim
    attention = h * a.attention_heads * hd + 2 * h * a.kv_heads * hd + a.attention_heads * hd * h
    if model_id.startswith("Qwen/"):
        attention += (a.attention_heads + 2 * a.kv_heads) * hd  # q/k/v biases
    mlp = 3 * h * a.intermediate_size * a.experts + (h * a.experts if a.experts > 1 else 0)  # + router
    norms = (4 if model_id.startswith("google/gemma-2-") else 2) * h  # Gemma 2 adds post-norms
    embeddings = a.vocab_size * h * (1 if a.tied_embeddings else 2)
    return embeddings + a.layers * (attention + mlp + norms) + h


# Entries whose params are not the plain decoder formula: published totals (Llama 4), vision tower
# included (Gemma 3), Falcon's block, encoders.
_NOT_LLAMA_LIKE = {"google/gemma-3-4b", "google/gemma-3-12b", "google/gemma-3-27b", "tiiuae/falcon-40b"}


@pytest.mark.parametrize("model_id", sorted(catalog()))
def test_catalog_params_match_the_config_fields(model_id: str) -> None:
    a = catalog()[model_id]
    if a.kind == "encoder" or model_id in _NOT_LLAMA_LIKE or "Llama-4" in model_id:
        assert 0.3e9 < a.params < 500e9
        return
    # Exact: a typo in any architecture field or in params shows here.
    assert a.params == _decoder_params(model_id, a)


def test_every_catalog_entry_names_its_source() -> None:
    with (Path(sizing.models.__file__).parent / "models.yaml").open() as f:
        models = yaml.safe_load(f)["models"]
    missing = [model_id for model_id, v in models.items() if not v.get("source")]
    assert missing == []
    assert {v.get("kind", "decoder") for v in models.values()} == {"decoder", "encoder"}
    assert {v["dtype"] for v in models.values()} <= {"bfloat16", "float16", "float32"}


def test_weight_bytes_16_bit_is_two_bytes_per_param() -> None:
    gemma = arch("google/gemma-7b")
    assert weight_bytes(gemma, quantization=None, dtype=None) == 2 * 8537680896
    assert weight_bytes(gemma, quantization=None, dtype="auto") == 2 * 8537680896
    assert weight_bytes(gemma, quantization=None, dtype="float32") == 4 * 8537680896
    assert weight_bytes(gemma, quantization=None, dtype="half") == 2 * 8537680896
    assert weight_bytes(gemma, quantization=None, dtype=None) / GIB == pytest.approx(15.90, abs=0.01)


def test_four_bit_quantization_keeps_tied_embeddings_16_bit() -> None:
    gemma = arch("google/gemma-7b")
    embed = 256000 * 3072  # tied: one matrix, 1.47 GiB at 16 bits (sizing.md §8)
    expected = (8537680896 - embed) * 0.52 + embed * 2
    assert weight_bytes(gemma, quantization="awq", dtype=None) == pytest.approx(expected)
    assert weight_bytes(gemma, quantization="GPTQ", dtype=None) == pytest.approx(expected)
    assert weight_bytes(gemma, quantization="awq", dtype=None) / GIB == pytest.approx(5.22, abs=0.01)


def test_quantization_keeps_an_untied_lm_head_16_bit_too() -> None:
    llama = arch("meta-llama/Llama-2-70b-hf")
    embed_and_head = 2 * 32000 * 8192
    assert weight_bytes(llama, quantization="bitsandbytes-nf4", dtype=None) == pytest.approx(
        (68976648192 - embed_and_head) * 0.515875 + embed_and_head * 2
    )
    assert weight_bytes(llama, quantization="fp8", dtype=None) == pytest.approx(
        (68976648192 - embed_and_head) * 1.0 + embed_and_head * 2
    )
    assert weight_bytes(llama, quantization="eetq", dtype=None) == weight_bytes(
        llama, quantization="bitsandbytes", dtype=None
    )


def test_fp32_checkpoints_load_in_16_bit_for_decoders_only() -> None:
    bge = arch("BAAI/bge-m3")  # fp32 checkpoint: encoders keep their native dtype under "auto"
    assert weight_bytes(bge, quantization=None, dtype=None) == 4 * 567754752
    assert weight_bytes(bge, quantization=None, dtype="float16") == 2 * 567754752
    fp32_decoder = dataclasses.replace(arch("mistralai/Mistral-7B-v0.1"), dtype="float32")
    assert weight_bytes(fp32_decoder, quantization=None, dtype=None) == 2 * 7241732096
    assert weight_bytes(fp32_decoder, quantization=None, dtype="float32") == 4 * 7241732096


def test_unknown_quantization_and_dtype_are_errors() -> None:
    gemma = arch("google/gemma-7b")
    with pytest.raises(ValueError, match=r"^unknown quantization 'int3'") as err:
        weight_bytes(gemma, quantization="int3", dtype=None)
    assert str(err.value) == (
        "unknown quantization 'int3'; sizing knows auto_awq, auto_gptq, awq, awq_marlin, bitsandbytes, "
        "bitsandbytes-fp4, bitsandbytes-nf4, compressed-tensors, eetq, exl2, experts_int8, fbgemm_fp8, fp8, "
        "fp8_per_block, fp8_per_channel, fp8_per_tensor, gptq, gptq_marlin, int8_per_channel_weight_only, "
        "marlin, modelopt, moe_wna16"
    )
    with pytest.raises(ValueError, match=r"^unknown dtype 'float8'; use auto, float16, bfloat16 or float32$"):
        weight_bytes(gemma, quantization=None, dtype="float8")
    assert weight_bytes(gemma, quantization="none", dtype=None) == 2 * 8537680896


@pytest.mark.parametrize(
    ("model_id", "method"),
    [
        ("google/gemma-7b-AWQ", "awq"),
        ("Qwen/Qwen2.5-7B-Instruct-GPTQ-Int4", "gptq"),
        ("meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8", "fp8"),
        ("google/gemma-7b-it", None),
    ],
)
def test_quantization_from_name(model_id: str, method: str | None) -> None:
    assert quantization_from_name(model_id) == method
