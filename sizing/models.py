"""Model architectures (sizing/models.yaml) and the bytes their weights take per format.

The catalog is sizing/models.yaml (hand-written, with sources) plus sizing/models.d/*.yaml, one file
per checkpoint written by `make model` (tools/model_entry.py) from the Hub at a pinned commit. Both
have the same sections (`models`, `checkpoints`, `gated`); an id catalogued twice is an error.

`resolve` maps a served model id to a catalog entry: fine-tunes and mirrors keep the base
architecture, so "-Instruct", "-it", "-chat-hf" and quantization suffixes are dropped, and the
organisation is ignored when the exact id is not catalogued ("TheBloke/Llama-2-13B-chat-AWQ").
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

# The directory holding models.yaml and models.d/; tests point it at a temporary copy.
CATALOG_ROOT = Path(__file__).parent

GIB = 1024**3

DTYPE_BYTES = {"bfloat16": 2.0, "float16": 2.0, "float32": 4.0}

# Spellings of --dtype that vLLM (auto, half, float16, bfloat16, float, float32), TGI (float16,
# bfloat16) and TEI (float16, float32) accept, plus the short forms people write.
_DTYPE_ALIASES = {
    "half": "float16",
    "float16": "float16",
    "fp16": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float": "float32",
    "float32": "float32",
    "fp32": "float32",
}

# Bytes per parameter of the quantized linear layers (sizing.md §8, sizing-data.json
# quantization_bytes_per_param). Names are vLLM --quantization and TGI --quantize values.
_FOUR_BIT_GROUPED = 0.52  # GPTQ/AWQ 4-bit, group 128: 4 + (16-bit scale + 4-bit zero)/128 = 4.16 bits
_NF4 = 0.515875  # bnb nf4/fp4: 4 bits + blockwise-64 absmax with double quantization (4.127 bits)
QUANT_BYTES: dict[str, float] = {
    "awq": _FOUR_BIT_GROUPED,
    "auto_awq": _FOUR_BIT_GROUPED,
    "awq_marlin": _FOUR_BIT_GROUPED,
    "gptq": _FOUR_BIT_GROUPED,
    "auto_gptq": _FOUR_BIT_GROUPED,
    "gptq_marlin": _FOUR_BIT_GROUPED,
    "marlin": _FOUR_BIT_GROUPED,
    "moe_wna16": _FOUR_BIT_GROUPED,
    # These also come in 8-bit / other widths; the common 4-bit checkpoint is assumed [estimate].
    "compressed-tensors": _FOUR_BIT_GROUPED,
    "exl2": _FOUR_BIT_GROUPED,
    "bitsandbytes-nf4": _NF4,
    "bitsandbytes-fp4": _NF4,
    # fp8 weights: 1 byte + per-tensor/channel scales (negligible).
    "fp8": 1.0,
    "fbgemm_fp8": 1.0,
    "fp8_per_tensor": 1.0,
    "fp8_per_channel": 1.0,
    "fp8_per_block": 1.0,
    "modelopt": 1.0,
    # int8 weight-only: TGI eetq (per-channel scale), bitsandbytes LLM.int8, vLLM int8 variants.
    "eetq": 1.0,
    "bitsandbytes": 1.0,
    "int8_per_channel_weight_only": 1.0,
    "experts_int8": 1.0,
}


@dataclass(frozen=True)
class Architecture:
    layers: int
    hidden_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    params: float  # total parameter count (e.g. 8.538e9)
    dtype: str  # native: "bfloat16" | "float16" | "float32"
    kind: str = "decoder"  # "decoder" | "encoder" (encoders have no KV cache)
    experts: int = 1
    tied_embeddings: bool = False

    def kv_bytes_per_token(self, kv_dtype_bytes: float) -> float:
        """KV cache bytes one token takes over the whole model: K and V for every layer."""
        if self.kind == "encoder":
            return 0.0
        return 2.0 * self.layers * self.kv_heads * self.head_dim * kv_dtype_bytes

    @property
    def embedding_params(self) -> float:
        """Parameters that stay 16-bit under weight quantization: embeddings and an untied lm_head."""
        embed = float(self.vocab_size * self.hidden_size)
        return embed if self.tied_embeddings or self.kind == "encoder" else 2 * embed


def decoder_params(
    *,
    layers: int,
    hidden_size: int,
    attention_heads: int,
    kv_heads: int,
    head_dim: int,
    intermediate_size: int,
    vocab_size: int,
    tied_embeddings: bool,
    experts: int = 1,
    qkv_bias: bool = False,
    norms_per_layer: int = 2,
) -> int:
    """Parameters of a Llama-like decoder (Llama, Mistral, Mixtral, Qwen2, Gemma), sizing.md §1:
    embeddings V*H, per layer attention H*nh*hd + 2*H*nkv*hd + nh*hd*H (+ q/k/v biases), gated MLP
    3*H*I per expert (+ an H x E router), RMS norms; a final norm; an untied lm_head V*H."""
    h, hd = hidden_size, head_dim
    attention = h * attention_heads * hd + 2 * h * kv_heads * hd + attention_heads * hd * h
    if qkv_bias:
        attention += (attention_heads + 2 * kv_heads) * hd
    mlp = 3 * h * intermediate_size * experts + (h * experts if experts > 1 else 0)
    embeddings = vocab_size * h * (1 if tied_embeddings else 2)
    return embeddings + layers * (attention + mlp + norms_per_layer * h) + h


def encoder_params(
    *,
    layers: int,
    hidden_size: int,
    intermediate_size: int,
    vocab_size: int,
    max_position_embeddings: int,
    type_vocab_size: int = 1,
    pooler: bool = True,
    classifier_labels: int | None = None,
) -> int:
    """Parameters of a BERT / XLM-RoBERTa encoder, the standard formula of sizing.md §1: word,
    position and token-type embeddings with a LayerNorm; per layer Q/K/V/O with biases, two LayerNorms
    and a 2-matrix MLP with biases; a pooler (H x H); a RoBERTa classification head (dense H x H +
    out_proj H x labels) for a reranker."""
    h, i = hidden_size, intermediate_size
    embeddings = (vocab_size + max_position_embeddings + type_vocab_size) * h + 2 * h
    layer = 4 * (h * h + h) + (h * i + i) + (i * h + h) + 2 * 2 * h
    head = (h * h + h) if pooler else 0
    if classifier_labels is not None:
        head += (h * h + h) + (h * classifier_labels + classifier_labels)
    return embeddings + layers * layer + head


@dataclass(frozen=True)
class _Entry:
    model_id: str
    arch: Architecture
    instruct_max_position_embeddings: int | None
    aliases: tuple[str, ...]


class CheckpointYaml(BaseModel):
    """What `make model` read of the checkpoint (tools/model_entry.py); a record for people, not sized from."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")

    bytes: int | None = None  # None: the Hub gave no file sizes
    files: list[str] = []
    tensor_elements: dict[str, int] = {}  # per safetensors dtype


