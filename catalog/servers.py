"""Facts of the pinned model-server versions (catalog/servers.yaml) as typed, validated records.

The validators prove completeness against the GPU catalog: every GPU at or above a server's minimum
compute capability has an image (or an explicit "no build for this architecture"), so adding a GPU
is a failing test, never a KeyError at preview time.
"""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator
from pydantic.alias_generators import to_camel

import catalog


class NoImage(ValueError):
    """The server publishes no image for a GPU architecture; the message says which and why."""


class MemoryDefault(BaseModel):
    """One GPU-memory band of a server's own memory defaults (SGLang's handle_gpu_memory_settings)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")

    below_mib: int | None  # None: every larger GPU
    chunked_prefill: int = Field(gt=0)
    max_batch: int = Field(gt=0)
    max_batch_tp4: int = Field(gt=0)  # with tensor parallel 4 or more


class LoraFacts(BaseModel):
    """How a server loads LoRA adapters at start: its rank choices, defaults and the files it reads of one."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")

    ranks: list[int] = Field(min_length=1)  # the maximum-rank option's choices, ascending
    default_rank: int  # the maximum rank when none is given
    default_max_loras: int = Field(gt=0)  # adapters in one batch when none is given
    # The files of an adapter repository the server reads (loads/scripts/repo_files.py kinds).
    files: dict[str, list[str]]

    @model_validator(mode="after")
    def _consistent(self) -> LoraFacts:
        if self.ranks != sorted(set(self.ranks)) or self.default_rank not in self.ranks:
            raise ValueError("ranks must ascend without repeats and hold defaultRank")
        if not set(self.files) <= {"weights", "fallback", "support"}:
            raise ValueError(f"lora.files: {sorted(self.files)} — the kinds are weights, fallback and support")
        return self


