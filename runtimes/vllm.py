"""vLLM's OpenAI-compatible server: LLMs over tensor x pipeline parallel GPUs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from config.limits import MAX_CONCURRENCY, MAX_GPUS, MAX_TOKENS
from config.service_base import ServiceBase
from runtimes.base import SHM_GIB_PER_GPU, Runtime, flag


class VllmService(ServiceBase):
    runtime: Literal["vllm"]
    quantization: str | None = None
    tensor_parallel_size: int = Field(1, ge=1, le=MAX_GPUS)
    pipeline_parallel_size: int = Field(1, ge=1, le=MAX_GPUS)
    max_model_len: int | None = Field(None, gt=0, le=MAX_TOKENS)
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1, allow_inf_nan=False)
    max_num_seqs: int | None = Field(None, gt=0, le=MAX_CONCURRENCY)
    kv_cache_dtype: str | None = None
    dtype: str | None = None
    served_model_name: str | None = Field(None, pattern=r"^[\w./-]+$")
    """Name clients send as `model`; default: the service name, stable across model upgrades."""


class Vllm(Runtime):
    name = "vllm"
    title = "vLLM"
    config = VllmService
    parallelism_key = "tensorParallelSize"
    quantization_key = "quantization"
    memory_engine = "vllm"
    length_key = "maxModelLen"
    fp8_kv_dtype = "fp8"
    # server-cli.md: `--tensor-parallel-size` / `-tp`; --max-num-batched-tokens changes memory use
    # but is not an environment-file key (it comes through extraArgs).
    short_flags = {"tensorParallelSize": "-tp", "pipelineParallelSize": "-pp"}
    extra_flags = {"maxNumBatchedTokens": "--max-num-batched-tokens"}

    def gpus(self, service: Any) -> int:
        return int(service.tensor_parallel_size * service.pipeline_parallel_size)

    def args(self, name: str, service: Any) -> list[str]:
        # The image's entrypoint is `vllm serve`, so the model is the first argument.
        args = [service.model, f"--port={self.facts.port}", f"--served-model-name={service.served_model_name or name}"]
        if service.quantization in self.facts.deprecated:
            args.append("--allow-deprecated-quantization")
        return args + self.configured_flags(service)

    def shm_gib(self, gpus: int) -> int:
        # vLLM's engine processes also exchange tensors through /dev/shm, even on one GPU.
        return SHM_GIB_PER_GPU * gpus

    def served_model(self, args: Sequence[str]) -> str | None:
        if args and not args[0].startswith("-"):
            return args[0]
        return flag(args, "--model")

    def parallelism(self, args: Sequence[str]) -> tuple[int | None, str]:
        tp, pp = self.count(args, "tensorParallelSize") or 1, self.count(args, "pipelineParallelSize") or 1
        return tp * pp, f"vLLM tensor parallel {tp} x pipeline parallel {pp}"
