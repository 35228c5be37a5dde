"""Will a model fit on a GPU under vLLM, TGI or TEI? A per-GPU memory budget (sizing.md §1, §6, §7).

Per GPU, with tensor parallelism TP:
    usable    = total x gpu_memory_utilization (vLLM) | total x CUDA_MEMORY_FRACTION (TGI) | total (TEI)
    weights   = weight_bytes / TP
    overhead  = what the engine holds besides weights and KV cache (profiling / warm-up peaks; vLLM's LoRA
                adapter slots, --max-loras x a buffer sized for --max-lora-rank, when adapters are on)
    kv_budget = usable - weights - overhead
    fits      iff kv_budget holds max_len tokens of KV cache (one full-length sequence)
Encoders (TEI, vLLM pooling) have no KV cache: they fit iff weights + overhead <= usable.

Constants are read from the engines' sources where the reference notes give them, otherwise marked
[estimate]. Calibration: every published configuration in tests/fit_observations.yaml is documented
to work, so together they bound the overheads from above (the tightest, Gemma 7B at 600 tokens on
one L4 with vLLM's old 0.90 default, leaves 1.8 GiB of slack; Llama 3 70B nf4 on 2 x L4 with TGI
1.3 GiB); Gemma 7B bf16 at 8192 tokens on one L4 with vLLM, which does not start (Google's samples
cut it to 600 tokens), bounds vLLM's overhead from below at 1.3 GiB. The estimates sit inside both.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from catalog import Gpu
from sizing.models import DTYPE_BYTES, GIB, Architecture, loaded_dtype, quant_bytes, weight_bytes

# Memory models of the serving engines: "vllm" (paged KV cache in a fixed fraction of GPU memory),
# "tgi" (KV cache in what is free after a warm-up), "tei" (an encoder: no KV cache). Each runtime
# declares the one its server follows (runtimes/).
ENGINES = ("vllm", "tgi", "tei")
ENCODER = "tei"
TP_SIZES = (1, 2, 4, 8)

# --- vLLM (pinned 0.33.0; sizing.md §6, server-cli.md) ------------------------------------------
VLLM_GPU_MEMORY_UTILIZATION = 0.92  # default of 0.33.0 (server-cli.md; 0.90 in older releases)
VLLM_BLOCK_SIZE = 16  # KV cache block size in tokens (vllm/config/cache.py default)
# get_batch_defaults (vllm/engine/arg_utils.py): GPUs of >= 70 GiB that are not A100 get larger
# batches; >= 160 GiB get 16384 batched tokens (server-cli.md, OpenAI-server context).
VLLM_LARGE_GPU_GIB = 70
VLLM_HUGE_GPU_GIB = 160
VLLM_POOLING_MIN_BATCHED_TOKENS = 32768  # pooling models: max(max_model_len, 32768) (sizing.md §6)
# The sampler's profiling run builds min(max_num_seqs, tokens) x vocab logits: bf16 out of the
# lm_head, an fp32 copy and fp32 probabilities live together [estimate: 2 + 4 + 4 bytes/element].
VLLM_LOGITS_BYTES = 10.0
# CUDA graphs: vLLM warns they take "1~3 GiB per GPU"; 0.33.0 subtracts its own estimate from the
# KV budget (gpu_worker.py determine_available_memory). V1's piecewise graphs share one memory pool
# for small batches, so the low end is used [estimate].
VLLM_CUDA_GRAPHS_GIB = 1.0
# Allocations outside PyTorch's allocator counted in the profile: cuBLAS/cuDNN workspaces
# [estimate], plus NCCL and custom all-reduce buffers when the weights are split [estimate].
VLLM_NON_TORCH_GIB = 0.25
NCCL_BUFFERS_GIB = 0.25

# --- TGI (v3 launcher and flash_causal_lm.py @db931fcf; sizing.md §7) -----------------------------
TGI_CUDA_MEMORY_FRACTION = 1.0  # CUDA_MEMORY_FRACTION default (launcher.md)
TGI_WIGGLE_ROOM = 0.90  # TGI_WIGGLE_ROOM at HEAD (0.95 in v2.x): share of free memory given to KV
TGI_DEFAULT_PREFILL_TOKENS = 4096  # MAX_BATCH_PREFILL_TOKENS fallback, capped by the context length
# TGI measures free memory with cudaMemGetInfo, so the CUDA context, cuBLAS workspaces and NCCL
# buffers are charged to it [estimate: ~0.5 GiB context + workspaces].
TGI_RUNTIME_GIB = 0.6

# --- TEI (text-embeddings-inference v1.9; server-cli.md §3) ---------------------------------------
TEI_MAX_BATCH_TOKENS = 16384  # --max-batch-tokens default
TEI_RUNTIME_GIB = 0.6  # CUDA context + workspaces [estimate, as TGI]
# TEI's CUDA builds default to float16 (backends/src/dtype.rs, huggingface/text-embeddings-inference
# @7684eebe: `impl Default for DType` is Float16 unless built for CPU).
TEI_DEFAULT_DTYPE = "float16"
FLASH_ATTENTION_MIN_CC = 8.0  # TEI's Turing image runs without flash attention (server-cli.md §3)

# LoRA (vLLM 0.33.0): with adapters on, every linear layer of the model and its embeddings get a stacked A and B
# buffer per adapter slot (--max-loras), each sized for --max-lora-rank, in the model's dtype, allocated with
# the weights and so counted before the KV cache (vllm/lora/layers/base_linear.py and column_parallel_linear.py
# create_lora_weights; vocab_parallel_embedding.py and logits_processor.py for embed_tokens and lm_head, which
# Llama's embedding_modules name; vllm/lora/model_manager.py: max_loras slots). See lora_slot_bytes.

# Activations: layers run one after another, so the peak is one layer's intermediates for every
# token of the batch: the gated MLP (gate+up 2I, activation I), q/k/v and four hidden-size buffers
# (residual, norm, attention output, MLP output) [estimate]. MoE routes each token through two
# expert MLPs (Mixtral top-2; Llama 4 one routed + one shared expert).
MOE_ACTIVE_EXPERTS = 2


@dataclass(frozen=True)
class FitRequest:
    engine: str  # a memory model of ENGINES
    model: str  # for messages
    arch: Architecture
    gpu: Gpu
    tensor_parallel: int = 1  # GPUs the weights are split across (vLLM tp*pp, TGI num_shard)
    quantization: str | None = None
    dtype: str | None = None
    kv_cache_dtype: str | None = None
    max_len: int | None = None  # vLLM max_model_len / TGI max_total_tokens; None = max_position_embeddings
    max_batch_prefill_tokens: int | None = None  # TGI (TEI: --max-batch-tokens)
    gpu_memory_utilization: float | None = None  # vLLM, default 0.92 for the pinned 0.33.0 (server-cli.md)
    max_num_seqs: int | None = None  # vLLM
    max_num_batched_tokens: int | None = None  # vLLM
    cuda_memory_fraction: float | None = None  # TGI, default 1.0
    length_key: str | None = None  # the setting suggestions name for the context length
    fp8_kv_dtype: str | None = None  # the setting suggestions name for an fp8 KV cache
    server: str | None = None  # the server as messages name it (SGLang runs the vLLM model); None: the engine's
    max_loras: int = 0  # vLLM LoRA adapter slots (--max-loras); 0: LoRA off
    max_lora_rank: int = 0  # the rank each slot is sized for (--max-lora-rank)


@dataclass(frozen=True)
class FitResult:
    fits: bool
    usable_gib: float
    weights_gib: float
    overhead_gib: float
    kv_budget_gib: float
    kv_needed_gib: float
    max_len_that_fits: int  # longest context that fits (0 if the weights alone do not fit)
    suggestion: str  # empty when it fits; else the fix
    description: str = ""  # the arithmetic, as a paragraph (see explain())

    def explain(self) -> str:
        """One paragraph with the arithmetic and, when it does not fit, the fix."""
        return self.description


# --- helpers -------------------------------------------------------------------------------------


def _kv_dtype_bytes(kv_cache_dtype: str | None, weights_dtype: str) -> float:
    if kv_cache_dtype is None or kv_cache_dtype.lower() in ("auto", ""):
        return DTYPE_BYTES[weights_dtype]
    name = kv_cache_dtype.lower()
    if name.startswith(("fp8", "int8")):
        return 1.0
    if name in ("float16", "bfloat16", "half", "fp16", "bf16"):
        return 2.0
    raise ValueError(f"unknown KV cache dtype {kv_cache_dtype!r}; use auto, fp8, fp8_e4m3 or fp8_e5m2")


def _server_dtype(req: FitRequest) -> str | None:
    """The --dtype the server effectively runs with when the request leaves it to the default."""
    if req.dtype not in (None, "auto"):
        return req.dtype
    if req.engine == "tei":
        return TEI_DEFAULT_DTYPE
    if req.engine == "vllm" and req.arch.dtype == "float32":
        # vLLM's "auto" loads FP32 checkpoints in FP16, encoders included (see models.loaded_dtype).
        return "float16"
    return None


def _compute_dtype(arch: Architecture, dtype: str | None, quantization: str | None) -> str:
    """The dtype weights (unquantized parts) and activations are held in."""
    loaded = loaded_dtype(arch, dtype)
    if quant_bytes(quantization) is not None and loaded == "float32":
        return "float16"  # quantized kernels compute in 16-bit
    return loaded


def _kv_per_token_gpu(arch: Architecture, tp: int, kv_bytes: float) -> float:
    """KV bytes per token on one GPU: KV heads are split across GPUs, replicated when fewer than TP."""
    heads_per_gpu = max(1, math.ceil(arch.kv_heads / tp))
    return 2.0 * arch.layers * heads_per_gpu * arch.head_dim * kv_bytes if arch.kind == "decoder" else 0.0


def _activation_bytes_per_token(arch: Architecture, tp: int, act_bytes: float) -> float:
    qkv = (arch.attention_heads + 2 * arch.kv_heads) * arch.head_dim / tp
    if arch.kind == "encoder":  # BERT/XLM-R MLP: one up-projection, no gate
        mlp = arch.intermediate_size / tp
    else:
        mlp = 3 * arch.intermediate_size / tp * (MOE_ACTIVE_EXPERTS if arch.experts > 1 else 1)
    return (mlp + qkv + 4 * arch.hidden_size) * act_bytes


def lora_slot_bytes(arch: Architecture, rank: int, tp: int, dtype_bytes: float) -> float:
    """GPU memory one vLLM LoRA slot takes on each of `tp` GPUs at `rank`, without --fully-sharded-loras.

    Per decoder layer: qkv_proj (column parallel, 3 slices) holds A rank x hidden per slice and B its output
    share x rank; o_proj (row parallel) A rank x its input share, B hidden x rank; gate_up_proj (2 slices) and
    down_proj likewise, an MoE layer once per expert. With tp = 1 that is rank x (7 hidden + 2 q + 2 kv + 3
    intermediate) per layer (81,920 x rank for Llama 3 8B); embed_tokens and lm_head add rank x (vocab + hidden)
    each (every model that names them as embedding modules; an upper bound for the others).
    """
    q = arch.attention_heads * arch.head_dim
    kv = max(1, math.ceil(arch.kv_heads / tp)) * arch.head_dim  # KV heads are replicated below one per GPU
    attention = 3 * arch.hidden_size + (q / tp + 2 * kv) + q / tp + arch.hidden_size
    mlp = 2 * arch.hidden_size + 2 * arch.intermediate_size / tp + arch.intermediate_size / tp + arch.hidden_size
    per_layer = attention + mlp * max(arch.experts, 1)
    embeddings = 2 * (arch.vocab_size + arch.hidden_size)
    return rank * (arch.layers * per_layer + embeddings) * dtype_bytes


def _gib(n_bytes: float) -> float:
    return n_bytes / GIB


def _dtype_label(quantization: str | None, compute_dtype: str) -> str:
    if quantization:
        return quantization
    return {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}[compute_dtype]


def _vllm_batch_defaults(gpu: Gpu, total_gib: float) -> tuple[int, int]:
    """(max_num_batched_tokens, max_num_seqs) vLLM 0.33.0 picks for the OpenAI server."""
    large = total_gib >= VLLM_LARGE_GPU_GIB and "a100" not in gpu.accelerator
    if large and total_gib >= VLLM_HUGE_GPU_GIB:
        return 16384, 1024
    if large:
        return 8192, 1024
    return 2048, 256


@dataclass(frozen=True)
class _Budget:
    """One engine's arithmetic before the verdict."""

    usable_gib: float
    weights_gib: float
    overhead_gib: float
    kv_per_token: float  # bytes per token per GPU
    max_len: int
    prefill_tokens: int  # TGI: the KV cache must also hold one prefill batch (0 elsewhere)
    block: int  # allocation granularity in tokens
    usable_phrase: str
    overhead_phrase: str
    weights_label: str