class ServerFacts(BaseModel):
    """One server's block of catalog/servers.yaml."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")

    image: str
    version: str
    port: int = Field(gt=0, lt=65536)
    health: str
    liveness: str | None = None  # defaults to health
    liveness_timeout_seconds: int = Field(10, gt=0)  # longer than the liveness handler's own wait
    ready: str | None = None  # a cheaper readiness path than `health`, where the server has one
    metrics_port: int | None = Field(None, gt=0, lt=65536)  # defaults to port
    metrics_path: str
    queue_metric: str
    # Prometheus metrics the dashboard reads (catalog/servers.yaml names each one's source); None: the
    # pinned version exports none, and the dashboard shows no panel for it.
    ttft_histogram: str | None = Field(None, pattern=r"^[A-Za-z_:][A-Za-z0-9_:]*$")  # time to first token
    tpot_histogram: str | None = Field(None, pattern=r"^[A-Za-z_:][A-Za-z0-9_:]*$")  # time per output token
    kv_cache_usage: str | None = Field(None, pattern=r"^[A-Za-z_:][A-Za-z0-9_:]*$")  # a 0-1 gauge of the KV cache
    hf_home: str | None = None  # None: the server does not read the Hugging Face Hub (Triton)
    min_compute_capability: float
    flags: dict[str, str]  # config key -> flag of the pinned version
    generated: list[str]
    removed: dict[str, str]
    refused: dict[str, str] = {}  # options that weaken auth or isolation -> why, for extraArgs
    api_key_env: str | None  # None: no key of its own; the gateway's IAP guards it
    # Why the platform gives the server no key, where it has a check of its own the platform cannot use.
    no_api_key_reason: str | None = None
    served_paths: list[str] = Field(min_length=1, max_length=16)  # an HTTPRoute takes 16 rules
    admin_paths: list[str]
    shutdown_seconds: int = Field(gt=0)
    run_as_user: int | None
    run_as_group: int | None
    read_only_root: bool
    # Image tag per compute capability ("8.9" -> "89-"); null: no build for that architecture.
    tag_prefix: dict[str, str | None] | None = None
    digests: dict[str, str] = {}
    # Allowed values of the pinned version, by config key.
    quantize: list[str] = []
    quantization: list[str] = []
    kv_cache_dtype: list[str] = []
    dtype: list[str] = []
    pooling: list[str] = []
    deprecated: dict[str, str] = {}
    fp8_quantize: list[str] = []
    checkpoint_quantization: dict[str, str] = {}
    online_quantization: list[str] = []
    memory_defaults: list[MemoryDefault] = []  # by ascending GPU memory; the last band has below_mib None
    # The load path a service gets when the environment has a mirror (catalog/load_paths.yaml); None: the Hub.
    mirror_load: str | None = None
    # The files of a model repository the server reads (loads/scripts/repo_files.py): `weights`, `fallback`
    # when the repository has none of those, `support` (config, tokenizer, the shards' index).
    files: dict[str, list[str]] = {}
    lora: LoraFacts | None = None  # None: the platform loads no adapters on this server
    # Quantization value -> the lowest compute capability its kernels run on, where above the server's own.
    quantization_min_compute_capability: dict[str, float] = {}
    # Facts a runtime builds from the service (the custom runtime); the catalog's servers leave them unset.
    command: list[str] | None = None  # the container's command; None: the image's entrypoint
    startup_delay_seconds: int = Field(0, ge=0)  # before the first startup probe
    startup_retries: int | None = Field(None, ge=1)  # startup probes before a restart; None: from the model's size

    @model_validator(mode="after")
    def _file_kinds(self) -> ServerFacts:
        unknown = set(self.files) - {"weights", "fallback", "support"}
        if unknown:
            raise ValueError(f"files: {sorted(unknown)} — the kinds are weights, fallback and support")
        return self

    @model_validator(mode="after")
    def _complete(self) -> ServerFacts:
        if self.tag_prefix is not None:
            missing = [
                f"{gpu.accelerator} ({gpu.compute_capability:.1f})"
                for gpu in catalog.gpus().values()
                if gpu.compute_capability >= self.min_compute_capability
                and f"{gpu.compute_capability:.1f}" not in self.tag_prefix
            ]
            if missing:
                raise ValueError(f"tagPrefix has no entry for {', '.join(missing)}: add the tag or null")
        for key, values in (("quantize", self.quantize), ("quantization", self.quantization)):
            unknown = set(self.checkpoint_quantization) - set(values) if values else set()
            if unknown:
                raise ValueError(f"checkpointQuantization names values {sorted(unknown)} that {key} does not allow")
        overlap = set(self.served_paths) & set(self.admin_paths)
        if overlap:
            raise ValueError(f"paths both served and admin: {sorted(overlap)}")
        return self

    def allowed(self, key: str) -> list[str]:
        """Allowed values of a config key (quantize, quantization, kvCacheDtype, dtype, pooling); [] = any."""
        field = {"kvCacheDtype": "kv_cache_dtype"}.get(key, key)
        values: list[str] = getattr(self, field, [])
        return values

    def image_for(self, gpu: catalog.Gpu) -> str:
        """The pinned image for `gpu` (tag per architecture where the server publishes one per
        architecture), with its digest where the catalog has one."""
        if gpu.compute_capability < self.min_compute_capability:
            raise NoImage(
                f"{self.version} needs compute capability {self.min_compute_capability}, {gpu.name} has "
                f"{gpu.compute_capability}"
            )
        tag = self.version
        if self.tag_prefix is not None:
            prefix = self.tag_prefix.get(f"{gpu.compute_capability:.1f}")
            if prefix is None:
                raise NoImage(
                    f"{self.version} publishes no image for {gpu.name} ({gpu.arch}, {gpu.compute_capability})"
                )
            tag = f"{prefix}{self.version}"
        digest = self.digests.get(tag)
        return f"{self.image}:{tag}@{digest}" if digest else f"{self.image}:{tag}"


class RuntimeTraits(BaseModel):
    """How the platform reads one runtime's settings (catalog/runtime_traits.yaml)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")

    title: str
    parallelism_key: str = "pool"
    quantization_key: str | None = None
    memory_engine: str | None = None
    length_key: str | None = None
    batch_key: str | None = None
    fp8_kv_dtype: str | None = None
    generates: bool = True
    picker_engine: str | None = None
    picker_lora: bool = False


@cache
def runtime_traits() -> dict[str, RuntimeTraits]:
    return TypeAdapter(dict[str, RuntimeTraits]).validate_python(catalog.read("runtime_traits.yaml"))


@cache
def server_facts() -> dict[str, ServerFacts]:
    return TypeAdapter(dict[str, ServerFacts]).validate_python(catalog.read("servers.yaml"))
