"""vLLM's OpenAI-compatible server: LLMs over tensor x pipeline parallel GPUs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

from pydantic import Field

from catalog.servers import LoraFacts
from runtimes import cli
from runtimes.base import SHM_GIB_PER_GPU, BadFlag, Runtime
from settings.limits import MAX_CONCURRENCY, MAX_GPUS, MAX_TOKENS
from settings.lora import LoraAdapter
from settings.mirror import adapter_path
from settings.problems import Problem
from settings.routing import Routing
from settings.service_base import ServiceBase

# Threads (and GCS clients) the Run:ai Model Streamer reads with; its default is 16 (runai-model-streamer
# docs/src/env-vars.md). [estimate] 32 keeps a 16-32 Gbps GPU VM's network busy with ~64-256 MiB reads.
STREAMER_CONCURRENCY = 32
PREFIX_CACHING = "--enable-prefix-caching"


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
    """LoRA adapters served on the base model, each by its own name (mirrored: needs gke-serving:modelMirror)."""
    max_loras: int | None = Field(None, ge=1, le=MAX_CONCURRENCY)
    """Adapters one batch may use at once (--max-loras): GPU memory holds a slot for each; default 1."""
    max_lora_rank: int | None = None
    """The largest adapter rank the server takes (--max-lora-rank, one of vLLM's choices); each slot is sized for
    it. Default: the smallest choice that holds the largest adapter's rank."""
    max_cpu_loras: int | None = Field(None, ge=1, le=MAX_CONCURRENCY)
    """Adapters kept in CPU memory (--max-cpu-loras), at least maxLoras; default: maxLoras."""


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
        return args + self.lora_args(service) + self.configured_flags(service)

    def lora_args(self, service: VllmService) -> list[str]:
        """The adapters loaded at start, each `name=<its mirror copy's folder>`. --lora-modules takes several values
        (nargs="+") and a repeated --lora-modules replaces the earlier list (LoRAParserAction), so every adapter
        follows one option. The name=path form lists the adapter in /v1/models with the first served model name as
        its parent, the same as the JSON form's base_model_name would (vllm/entrypoints/openai/models/serving.py
        show_available_models)."""
        if not service.adapters:
            return []
        modules = [f"{a.name}={adapter_path(a.model, a.revision)}" for a in service.adapters]
        rank = [] if service.max_lora_rank is not None else [f"--max-lora-rank={self.rank_for(service)}"]
        return ["--enable-lora", *rank, "--lora-modules", *modules]

    def rank_for(self, service: VllmService) -> int:
        """The smallest of the pinned version's --max-lora-rank choices that holds every adapter's rank."""
        lora = self._lora_facts()
        needed = max((a.rank for a in service.adapters), default=1)
        fitting = [r for r in lora.ranks if r >= needed]
        if not fitting:
            raise ValueError(
                f"rank {needed} is above {lora.ranks[-1]}, the largest --max-lora-rank (config refuses it)"
            )
        return fitting[0]

    def _lora_facts(self) -> LoraFacts:
        if self.facts.lora is None:
            raise ValueError("catalog/servers.yaml vllm has no lora block")
        return self.facts.lora

    def check(self, path: str, service: VllmService, warnings: list[str]) -> Iterator[Problem]:
        yield from super().check(path, service, warnings)
        yield from self._lora_problems(path, service)
        yield from self._picker_problems(path, service)

    def _picker_problems(self, path: str, service: VllmService) -> Iterator[Problem]:
        """A picked service's prefix caching is the platform's: the picker's prefix-cache scorer sends a prompt to
        the pod that cached its prefix, which a server without the cache would only slow down."""
        if not self.picked(service):
            return
        for use in cli.uses(self.name, service.extra_args):
            if use.canonical == PREFIX_CACHING:
                yield Problem(
                    f"{path}.extraArgs",
                    f"{use.written} sets prefix caching, which the platform turns on for a service the endpoint picker "
                    "routes (its prefix-cache scorer relies on it)",
                    "remove it, or set routing: {picker: false} to keep the plain route",
                )

    def _lora_problems(self, path: str, service: VllmService) -> Iterator[Problem]:
        lora, server = self._lora_facts(), f"{self.title} {self.facts.version}"
        ranks = ", ".join(str(r) for r in lora.ranks)
        if not service.adapters:
            keys = {
                "maxLoras": service.max_loras,
                "maxLoraRank": service.max_lora_rank,
                "maxCpuLoras": service.max_cpu_loras,
            }
            for key in (k for k, value in keys.items() if value is not None):
                yield Problem(f"{path}.{key}", "applies to LoRA adapters and the service has none", f"remove {key}")
            return
        if service.max_lora_rank is not None and service.max_lora_rank not in lora.ranks:
            yield Problem(
                f"{path}.maxLoraRank", f"{service.max_lora_rank} is not a rank {server} takes", f"use one of {ranks}"
            )
        max_loras = service.max_loras or lora.default_max_loras
        if service.max_cpu_loras is not None and service.max_cpu_loras < max_loras:
            yield Problem(
                f"{path}.maxCpuLoras",
                f"{service.max_cpu_loras} is below maxLoras {max_loras}: {server} refuses to start",
                f"set maxCpuLoras to at least {max_loras}, or remove it (it defaults to maxLoras)",
            )
        for i, adapter in enumerate(service.adapters):
            where = f"{path}.adapters.{i}"
            if adapter.base_model.lower() != service.model.lower():
                yield Problem(
                    f"{where}.baseModel",
                    f"{adapter.model} was trained on {adapter.base_model}, not on the service's model {service.model}",
                    f"serve it on a service of {adapter.base_model}, or use an adapter trained on {service.model}",
                )
            if adapter.rank > lora.ranks[-1]:
                yield Problem(
                    f"{where}.rank",
                    f"rank {adapter.rank} is above {lora.ranks[-1]}, the largest --max-lora-rank {server} takes",
                    f"use an adapter of rank {lora.ranks[-1]} or lower",
                )
            elif service.max_lora_rank in lora.ranks and adapter.rank > service.max_lora_rank:
                fitting = next(r for r in lora.ranks if r >= adapter.rank)
                yield Problem(
                    f"{where}.rank",
                    f"rank {adapter.rank} is above the service's maxLoraRank {service.max_lora_rank}: {server} "
                    "refuses to load the adapter",
                    f"raise maxLoraRank to {fitting} (or remove it: the smallest rank that holds every adapter is "
                    "chosen), or use an adapter of a lower rank",
                )

    def lora_slots(self, args: Sequence[str]) -> tuple[int, int] | None:
        """(adapter slots, their rank) a rendered command reserves GPU memory for; None without --enable-lora."""
        enabled = False
        for use in cli.uses(self.name, args):
            if use.canonical == "--enable-lora":  # --no-enable-lora and --disable-lora are its inverses
                enabled = not use.written.lstrip("-").startswith(("no-", "disable"))
        if not enabled:
            return None
        lora = self._lora_facts()
        rank = self.count(args, "maxLoraRank") or lora.default_rank
        if rank not in lora.ranks:
            raise BadFlag(f"--max-lora-rank={rank} is not one of {', '.join(str(r) for r in lora.ranks)}")
        return self.count(args, "maxLoras") or lora.default_max_loras, rank

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
        return [PREFIX_CACHING] if self.picked(service) else []

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
