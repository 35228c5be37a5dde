"""Text Generation Inference: LLMs, sharded over `numShard` GPUs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

from pydantic import Field

from runtimes.base import Runtime, SmokeRequest, chat_request
from settings.limits import MAX_CONCURRENCY, MAX_GPUS, MAX_TOKENS
from settings.problems import Problem
from settings.service_base import ServiceBase


class TgiService(ServiceBase):
    runtime: Literal["tgi"]
    quantize: str | None = None
    num_shard: int = Field(1, ge=1, le=MAX_GPUS)
    """GPUs per replica (tensor parallelism)."""
    max_input_tokens: int | None = Field(None, gt=0, le=MAX_TOKENS)
    max_total_tokens: int | None = Field(None, gt=0, le=MAX_TOKENS)
    max_batch_prefill_tokens: int | None = Field(None, gt=0, le=MAX_TOKENS)
    max_batch_total_tokens: int | None = Field(None, gt=0, le=MAX_TOKENS)
    max_concurrent_requests: int | None = Field(None, gt=0, le=MAX_CONCURRENCY)
    kv_cache_dtype: str | None = None
    dtype: str | None = None
    cuda_memory_fraction: float | None = Field(None, gt=0, le=1, allow_inf_nan=False)


class Tgi(Runtime[TgiService]):
    name = "tgi"
    config = TgiService
    # No object-store loader: --model-id takes a local folder, so the mirror comes as a FUSE mount or a
    # Hyperdisk ML volume.

    def gpus(self, service: TgiService) -> int:
        return int(service.num_shard)

    def check(self, path: str, service: TgiService, warnings: list[str]) -> Iterator[Problem]:
        yield from super().check(path, service, warnings)
        s = service
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
        yield from _token_limits(path, s)

    def args(self, name: str, service: TgiService) -> list[str]:
        return [
            f"--model-id={service.model}",
            f"--port={self.facts.port}",  # the image defaults to port 80
            "--usage-stats=off",  # no telemetry from inside a private cluster
            *self.configured_flags(service),
        ]

    def parallelism(self, args: Sequence[str]) -> tuple[int | None, str]:
        # Without --num-shard TGI shards over every GPU it sees (server-cli.md).
        shards = self.count(args, "numShard")
        return shards, "TGI without --num-shard" if shards is None else f"TGI --num-shard={shards}"

    def smoke_requests(self, name: str, service: TgiService) -> tuple[SmokeRequest, ...]:
        # TGI serves one model and ignores `model`; its Messages API docs send "tgi".
        return (chat_request("tgi"),)


def _token_limits(path: str, s: TgiService) -> Iterator[Problem]:
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