class ModelYaml(BaseModel):
    """One `models` entry of the catalog as written (camelCase keys): its config.json's architecture."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")

    source: str | None = None  # where the figures were read
    revision: str | None = None  # the commit `make model` read (tools/model_entry.py)
    license: str | None = None
    checkpoint: CheckpointYaml | None = None
    aliases: tuple[str, ...] = ()
    layers: int
    hidden_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    max_position_embeddings_instruct: int | None = None
    params: float
    dtype: str
    kind: str = "decoder"
    experts: int = 1
    tied_embeddings: bool = False


ARCHITECTURE_FIELDS = {f.name for f in dataclasses.fields(Architecture)}  # what sizing reads of an entry


def _entry(model_id: str, v: ModelYaml) -> _Entry:
    arch = Architecture(**v.model_dump(include=ARCHITECTURE_FIELDS))
    return _Entry(model_id, arch, v.max_position_embeddings_instruct, v.aliases)


def catalog_files(root: Path | None = None) -> list[Path]:
    """The catalog's files in load order: models.yaml, then models.d/*.yaml by name."""
    root = root or CATALOG_ROOT
    return [root / "models.yaml", *sorted((root / "models.d").glob("*.yaml"))]


class CatalogFileYaml(BaseModel):
    """One file of the catalog (models.yaml, models.d/*.yaml) as written; a section may be empty."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    models: dict[str, ModelYaml] = {}
    checkpoints: dict[str, str] = {}
    gated: list[str] = []


@dataclass(frozen=True)
class CatalogData:
    models: dict[str, ModelYaml]
    checkpoints: dict[str, str]
    gated: tuple[str, ...]
    where: dict[tuple[str, str], Path]  # (section, id) -> the file that holds it


@cache
def load_catalog(root: Path) -> CatalogData:
    """Every file of the catalog under `root`, merged; ValueError for an id two files both define."""
    models: dict[str, ModelYaml] = {}
    checkpoints: dict[str, str] = {}
    gated: list[str] = []
    where: dict[tuple[str, str], Path] = {}
    for path in catalog_files(root):
        with path.open() as f:
            raw = yaml.safe_load(f) or {}
        # A section key with nothing under it (`gated:`) reads as null: an empty section.
        data = CatalogFileYaml.model_validate({k: v for k, v in raw.items() if v is not None})
        for section, entries in (("models", data.models), ("checkpoints", data.checkpoints)):
            for model_id in entries:
                key = (section, model_id.lower())
                if key in where:
                    raise ValueError(f"{path}: {section}.{model_id} is already in {where[key]} — keep one of them")
                where[key] = path
        models.update(data.models)
        checkpoints.update(data.checkpoints)
        gated += data.gated
    return CatalogData(models, checkpoints, tuple(gated), where)


def _catalog() -> CatalogData:
    return load_catalog(CATALOG_ROOT)


def reload() -> None:
    """Forget what was read, after a file of the catalog changed (tools/model_entry.py writes one)."""
    for cached in (load_catalog, _entries_of, _index_of):
        cached.cache_clear()


@cache
def _entries_of(root: Path) -> dict[str, _Entry]:
    return {model_id: _entry(model_id, v) for model_id, v in load_catalog(root).models.items()}


def _entries() -> dict[str, _Entry]:
    return _entries_of(CATALOG_ROOT)


def catalog() -> dict[str, Architecture]:
    """Every catalogued base model id and its architecture."""
    return {model_id: e.arch for model_id, e in _entries().items()}


# Name parts that mark a variant of the same architecture: tuning, packaging and quantization.
_VARIANT_TOKENS = frozenset(
    {
        "it",
        "instruct",
        "chat",
        "hf",
        "base",
        "sft",
        "awq",
        "gptq",
        "int4",
        "int8",
        "fp8",
        "fp16",
        "bf16",
        "nf4",
        "bnb",
        "4bit",
        "8bit",
        "gguf",
        "exl2",
        "eetq",
        "marlin",
        "w4a16",
        "w8a8",
        "w8a16",
        "dynamic",
        "quantized",
    }
)


def _tokens(model_id: str) -> list[str]:
    return [t for t in re.split(r"[-_]", model_id.rsplit("/", 1)[-1].lower()) if t]


def _key(model_id: str) -> str:
    return "-".join(t for t in _tokens(model_id) if t not in _VARIANT_TOKENS)


def _index() -> tuple[dict[str, str], dict[str, str]]:
    return _index_of(CATALOG_ROOT)


@cache
def _index_of(root: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(lower-case id -> base id, variant-free name -> base id) over base ids and their aliases; a
    name already taken keeps its first entry, so a models.d checkpoint never captures the fine-tunes
    and mirrors that models.yaml's base entry resolves."""
    exact: dict[str, str] = {}
    by_name: dict[str, str] = {}
    for model_id, e in _entries_of(root).items():
        for name in (model_id, *e.aliases):
            exact[name.lower()] = model_id
            by_name.setdefault(_key(name), model_id)
    return exact, by_name