def _vllm_budget(req: FitRequest, total_gib: float, max_len: int, kv_bytes: float, act_bytes: float) -> _Budget:
    tp = req.tensor_parallel
    util = req.gpu_memory_utilization if req.gpu_memory_utilization is not None else VLLM_GPU_MEMORY_UTILIZATION
    usable = total_gib * util
    default_batched, default_seqs = _vllm_batch_defaults(req.gpu, total_gib)
    seqs = req.max_num_seqs or default_seqs
    if req.arch.kind == "encoder":
        batched = req.max_num_batched_tokens or max(max_len, VLLM_POOLING_MIN_BATCHED_TOKENS)
    else:
        # vLLM caps the batch at max_num_seqs x max_model_len (server-cli.md).
        batched = min(req.max_num_batched_tokens or default_batched, seqs * max_len)
    activations = _gib(batched * _activation_bytes_per_token(req.arch, tp, act_bytes))
    non_torch = VLLM_NON_TORCH_GIB + (NCCL_BUFFERS_GIB if tp > 1 else 0.0)
    parts = [f"activations for {batched} tokens"]
    logits = 0.0
    if req.arch.kind == "decoder":
        rows = min(seqs, batched)
        logits = _gib(rows * req.arch.vocab_size * VLLM_LOGITS_BYTES)
        parts.append(f"logits {rows} x {req.arch.vocab_size}")
    parts.append("CUDA graphs")
    lora = _gib(req.max_loras * lora_slot_bytes(req.arch, req.max_lora_rank, tp, act_bytes)) if req.max_loras else 0.0
    if lora:
        parts.append(f"{lora:.2f} GiB for {req.max_loras} LoRA slot(s) of rank {req.max_lora_rank}")
    overhead = activations + logits + VLLM_CUDA_GRAPHS_GIB + non_torch + lora
    return _Budget(
        usable_gib=usable,
        weights_gib=0.0,
        overhead_gib=overhead,
        kv_per_token=_kv_per_token_gpu(req.arch, tp, kv_bytes),
        max_len=max_len,
        prefill_tokens=0,
        block=VLLM_BLOCK_SIZE,
        usable_phrase=f"{req.server or 'vLLM'} may use {util:.2f} x {total_gib:.1f} = {usable:.1f} GiB",
        overhead_phrase=", ".join(parts),
        weights_label="",
    )


