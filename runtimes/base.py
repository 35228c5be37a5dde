"""The protocol every model server implements: one class per server in runtimes/<server>.py.

A runtime owns everything that differs between servers: its config model (its own vocabulary), the
flags of its pinned version, GPUs per replica, image per GPU architecture, ports and paths, how it
takes an API key, what memory sizing needs, shared-memory and security needs. Config, workloads,
policies and the gateway ask the runtime; none of them branches on a runtime's name.

Sizing does not know runtimes at all: sizing/memory.py branches on a memory engine, one of
sizing.memory.ENGINES ("vllm": the KV cache in a fixed share of GPU memory; "tgi": in what is free after a
warm-up; "tei": an encoder, no KV cache). Each runtime names the engine its server behaves like in
`memory_engine` (SGLang is sized as "vllm", a custom image as "tgi", Triton is not sized), so the engine
names match some runtime names without being them.

A runtime is generic in its service config: `Vllm(Runtime[VllmService])` reads a VllmService in every
hook. The registry (runtimes/__init__.py) holds them as Runtime[ServiceBase].
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import ClassVar, Generic, TypeVar

from pydantic.alias_generators import to_snake

import catalog
from catalog.servers import ServerFacts, runtime_traits, server_facts
from loads import RuntimeAbilities, default_path, paths_for
from runtimes import cli
from settings.base import closest
from settings.lora import LoraAdapter
from settings.problems import Problem
from settings.routing import Routing
from settings.service_base import ServiceBase
from sizing.memory import ENCODER

SHM_GIB_PER_GPU = 2  # NCCL's shared-memory transport; the 64 MiB container default breaks it
# (method, path, JSON body or None): one request of a server's client API, for tools/smoke.py.
SmokeRequest = tuple[str, str, dict[str, object] | None]
# The service config a runtime reads: its own model (runtimes/<server>.py), a ServiceBase with its keys.
S = TypeVar("S", bound=ServiceBase)


def chat_request(model: str) -> SmokeRequest:
    """An OpenAI chat completion of a few tokens for `model`."""
    body: dict[str, object] = {"model": model, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8}
    return ("POST", "/v1/chat/completions", body)


class BadFlag(ValueError):
    """A parallelism flag whose value is not a positive whole number."""


def whole(raw: str) -> int | None:
    return int(raw) if raw.strip().isdigit() else None


class Runtime(ABC, Generic[S]):
    """Defaults that suit most servers; each runtime overrides what differs and must give `args`."""

    name: ClassVar[str]
    config: ClassVar[type[ServiceBase]]
    # How the platform reads the server's settings: catalog/runtime_traits.yaml, one row per runtime.
    title: str  # as people write it, for messages
    parallelism_key: str  # the config key that sets GPUs per replica
    quantization_key: str | None  # the server's word for quantization, if it has one
    memory_engine: str | None  # sizing.memory's model of the server; None: not sized
    length_key: str | None  # the context-length setting, for memory sizing
    batch_key: str | None  # the prefill-batch setting, for memory sizing
    fp8_kv_dtype: str | None  # the kvCacheDtype value of an fp8 KV cache, for fixes
    generates: bool  # streams generated text (long requests) rather than embedding
    picker_engine: str | None  # the endpoint picker's name for the server's metrics; None: it cannot read them
    picker_lora: bool  # the picker reads which adapters a pod has loaded (its lora-affinity scorer)
    # Options the policies read off a rendered pod that are not config keys (the memory model's words).
    extra_flags: ClassVar[dict[str, str]] = {}
    # How the server can take its weights, in its own terms; loads/ turns them into the load paths it can use.
    reads_weights: ClassVar[bool] = True  # False: the service names its own source (Triton's bucket)
    reads_folder: ClassVar[bool] = True  # its model argument may be a local folder of the repository
    # The --load-format value that makes the server stream safetensors from gs:// itself (the Run:ai Model
    # Streamer); None: it cannot, and no load path asks it to.
    stream_load_format: ClassVar[str | None] = None

    def __init__(self) -> None:
        t = runtime_traits()[self.name]
        self.title, self.parallelism_key, self.quantization_key, self.generates = (
            t.title,
            t.parallelism_key,
            t.quantization_key,
            t.generates,
        )
        self.memory_engine, self.length_key, self.batch_key, self.fp8_kv_dtype = (
            t.memory_engine,
            t.length_key,
            t.batch_key,
            t.fp8_kv_dtype,
        )
        self.picker_engine, self.picker_lora = t.picker_engine, t.picker_lora

    @property
    def facts(self) -> ServerFacts:
        return server_facts()[self.name]

    def facts_for(self, service: S) -> ServerFacts:
        """The server facts a service runs with: the pinned version's (a custom runtime builds its own)."""
        return self.facts

    @property
    def loads(self) -> tuple[str, ...]:
        """The load paths the server can use; empty when it reads its own source."""
        if not self.reads_weights:
            return ()
        return paths_for(RuntimeAbilities(self.reads_folder, self.stream_load_format is not None))

    def mirror_load(self, service: S) -> str:
        """The load path a service gets by default when the environment has a mirror (catalog `mirrorLoad`)."""
        return self.facts_for(service).mirror_load or default_path().name

    def default_memory_fraction(self, gpu: catalog.Gpu, args: Sequence[str]) -> float | None:
        """The share of GPU memory the server takes when the pod's arguments set none; None: the engine's."""
        return None

    @property
    def architecture_kind(self) -> str:
        """How memory sizing reads a model's architecture here: an encoder keeps no KV cache, whatever
        the model, because the server only embeds."""
        return "encoder" if self.memory_engine == ENCODER else "decoder"

    # --- config -----------------------------------------------------------------------------------

    def gpus(self, service: S) -> int:
        """GPUs one replica asks for."""
        return 1

    def quantization(self, service: S) -> str | None:
        return getattr(service, to_snake(self.quantization_key), None) if self.quantization_key else None

    def dtype(self, service: S) -> str | None:
        return getattr(service, "dtype", None)

    def kv_cache_dtype(self, service: S) -> str | None:
        return getattr(service, "kv_cache_dtype", None)

    def check(self, path: str, service: S, warnings: list[str]) -> Iterator[Problem]:
        """Settings the pinned version refuses: values outside its lists, removed or duplicated flags."""
        facts = self.facts
        for key in ("quantize", "quantization", "kvCacheDtype", "dtype", "pooling"):
            allowed = facts.allowed(key)
            value = getattr(service, to_snake(key), None)
            if allowed and value is not None and value not in allowed:
                hint = closest(value, allowed)
                fix = (
                    f"did you mean '{hint}'? allowed: {', '.join(allowed)}"
                    if hint
                    else f"use one of {', '.join(allowed)}"
                )
                yield Problem(f"{path}.{key}", f"{value!r} is not accepted by this server version", fix)
        quant = self.quantization(service)
        replacement = facts.deprecated.get(quant) if quant else None
        if replacement:
            warnings.append(
                f"{path}.{self.quantization_key}: {quant!r} is deprecated in {self.name} {facts.version} — use "
                f"{replacement!r}"
            )
        yield from self._extra_args(path, service)

    def _extra_args(self, path: str, service: S) -> Iterator[Problem]:
        """Every `extraArgs` option as the server's own parser reads it (runtimes/cli.py), refused where it
        means an option the platform sets, one a service key sets, one that weakens auth or isolation,
        or one the pinned version no longer has."""
        for use in cli.uses(self.name, service.extra_args):
            refusal = self._refusal(use)
            if refusal:
                yield Problem(f"{path}.extraArgs", *refusal)

    def _refusal(self, use: cli.Use) -> tuple[str, str] | None:
        """(what is wrong, the fix) for one option of `extraArgs`, None where the server may take it."""
        facts, option = self.facts, use.canonical
        by_option = {flag: key for key, flag in facts.flags.items()}
        server = f"{self.title} {facts.version}"
        means = use.written if option in (None, use.written) else f"{use.written} ({server} reads it as {option})"
        if use.ambiguous:
            return (
                f"{use.written} is an ambiguous prefix that {server} refuses: it could be {', '.join(use.ambiguous)}",
                "write the option in full",
            )
        if option in facts.removed or use.written in facts.removed:
            return (
                f"{means} no longer exists in {self.name} {facts.version}",
                f"use {facts.removed[option or use.written]}",
            )
        if option in by_option:
            return f"{means} is set from the service's {by_option[option]} key", f"set {by_option[option]} instead"
        if option in facts.generated:
            return f"{means} is generated by the platform", "remove it"
        if option in facts.refused:
            return f"{means} is not allowed: {facts.refused[option]}", "remove it"
        return None

    def routing(self, service: S) -> Routing | None:
        """How the gateway routes the service's requests; None: the runtime has no routing settings (plain route)."""
        return None

    def adapters(self, service: S) -> tuple[LoraAdapter, ...]:
        """The LoRA adapters the service serves on its base model."""
        return ()

    def lora_slots(self, args: Sequence[str]) -> tuple[int, int] | None:
        """(adapter slots, their rank) a rendered command reserves GPU memory for; None: no adapters loaded."""
        return None

    def served_name(self, name: str, service: S) -> str | None:
        """The name clients send as `model` for the base model; None: the server takes no model name."""
        return None

    def routing_args(self, service: S) -> list[str]:
        """Flags the endpoint picker relies on: the prefix cache its prefix-cache scorer counts on. SGLang's radix
        cache is on unless --disable-radix-cache (catalog/server_options.yaml), so it needs none."""
        return []

    def picked(self, service: S) -> bool:
        """Whether the Inference Gateway's endpoint picker routes the service's requests (an InferencePool):
        the service asks for it and the picker reads the server's metrics."""
        routing = self.routing(service)
        return self.picker_engine is not None and routing is not None and routing.picker

    # --- rendering --------------------------------------------------------------------------------

    def image(self, service: S, gpu: catalog.Gpu) -> str:
        """The service's own image, else the pinned one for the GPU (raises catalog.servers.NoImage)."""
        return service.image or self.facts.image_for(gpu)

    def configured_flags(self, service: S) -> list[str]:
        """`--flag=value` for every setting the service gives, with the pinned version's flag names."""
        args = []
        for key, name in self.facts.flags.items():
            value = getattr(service, to_snake(key))
            if value is not None:
                args.append(f"{name}={str(value).lower() if isinstance(value, bool) else value}")
        return args

    @abstractmethod
    def args(self, name: str, service: S) -> list[str]:
        """The container's arguments for `service`, named `name` in the environment."""

    def args_from(self, name: str, service: S, location: str | None, *, streaming: bool = False) -> list[str]:
        """The arguments with the weights at `location` (a gs:// URI or a mounted folder, from the load path):
        the model argument names it and no --revision follows (the commit is in the path)."""
        if location is None:
            return self.args(name, service)
        located = service.model_copy(update={"model": location, "revision": None})
        return self.args(name, located) + (self.stream_args(service) if streaming else [])

    def load_env(self, service: S, location: str, *, streaming: bool = False) -> dict[str, str]:
        """Environment a load adds: the streamer's settings when the server streams from the bucket."""
        return self.stream_env(service) if streaming else {}

    def stream_args(self, service: S) -> list[str]:
        """The server's own flags to stream safetensors from gs:// (only a runtime with a stream_load_format)."""
        return [f"--load-format={self.stream_load_format}"]

    def stream_env(self, service: S) -> dict[str, str]:
        return {}

    def env(self, service: S) -> dict[str, str]:
        return {"HF_HOME": self.facts.hf_home} if self.facts.hf_home else {}

    def served_paths(self, service: S) -> tuple[str, ...]:
        """The client API the gateway routes, {model} filled in."""
        return tuple(p.replace("{model}", service.model) for p in self.facts.served_paths)

    def shm_gib(self, gpus: int) -> int:
        """A memory-backed /dev/shm: NCCL needs one as soon as a model spans GPUs."""
        return SHM_GIB_PER_GPU * gpus if gpus > 1 else 0

    def bucket(self, service: S) -> str | None:
        """A Cloud Storage bucket the server reads through Workload Identity, if any."""
        return None

    def checkpoint_gib(self, service: S) -> float | None:
        """The checkpoint's size where the service states it, for the startup budget; None: from the
        model's architecture."""
        return None

    # --- reading a rendered pod (policies) --------------------------------------------------------

    def option_of(self, key: str) -> str | None:
        """The pinned version's canonical option behind environment-file key `key` (or a memory-model word)."""
        return {**self.facts.flags, **self.extra_flags}.get(key)

    def flag_value(self, args: Sequence[str], key: str) -> str | None:
        """The value the server takes for `key` from `args`, however the option is spelt (runtimes/cli.py)."""
        option = self.option_of(key)
        return cli.value_of(self.name, args, option) if option else None

    def served_model(self, args: Sequence[str]) -> str | None:
        return cli.value_of(self.name, args, "--model-id")

    def count(self, args: Sequence[str], key: str) -> int | None:
        raw = self.flag_value(args, key)
        if raw is None:
            return None
        value = whole(raw)
        if value is None or value < 1:
            raise BadFlag(f"{self.option_of(key)}={raw} is not a positive whole number")
        return value

    def parallelism(self, args: Sequence[str]) -> tuple[int | None, str]:
        """(GPUs one pod uses, in words); None where the server takes whatever it is given."""
        return 1, f"{self.title} (one GPU per process)"

    def model_split(self, args: Sequence[str]) -> int | None:
        """GPUs one copy of the model's weights is split over (memory sizing); None: all it is given."""
        return self.parallelism(args)[0]

    # --- after a deploy (tools/smoke.py) ----------------------------------------------------------

    def smoke_requests(self, name: str, service: S) -> tuple[SmokeRequest, ...]:
        """Requests that prove the server answers its client API, tried in order until one succeeds.
        Default: an OpenAI chat completion of a few tokens, for the model name the server serves."""
        return (chat_request(getattr(service, "served_model_name", None) or name),)