def resolve(model_id: str) -> tuple[str, Architecture] | None:
    """The catalogued base model of `model_id` and its architecture, or None when unknown.

    An -Instruct id gets the Instruct config's context where it differs (Qwen2.5: 32768, not the
    base config's 131072), since that is what a server reads from the checkpoint it loads.
    """
    exact, by_name = _index()
    base = exact.get(model_id.lower()) or by_name.get(_key(model_id))
    if base is None:
        return None
    entry = _entries()[base]
    arch = entry.arch
    if entry.instruct_max_position_embeddings and "instruct" in _tokens(model_id):
        arch = dataclasses.replace(arch, max_position_embeddings=entry.instruct_max_position_embeddings)
    return base, arch


def _checkpoints() -> dict[str, str]:
    return {model_id.lower(): method for model_id, method in _catalog().checkpoints.items()}


def _gated_prefixes() -> tuple[str, ...]:
    return tuple(prefix.lower() for prefix in _catalog().gated)


def is_gated(model_id: str) -> bool:
    """Whether the Hub serves `model_id` only to accounts that accepted its license (sizing/models.yaml `gated`)."""
    return model_id.lower().startswith(_gated_prefixes())


def checkpoint_quantization(model_id: str) -> tuple[str | None, bool]:
    """(the checkpoint's weight format or None for full precision, whether the catalog records it);
    a checkpoint the catalog does not list is judged by its name."""
    recorded = _checkpoints().get(model_id.lower())
    if recorded is not None:
        return (None if recorded == "none" else recorded), True
    return quantization_from_name(model_id), False


