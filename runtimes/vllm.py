"""vLLM's OpenAI-compatible server: LLMs over tensor x pipeline parallel GPUs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from runtimes import cli
from runtimes.base import SHM_GIB_PER_GPU, Runtime
from settings.limits import MAX_CONCURRENCY, MAX_GPUS, MAX_TOKENS
from settings.lora import LoraAdapter
from settings.routing import Routing
from settings.service_base import ServiceBase

# Threads (and GCS clients) the Run:ai Model Streamer reads with; its default is 16 (runai-model-streamer
# docs/src/env-vars.md). [estimate] 32 keeps a 16-32 Gbps GPU VM's network busy with ~64-256 MiB reads.
STREAMER_CONCURRENCY = 32


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
    routing: Routing = Routing()
    """The Inference Gateway's endpoint picker in front of the pods, or the plain route."""
    adapters: list[LoraAdapter] = []
    """LoRA adapters served on the base model, each by its own name."""


class Vllm(Runtime[VllmService]):
    name = "vllm"
    config = VllmService
    # --max-num-batched-tokens changes memory use but is not an environment-file key (it comes through
    # extraArgs); -tp and the other spellings resolve through catalog/server_options.yaml.
    extra_flags = {"maxNumBatchedTokens": "--max-num-batched-tokens"}
    # docs.vllm.ai models/extensions/runai_model_streamer: `vllm serve gs://<bucket>/<path> --load-format
    # runai_streamer` (Cloud Storage through Application Default Credentials: Workload Identity here).
    # The vllm-openai image bundles the streamer with its GCS backend: vLLM's image build installs
    # "runai-model-streamer[s3,gcs]>=0.15.3" with the openai extras (setup.py extra `runai` likewise).
    stream_load_format = "runai_streamer"

    def gpus(self, service: VllmService) -> int:
        return int(service.tensor_parallel_size * service.pipeline_parallel_size)

    def args(self, name: str, service: VllmService) -> list[str]:
        # The image's entrypoint is `vllm serve`, so the model is the first argument.
        args = [service.model, f"--port={self.facts.port}", f"--served-model-name={service.served_model_name or name}"]
        if service.quantization in self.facts.deprecated:
            args.append("--allow-deprecated-quantization")
        return args + self.configured_flags(service)

    def stream_args(self, service: VllmService) -> list[str]:
        args = super().stream_args(service)
        if service.tensor_parallel_size > 1:
            # Each tensor-parallel rank reads its share and passes it over NVLink ("distributed" streaming;
            # Google's "Stream models into GPU memory with the Run:ai Model Streamer", discuss.google.dev).
            args.append('--model-loader-extra-config={"distributed":true}')
        return args

    def stream_env(self, service: VllmService) -> dict[str, str]:
        return {"RUNAI_STREAMER_CONCURRENCY": str(STREAMER_CONCURRENCY)}

    def routing(self, service: VllmService) -> Routing | None:
        return service.routing

    def adapters(self, service: VllmService) -> tuple[LoraAdapter, ...]:
        return tuple(service.adapters)

    def served_name(self, name: str, service: VllmService) -> str:
        return service.served_model_name or name

    def routing_args(self, service: VllmService) -> list[str]:
        # Unset, vLLM caches prefixes only where the model supports it (shared/reference/server-cli.md); asked for,
        # it says when one does not.
        return ["--enable-prefix-caching"] if self.picked(service) else []

    def shm_gib(self, gpus: int) -> int:
        # vLLM's engine processes also exchange tensors through /dev/shm, even on one GPU.
        return SHM_GIB_PER_GPU * gpus

    def served_model(self, args: Sequence[str]) -> str | None:
        if args and not args[0].startswith("-"):
            return args[0]
        return cli.value_of(self.name, args, "--model")

    def parallelism(self, args: Sequence[str]) -> tuple[int | None, str]:
        tp, pp = self.count(args, "tensorParallelSize") or 1, self.count(args, "pipelineParallelSize") or 1
        return tp * pp, f"vLLM tensor parallel {tp} x pipeline parallel {pp}"