def _tgi_budget(
    req: FitRequest, total_gib: float, max_len: int, kv_bytes: float, act_bytes: float, weights_gib: float
) -> _Budget:
    tp = req.tensor_parallel
    fraction = req.cuda_memory_fraction if req.cuda_memory_fraction is not None else TGI_CUDA_MEMORY_FRACTION
    usable = total_gib * fraction
    prefill = req.max_batch_prefill_tokens or min(TGI_DEFAULT_PREFILL_TOKENS, max_len)
    warmup = _gib(prefill * _activation_bytes_per_token(req.arch, tp, act_bytes))
    # The warm-up batch holds prefill // max_input requests; each gets one row of fp32 logits.
    requests = max(1, prefill // max(1, max_len - 1))
    logits = _gib(requests * req.arch.vocab_size * 4.0)
    free = usable - weights_gib - TGI_RUNTIME_GIB - warmup - logits
    wiggle = (1 - TGI_WIGGLE_ROOM) * max(free, 0.0)
    return _Budget(
        usable_gib=usable,
        weights_gib=weights_gib,
        overhead_gib=TGI_RUNTIME_GIB + warmup + logits + wiggle,
        kv_per_token=_kv_per_token_gpu(req.arch, tp, kv_bytes),
        max_len=max_len,
        prefill_tokens=prefill,
        block=1,
        usable_phrase=f"{req.server or 'TGI'} may use {fraction:.2f} x {total_gib:.1f} = {usable:.1f} GiB",
        overhead_phrase=(
            f"CUDA context, prefill warm-up of {prefill} tokens, {round((1 - TGI_WIGGLE_ROOM) * 100)}% wiggle room"
        ),
        weights_label="",
    )


def _encoder_budget(req: FitRequest, total_gib: float, max_len: int, act_bytes: float) -> _Budget:
    """TEI: weights plus activations for one batch of --max-batch-tokens tokens, no KV cache."""
    batch = req.max_batch_prefill_tokens or TEI_MAX_BATCH_TOKENS
    activations = batch * _activation_bytes_per_token(req.arch, 1, act_bytes)
    phrase = f"CUDA context, activations for {batch} batch tokens"
    if req.gpu.compute_capability < FLASH_ATTENTION_MIN_CC:
        # Without flash attention one layer materialises heads x L x L attention scores.
        seq = min(batch, max_len)
        activations += req.arch.attention_heads * seq * seq * act_bytes
        phrase += f", {seq} x {seq} attention scores"
    return _Budget(
        usable_gib=total_gib,
        weights_gib=0.0,
        overhead_gib=TEI_RUNTIME_GIB + _gib(activations),
        kv_per_token=0.0,
        max_len=max_len,
        prefill_tokens=0,
        block=1,
        usable_phrase=f"TEI may use {total_gib:.1f} GiB",
        overhead_phrase=phrase,
        weights_label="",
    )


@dataclass(frozen=True)
class _Outcome:
    """The verdict of one configuration, before any fix is looked for."""

    fits: bool
    budget: _Budget | None  # None when the runtime cannot serve the configuration at all
    kv_budget_gib: float = 0.0
    tokens: int = 0  # tokens of KV cache the budget holds
    max_len_that_fits: int = 0
    kv_needed_gib: float = 0.0
    refusal: tuple[str, str] = ("", "")  # (reason, fix) when budget is None


def _refuse(reason: str, fix: str) -> _Outcome:
    return _Outcome(fits=False, budget=None, refusal=(reason, fix))


def _assess(req: FitRequest) -> _Outcome:
    if req.engine not in ENGINES:
        raise ValueError(f"unknown memory engine {req.engine!r}; sizing covers {', '.join(ENGINES)}")
    if req.tensor_parallel < 1:
        raise ValueError(f"tensor_parallel must be at least 1, not {req.tensor_parallel}")
    arch = req.arch
    if req.engine == "tgi" and arch.kind == "encoder":
        return _refuse("TGI serves generative models only (its supported_models.md)", "Serve it with TEI or vLLM.")
    if req.engine == "tei" and req.tensor_parallel > 1:
        return _refuse(
            "TEI runs one GPU per container (no tensor parallelism)",
            "Use 1 GPU per replica and scale out with replicas.",
        )
    if arch.attention_heads % req.tensor_parallel:
        return _refuse(
            f"{arch.attention_heads} attention heads do not split evenly across {req.tensor_parallel} GPUs",
            f"Use a GPU count that divides {arch.attention_heads}.",
        )

    total_gib = req.gpu.usable_mib / 1024
    dtype = _server_dtype(req)
    compute = _compute_dtype(arch, dtype, req.quantization)
    act_bytes = DTYPE_BYTES[compute]
    kv_bytes = _kv_dtype_bytes(req.kv_cache_dtype, compute)
    max_len = req.max_len or arch.max_position_embeddings
    weights_gib = _gib(weight_bytes(arch, quantization=req.quantization, dtype=compute)) / req.tensor_parallel
    if req.engine == "vllm":
        b = _vllm_budget(req, total_gib, max_len, kv_bytes, act_bytes)
    elif req.engine == "tgi":
        b = _tgi_budget(req, total_gib, max_len, kv_bytes, act_bytes, weights_gib)
    else:
        b = _encoder_budget(req, total_gib, max_len, act_bytes)
    b = dataclasses.replace(b, weights_gib=weights_gib, weights_label=_dtype_label(req.quantization, compute))

    kv_budget = b.usable_gib - b.weights_gib - b.overhead_gib
    in_range = max_len <= arch.max_position_embeddings
    if b.kv_per_token == 0.0:  # encoder: no KV cache
        room = kv_budget >= 0
        return _Outcome(room and in_range, b, kv_budget, 0, arch.max_position_embeddings if room else 0, 0.0)
    tokens = int(max(kv_budget, 0.0) * GIB // b.kv_per_token)
    usable_tokens = tokens // b.block * b.block  # whole blocks only
    return _Outcome(
        fits=kv_budget > 0 and usable_tokens >= max(max_len, b.prefill_tokens) and in_range,
        budget=b,
        kv_budget_gib=kv_budget,
        tokens=tokens,
        max_len_that_fits=min(usable_tokens, arch.max_position_embeddings),
        kv_needed_gib=max_len * b.kv_per_token / GIB,
    )


def estimate(req: FitRequest) -> FitResult:
    """The per-GPU memory budget of serving `req`, whether it starts, and if not, the fix."""
    o = _assess(req)
    total_gib = req.gpu.usable_mib / 1024
    where = f"{req.model} on {req.tensor_parallel} x {req.gpu.name} ({total_gib:.1f} GiB)"
    b = o.budget
    if b is None:
        reason, fix = o.refusal
        return FitResult(False, 0.0, 0.0, 0.0, 0.0, 0.0, 0, fix, f"{where}: {reason}. {fix}")
    suggestion = "" if o.fits else _suggest(req, o, b)
    head = (
        f"{where}: {b.usable_phrase}; weights {b.weights_gib:.1f} GiB ({b.weights_label}), "
        f"overhead {b.overhead_gib:.1f} GiB ({b.overhead_phrase})"
    )
    if b.kv_per_token == 0.0:
        if o.kv_budget_gib >= 0:
            body = f"{head} leave {o.kv_budget_gib:.1f} GiB free; no KV cache (encoder)."
        else:
            body = f"{head} exceed it by {-o.kv_budget_gib:.1f} GiB; no KV cache (encoder)."
    elif o.kv_budget_gib > 0:
        per_gpu = " per GPU" if req.tensor_parallel > 1 else ""
        body = (
            f"{head} leave {o.kv_budget_gib:.1f} GiB of KV cache = {o.tokens:,} tokens at "
            f"{b.kv_per_token / 1024:,.0f} KiB/token{per_gpu}; {b.max_len:,} tokens need {o.kv_needed_gib:.1f} GiB."
        )
    else:
        body = f"{head} leave no room for the KV cache ({o.kv_budget_gib:.1f} GiB)."
    kv_budget = o.kv_budget_gib if b.kv_per_token else 0.0
    return FitResult(
        fits=o.fits,
        usable_gib=b.usable_gib,
        weights_gib=b.weights_gib,
        overhead_gib=b.overhead_gib,
        kv_budget_gib=kv_budget,
        kv_needed_gib=o.kv_needed_gib,
        max_len_that_fits=o.max_len_that_fits,
        suggestion=suggestion,
        description=f"{body} {'Fits.' if o.fits else suggestion}",
    )


# --- suggestions ---------------------------------------------------------------------------------

_LEN_KEY = {"vllm": "maxModelLen", "tgi": "maxTotalTokens", "tei": "maxBatchTokens"}
_FP8_KV = {"vllm": "fp8", "tgi": "fp8_e5m2", "tei": ""}  # TGI takes fp8_e4m3fn or fp8_e5m2 (launcher.md)


def _join(fixes: list[str]) -> str:
    return fixes[0] if len(fixes) == 1 else ", ".join(fixes[:-1]) + ", or " + fixes[-1]


def _fits_with(req: FitRequest, **changes: object) -> bool:
    return _assess(dataclasses.replace(req, **changes)).fits  # type: ignore[arg-type]


def _suggest(req: FitRequest, o: _Outcome, b: _Budget) -> str:
    """The fixes that make `req` fit: a shorter context, an fp8 KV cache, a quantization, more GPUs."""
    arch = req.arch
    key = req.length_key or _LEN_KEY[req.engine]
    if b.max_len > arch.max_position_embeddings:
        limit = arch.max_position_embeddings
        return f"{req.model} takes at most {limit:,} tokens: set {key} ≤ {limit}."
    n = gpus_needed(req)
    more_gpus = [f"use {n} GPUs"] if n is not None and n > req.tensor_parallel else []
    if b.kv_per_token == 0.0:
        batch_key = "maxBatchTokens" if req.engine == "tei" else "--max-num-batched-tokens"
        return f"Weights and activations exceed {b.usable_gib:.1f} GiB: {_join([f'lower {batch_key}', *more_gpus])}."

    fixes: list[str] = []
    # Re-checked at the shorter length: TGI's default prefill batch shrinks with it, an explicit one may not.
    if o.max_len_that_fits > 0 and _fits_with(req, max_len=o.max_len_that_fits):
        fixes.append(f"set {key} ≤ {o.max_len_that_fits}")
    fp8 = req.fp8_kv_dtype or _FP8_KV[req.engine]
    if req.kv_cache_dtype in (None, "auto") and req.gpu.supports_fp8 and _fits_with(req, kv_cache_dtype=fp8):
        fixes.append(f"use an fp8 KV cache (kvCacheDtype {fp8})")
    method = "awq" if req.gpu.compute_capability >= 7.5 else "gptq"  # AWQ kernels need Turing or newer
    if req.quantization is None and _fits_with(req, quantization=method):
        fixes.append(f"quantize ({method})")
    fixes += _lora_fixes(req)
    fixes += more_gpus
    if not fixes:
        fixes += _combined_fix(req, key, method)
    if o.max_len_that_fits > 0:
        lead = f"Fits up to {o.max_len_that_fits:,} tokens"
    elif b.weights_gib >= b.usable_gib:
        lead = f"The weights need {b.weights_gib:.1f} GiB per GPU of {b.usable_gib:.1f} GiB"
    else:
        lead = f"Weights and overhead leave no KV cache in {b.usable_gib:.1f} GiB per GPU"
    if not fixes:
        return f"{lead}; nothing up to 8 GPUs fits: use a GPU with more memory."
    return f"{lead}: {_join(fixes)}."


def _lora_fixes(req: FitRequest) -> list[str]:
    """Fewer adapter slots, or slots of a lower rank (vLLM's ranks halve down to 8), where that fits."""
    if not req.max_loras:
        return []
    fixes = []
    fewer = next((n for n in range(req.max_loras - 1, 0, -1) if _fits_with(req, max_loras=n)), None)
    if fewer is not None:
        fixes.append(f"lower maxLoras to {fewer}")
    lower = req.max_lora_rank // 2
    if lower >= 8 and _fits_with(req, max_lora_rank=lower):
        fixes.append(f"serve adapters of rank ≤ {lower} (a lower maxLoraRank)")
    return fixes


def _combined_fix(req: FitRequest, key: str, method: str) -> list[str]:
    """When no single change is enough: more GPUs with a shorter context, or quantized on more GPUs."""
    for tp in TP_SIZES:
        if tp <= req.tensor_parallel:
            continue
        wider = dataclasses.replace(req, tensor_parallel=tp)
        longest = _assess(wider).max_len_that_fits
        if longest > 0 and _fits_with(wider, max_len=longest):
            return [f"use {tp} GPUs with {key} ≤ {longest}"]
    if req.quantization is None:
        n = gpus_needed(dataclasses.replace(req, quantization=method))
        if n is not None:
            return [f"quantize ({method}) on {n} GPUs"]
    return []


def gpus_needed(req: FitRequest, max_gpus: int = 8) -> int | None:
    """Smallest tensor-parallel size in 1, 2, 4, 8 (up to max_gpus) at which `req` fits, else None."""
    sizes = (1,) if req.engine == "tei" else TP_SIZES
    for tp in sizes:
        if tp <= max_gpus and _assess(dataclasses.replace(req, tensor_parallel=tp)).fits:
            return tp
    return None