def quantization_from_name(model_id: str) -> str | None:
    """The quantization a checkpoint's name announces (…-AWQ, …-GPTQ-Int4, …-FP8), else None."""
    tokens = set(_tokens(model_id))
    for token, method in (("awq", "awq"), ("gptq", "gptq"), ("fp8", "fp8"), ("nf4", "bitsandbytes-nf4")):
        if token in tokens:
            return method
    return None


def normalize_dtype(dtype: str | None) -> str | None:
    """Canonical dtype name ("bfloat16" | "float16" | "float32"), None for None/"auto"."""
    if dtype is None or dtype == "auto":
        return None
    try:
        return _DTYPE_ALIASES[dtype.lower()]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; use auto, float16, bfloat16 or float32") from None


def loaded_dtype(arch: Architecture, dtype: str | None) -> str:
    """The dtype a server holds the weights in.

    "auto" keeps the checkpoint dtype, except that fp32 checkpoints of decoders load in fp16:
    vLLM's --dtype help says '"auto" will use FP16 precision for FP32 and FP16 models, and BF16
    precision for BF16 models' (docs.vllm.ai/en/v0.4.0.post1/models/engine_args.html).
    """
    explicit = normalize_dtype(dtype)
    if explicit is not None:
        return explicit
    if arch.dtype == "float32" and arch.kind == "decoder":
        return "float16"
    return arch.dtype


def quant_bytes(quantization: str | None) -> float | None:
    """Bytes per quantized parameter, None for no quantization; ValueError for an unknown method."""
    if quantization is None or quantization.lower() in ("none", ""):
        return None
    try:
        return QUANT_BYTES[quantization.lower()]
    except KeyError:
        known = ", ".join(sorted(QUANT_BYTES))
        raise ValueError(f"unknown quantization {quantization!r}; sizing knows {known}") from None


def weight_bytes(arch: Architecture, *, quantization: str | None, dtype: str | None) -> float:
    """Bytes of the whole model's weights (all GPUs together).

    Quantization covers the linear layers only: embeddings and the lm_head stay 16-bit under
    GPTQ/AWQ/bnb/fp8 (sizing.md §8), which matters for large vocabularies (Gemma's 256k x 3072
    embedding is 1.47 GiB).
    """
    q = quant_bytes(quantization)
    if q is None:
        return arch.params * DTYPE_BYTES[loaded_dtype(arch, dtype)]
    embed = min(arch.embedding_params, arch.params)
    return (arch.params - embed) * q + embed * 2.0
