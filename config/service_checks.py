"""Checks of each service against its server's pinned version and the GPU of its pool."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import catalog
from config.base import closest
from config.platform import GatewayConfig, NodePoolConfig
from config.problems import Problem
from config.services import (
    ServiceConfig,
    TeiService,
    TgiService,
    TritonService,
    VllmService,
    gpus_per_replica,
    replica_range,
)
from sizing.models import checkpoint_quantization

P = "gke-serving"
PARALLELISM_KEY = {"tei": "pool", "tgi": "numShard", "vllm": "tensorParallelSize", "triton": "gpus"}


@dataclass
class Findings:
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_services(
    services: dict[str, ServiceConfig], pools: dict[str, NodePoolConfig], gateway: GatewayConfig
) -> Findings:
    found = Findings()
    for name, service in services.items():
        path = f"{P}:services.{name}"
        pool = pools.get(service.pool)
        if pool is None:
            found.problems.append(
                Problem(
                    f"{path}.pool",
                    f"no GPU pool named {service.pool!r}",
                    f"use one of {', '.join(pools) or '(none: add a nodePools entry)'}",
                )
            )
            continue
        found.problems.extend(_values(path, service, found.warnings))
        found.problems.extend(_gpu_fit(path, service, pool))
        found.problems.extend(_checkpoint_format(path, service, found.warnings))
        found.problems.extend(_token_limits(path, service))
        found.problems.extend(_extra_args(path, service))
        found.problems.extend(_auth(path, service, gateway))
        if not service.auth and not isinstance(service, TritonService):
            found.warnings.append(f"{path}.auth: false — the service answers anyone who reaches the gateway")
    _capacity(services, pools, found)
    return found


def _allowed(path: str, key: str, value: str | None, allowed: list[str]) -> Iterator[Problem]:
    if value is not None and value not in allowed:
        hint = closest(value, allowed)
        fix = f"did you mean '{hint}'? allowed: {', '.join(allowed)}" if hint else f"use one of {', '.join(allowed)}"
        yield Problem(f"{path}.{key}", f"{value!r} is not accepted by this server version", fix)


def _values(path: str, s: ServiceConfig, warnings: list[str]) -> Iterator[Problem]:
    facts = catalog.servers()[s.runtime]
    if isinstance(s, TgiService):
        yield from _allowed(path, "quantize", s.quantize, facts["quantize"])
        yield from _allowed(path, "kvCacheDtype", s.kv_cache_dtype, facts["kvCacheDtype"])
        yield from _allowed(path, "dtype", s.dtype, facts["dtype"])
        if s.dtype and s.quantize:
            yield Problem(
                f"{path}.dtype",
                "TGI refuses --dtype together with --quantize",
                "remove dtype (the quantized kernels pick it)",
            )
        if s.quantize == "exl2" and s.num_shard > 1:
            yield Problem(
                f"{path}.quantize",
                "exl2 cannot be sharded over several GPUs",
                "use numShard: 1 or another quantization (awq, gptq)",
            )
        quant, quant_key = s.quantize, "quantize"
    elif isinstance(s, VllmService):
        yield from _allowed(path, "quantization", s.quantization, facts["quantization"])
        yield from _allowed(path, "kvCacheDtype", s.kv_cache_dtype, facts["kvCacheDtype"])
        yield from _allowed(path, "dtype", s.dtype, facts["dtype"])
        quant, quant_key = s.quantization, "quantization"
    elif isinstance(s, TeiService):
        yield from _allowed(path, "dtype", s.dtype, facts["dtype"])
        yield from _allowed(path, "pooling", s.pooling, facts["pooling"])
        return
    else:
        return
    replacement = facts["deprecated"].get(quant) if quant else None
    if replacement:
        warnings.append(
            f"{path}.{quant_key}: {quant!r} is deprecated in {s.runtime} {facts['version']} — use {replacement!r}"
        )


def _gpu_fit(path: str, s: ServiceConfig, pool: NodePoolConfig) -> Iterator[Problem]:
    gpu = catalog.gpus().get(pool.gpu.type)
    if gpu is None:
        return  # reported on the pool
    facts = catalog.servers()[s.runtime]
    needed = gpus_per_replica(s)
    if needed > pool.gpu.count:
        bigger = catalog.machine_for(gpu.accelerator, needed)
        where = f"a pool of {bigger}" if bigger else f"a pool with {needed} GPUs per node"
        yield Problem(
            f"{path}.{PARALLELISM_KEY[s.runtime]}",
            f"one replica needs {needed} GPUs but a node of pool {s.pool!r} has {pool.gpu.count}",
            f"use {where}, or lower the parallelism to {pool.gpu.count}",
        )
    if gpu.compute_capability < facts["minComputeCapability"]:
        yield Problem(
            f"{path}.pool",
            f"{s.runtime} {facts['version']} does not run on {gpu.name} "
            f"(compute capability {gpu.compute_capability}, needs {facts['minComputeCapability']})",
            "use a pool of T4, L4, A100 or H100",
        )
    dtype = getattr(s, "dtype", None)
    kv = getattr(s, "kv_cache_dtype", None)
    quant = s.quantize if isinstance(s, TgiService) else s.quantization if isinstance(s, VllmService) else None
    if not gpu.supports_bf16:
        for key, value in (("dtype", dtype), ("kvCacheDtype", kv)):
            if value == "bfloat16":
                yield Problem(
                    f"{path}.{key}",
                    f"{gpu.name} has no bf16 support (compute capability {gpu.compute_capability} < 8.0)",
                    "use float16, or a pool of L4, A100 or H100",
                )
    if quant in facts.get("fp8Quantize", []) and not gpu.supports_fp8:
        yield Problem(
            f"{path}.{'quantize' if isinstance(s, TgiService) else 'quantization'}",
            f"FP8 weights need FP8 tensor cores, which {gpu.name} lacks",
            "use awq or gptq (4-bit), or a pool of L4 or H100",
        )
    if kv and kv.startswith("nvfp4"):
        yield Problem(f"{path}.kvCacheDtype", f"{kv} needs Blackwell GPUs (compute capability 10.0)", "use fp8_e5m2")
    elif (kv and "e4m3" in kv) or kv == "fp8":
        if not gpu.supports_fp8:
            yield Problem(
                f"{path}.kvCacheDtype",
                f"an fp8 e4m3 KV cache needs FP8 hardware, which {gpu.name} lacks",
                "use fp8_e5m2, or a pool of L4 or H100",
            )
    elif kv and kv.startswith("fp8") and gpu.compute_capability < 8.0:
        yield Problem(
            f"{path}.kvCacheDtype",
            f"fp8 KV-cache kernels need compute capability 8.0, {gpu.name} has {gpu.compute_capability}",
            "remove kvCacheDtype",
        )


def quantization_setting(s: ServiceConfig) -> tuple[str, str | None]:
    """(the service's quantization key, its value): TGI `quantize`, vLLM `quantization`."""
    if isinstance(s, TgiService):
        return "quantize", s.quantize
    if isinstance(s, VllmService):
        return "quantization", s.quantization
    return "quantization", None


def _checkpoint_format(path: str, s: ServiceConfig, warnings: list[str]) -> Iterator[Problem]:
    """A server quantization must match the weights the checkpoint holds (sizing/models.yaml `checkpoints`)."""
    key, value = quantization_setting(s)
    if value is None:
        return
    facts = catalog.servers()[s.runtime]
    weights, recorded = checkpoint_quantization(s.model)
    source = "sizing/models.yaml" if recorded else "its name"
    held = f"{weights}-quantized" if weights else "full-precision"
    reads = facts["checkpointQuantization"].get(value)
    if reads is not None and reads != weights:
        fix = (
            f"remove {key} (the server reads the checkpoint's own quantization_config)"
            if weights
            else f"use a {reads.upper()} checkpoint of the model, or an on-the-fly method "
            f"({', '.join(facts['onlineQuantization'])})"
        )
        yield Problem(
            f"{path}.{key}",
            f"{value!r} loads {reads.upper()} weights, but {s.model} is {held} (by {source}); the server would fail "
            "at start",
            fix,
        )
    elif value in facts["onlineQuantization"]:
        if weights is not None and weights != value:
            yield Problem(
                f"{path}.{key}",
                f"{value!r} quantizes full-precision weights while loading, but {s.model} is {held} (by {source})",
                f"remove {key}: the server reads the checkpoint's own quantization_config",
            )
    elif reads is None:
        warnings.append(f"{path}.{key}: {value!r} against the checkpoint's weight format: not checked")


def _token_limits(path: str, s: ServiceConfig) -> Iterator[Problem]:
    if not isinstance(s, TgiService):
        return
    inp, total, prefill, batch_total = (
        s.max_input_tokens,
        s.max_total_tokens,
        s.max_batch_prefill_tokens,
        s.max_batch_total_tokens,
    )
    if inp is not None and total is not None and inp >= total:
        yield Problem(
            f"{path}.maxInputTokens",
            f"maxInputTokens ({inp}) must be below maxTotalTokens ({total})",
            f"lower maxInputTokens to at most {total - 1} or raise maxTotalTokens",
        )
    if total is not None and batch_total is not None and total > batch_total:
        yield Problem(
            f"{path}.maxTotalTokens",
            f"maxTotalTokens ({total}) is above maxBatchTotalTokens ({batch_total})",
            f"raise maxBatchTotalTokens to at least {total} or lower maxTotalTokens",
        )
    if inp is not None and prefill is not None and prefill < inp:
        yield Problem(
            f"{path}.maxBatchPrefillTokens",
            f"maxBatchPrefillTokens ({prefill}) is below maxInputTokens ({inp})",
            f"raise maxBatchPrefillTokens to at least {inp}",
        )


def _extra_args(path: str, s: ServiceConfig) -> Iterator[Problem]:
    facts = catalog.servers()[s.runtime]
    by_flag = {flag: key for key, flag in facts["flags"].items()}
    for arg in s.extra_args:
        flag = arg.split("=", 1)[0]
        if flag in facts["removed"]:
            yield Problem(
                f"{path}.extraArgs",
                f"{flag} no longer exists in {s.runtime} {facts['version']}",
                f"use {facts['removed'][flag]}",
            )
        elif flag in by_flag:
            yield Problem(
                f"{path}.extraArgs",
                f"{flag} is set from the service's {by_flag[flag]} key",
                f"set {by_flag[flag]} instead",
            )
        elif flag in facts["generated"]:
            yield Problem(f"{path}.extraArgs", f"{flag} is generated by the platform", "remove it")


def _auth(path: str, s: ServiceConfig, gateway: GatewayConfig) -> Iterator[Problem]:
    if isinstance(s, TritonService) and s.auth and gateway.iap is None:
        yield Problem(
            f"{path}.auth",
            "Triton has no API-key check of its own",
            "enable Identity-Aware Proxy on the gateway (gateway.iap.oauthClientId and the secret "
            "iapClientSecret), or set auth: false (the route is then open to anyone who reaches the gateway)",
        )


def _capacity(services: dict[str, ServiceConfig], pools: dict[str, NodePoolConfig], found: Findings) -> None:
    demand: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for s in services.values():
        if s.pool in pools:
            low, high = replica_range(s)
            demand[s.pool][0] += low * gpus_per_replica(s)
            demand[s.pool][1] += high * gpus_per_replica(s)
    for name, (low, high) in demand.items():
        pool = pools[name]
        capacity = pool.max_nodes * pool.gpu.count
        if low > capacity:
            nodes = -(-low // pool.gpu.count)
            found.problems.append(
                Problem(
                    f"{P}:nodePools.{name}.maxNodes",
                    f"the services on this pool need {low} GPUs at their minimum replicas but the pool has "
                    f"{capacity} ({pool.max_nodes} nodes x {pool.gpu.count})",
                    f"raise maxNodes to at least {nodes} or lower the services' replicas",
                )
            )
        elif high > capacity:
            found.warnings.append(
                f"{P}:nodePools.{name}.maxNodes: the services on this pool may scale to {high} GPUs but the "
                f"pool stops at {capacity} — raise maxNodes to scale fully"
            )
