"""SGLang's server: LLMs over tensor x data parallel GPUs, OpenAI-compatible."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

from pydantic import Field

import catalog
from runtimes import cli
from runtimes.base import Runtime
from settings.limits import MAX_CONCURRENCY, MAX_GPUS, MAX_TOKENS
from settings.lora import LoraAdapter
from settings.problems import Problem
from settings.routing import Routing
from settings.service_base import ServiceBase

# The image has no entrypoint: the pod's arguments are the whole command (docs: python3 -m
# sglang.launch_server ...). It listens on 127.0.0.1 unless told otherwise.
LAUNCH = ["python3", "-m", "sglang.launch_server"]
# docs/get_started/install.md runs the container with --shm-size 32g on 8-GPU hosts: 4 GiB a GPU
# for its tokenizer/scheduler IPC and NCCL [estimate].
SHM_GIB_PER_GPU = 4
# memory_hook.py's reservation (catalog/servers.yaml memoryDefaults): a floor, activations per prefill token,
# slack per GPU of the model's split, CUDA graphs per decode batch entry, and a floor above 60 GiB (MiB).
RESERVED_BASE_MIB, MIB_PER_PREFILL_TOKEN, MIB_PER_SPLIT_EIGHTH, MIB_PER_GRAPH_BATCH = 512, 1.5, 1024, 2
LARGE_GPU_MIB, LARGE_GPU_RESERVED_MIB = 60 * 1024, 10 * 1024


class SglangService(ServiceBase):
    runtime: Literal["sglang"]
    tensor_parallel_size: int = Field(1, ge=1, le=MAX_GPUS)
    """GPUs one copy of the model is split over (--tp-size)."""
    data_parallel_size: int = Field(1, ge=1, le=MAX_GPUS)
    """Copies of the model in one replica, each on its own tensorParallelSize GPUs (--dp-size)."""
    quantization: str | None = None
    kv_cache_dtype: str | None = None
    context_length: int | None = Field(None, gt=0, le=MAX_TOKENS)
    """Longest prompt + answer in tokens; default: the model's config.json."""
    mem_fraction_static: float | None = Field(None, gt=0, lt=1, allow_inf_nan=False)
    """Share of GPU memory for weights and the KV cache; default: chosen by SGLang per GPU."""
    max_running_requests: int | None = Field(None, gt=0, le=MAX_CONCURRENCY)
    chunked_prefill_size: int | None = Field(None, ge=-1, le=MAX_TOKENS)
    """Tokens prefilled per chunk; -1 turns chunking off; default: by GPU memory (2048-16384)."""
    dtype: str | None = None
    served_model_name: str | None = Field(None, pattern=r"^[\w./-]+$")
    """Name clients send as `model`; default: the service name, stable across model upgrades."""
    routing: Routing = Routing()
    """The Inference Gateway's endpoint picker in front of the pods, or the plain route."""
    adapters: list[LoraAdapter] = []
    """Refused: SGLang's OpenAI API selects an adapter only as `<service>:<adapter>`, which the shared /v1 endpoint
    cannot route by the adapter's name. Serve adapters on a vLLM service."""


class Sglang(Runtime[SglangService]):
    name = "sglang"
    config = SglangService
    # The memory model's vLLM words for SGLang's flags.
    extra_flags = {
        "gpuMemoryUtilization": "--mem-fraction-static",
        "maxNumSeqs": "--max-running-requests",
        "maxNumBatchedTokens": "--chunked-prefill-size",
        "maxModelLen": "--context-length",
    }
    # SGLang's docs ("Loading Models from Object Storage") stream gs:// with --load-format runai_streamer,
    # but whether the lmsysorg/sglang image carries runai-model-streamer[gcs] was not confirmed here: the
    # mounted mirror (plain safetensors files) is the default, the streamer a per-service choice.
    stream_load_format = "runai_streamer"

    def gpus(self, service: SglangService) -> int:
        return int(service.tensor_parallel_size * service.data_parallel_size)

    def default_memory_fraction(self, gpu: catalog.Gpu, args: Sequence[str]) -> float | None:
        """mem_fraction_static as SGLang 0.5.23 computes it when unset: 0.70 on an L4, 0.84 on an H100."""
        band = next(b for b in self.facts.memory_defaults if b.below_mib is None or gpu.usable_mib < b.below_mib)
        tp = self.count(args, "tensorParallelSize") or 1
        chunk = self.count(args, "chunkedPrefillSize") or band.chunked_prefill
        batch = band.max_batch_tp4 if tp >= 4 else band.max_batch
        running = self.count(args, "maxRunningRequests")
        if running is not None:
            batch = min(batch, running)
        reserved = (
            RESERVED_BASE_MIB
            + max(chunk, 2048) * MIB_PER_PREFILL_TOKEN
            + tp / 8 * MIB_PER_SPLIT_EIGHTH
            + batch * MIB_PER_GRAPH_BATCH
        )
        if gpu.usable_mib > LARGE_GPU_MIB:
            reserved = max(reserved, LARGE_GPU_RESERVED_MIB)
        return round((gpu.usable_mib - reserved) / gpu.usable_mib, 3)

    def args(self, name: str, service: SglangService) -> list[str]:
        return [
            *LAUNCH,
            f"--model-path={service.model}",
            "--host=0.0.0.0",
            f"--port={self.facts.port}",
            f"--served-model-name={service.served_model_name or name}",
            "--enable-metrics",  # the queue metric the HPA scales on
            *self.configured_flags(service),
        ]

    def check(self, path: str, service: SglangService, warnings: list[str]) -> Iterator[Problem]:
        yield from super().check(path, service, warnings)
        if service.adapters:
            # python/sglang/srt/entrypoints/openai/serving_base.py @0.5.23 (_parse_model_parameter): only
            # "<served name>:<adapter>" in `model`, or the body's lora_path, selects an adapter; a `model` without
            # a colon is the base model, answered without error.
            yield Problem(
                f"{path}.adapters",
                f"{self.title} {self.facts.version} selects an adapter only by `model: <service>:<adapter>` and answers "
                "a request naming the adapter alone with the base model, so the shared /v1 endpoint cannot route its "
                "adapters by name",
                "serve the adapters on a vLLM service (runtime: vllm), or remove adapters",
            )

    def routing(self, service: SglangService) -> Routing | None:
        return service.routing

    def adapters(self, service: SglangService) -> tuple[LoraAdapter, ...]:
        return tuple(service.adapters)

    def served_name(self, name: str, service: SglangService) -> str:
        return service.served_model_name or name

    def shm_gib(self, gpus: int) -> int:
        return SHM_GIB_PER_GPU * gpus

    def served_model(self, args: Sequence[str]) -> str | None:
        return cli.value_of(self.name, args, "--model-path")  # --model is its alias

    def parallelism(self, args: Sequence[str]) -> tuple[int | None, str]:
        tp, dp = self.count(args, "tensorParallelSize") or 1, self.count(args, "dataParallelSize") or 1
        return tp * dp, f"SGLang tensor parallel {tp} x data parallel {dp}"

    def model_split(self, args: Sequence[str]) -> int | None:
        return self.count(args, "tensorParallelSize") or 1  # each data-parallel copy holds the whole model
