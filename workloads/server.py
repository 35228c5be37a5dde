"""What a service's runtime needs to run it: image, arguments, ports, paths. Pure; the runtime decides."""

from __future__ import annotations

from dataclasses import dataclass

import catalog
from config.services import ServiceConfig
from loads import load_path
from runtimes import runtime_of
from settings.mirror import WeightSource


@dataclass(frozen=True)
class ServerSpec:
    runtime: str
    image: str
    args: list[str]
    env: dict[str, str]
    port: int
    metrics_port: int
    metrics_path: str
    health_path: str
    liveness_path: str
    liveness_timeout_seconds: int
    cache_path: str | None  # where the Hugging Face cache volume is mounted; None: no Hub download
    api_key_env: str | None
    run_as_user: int | None
    run_as_group: int | None
    served_paths: tuple[str, ...]  # what the gateway routes to the server, nothing else
    read_only_root: bool
    shutdown_seconds: int
    queue_metric: str
    shm_gib: int  # a memory-backed /dev/shm of this size; 0: none
    generates: bool  # long generation requests (LLM timeouts) rather than embeddings
    bucket: str | None  # a Cloud Storage bucket read through Workload Identity
    command: list[str] | None = None  # the container's command; None: the image's entrypoint
    startup_delay_seconds: int = 0  # before the first startup probe
    startup_retries: int | None = None  # the startup probe's failureThreshold; None: from the startup budget
    weights: WeightSource | None = None  # the mirror copy the server loads; None: the Hub (or its own source)
    picker_engine: str | None = None  # the endpoint picker routes to the pods and reads them as this engine; None: not
    served_name: str | None = None  # the name clients send as `model` for the base model
    adapters: tuple[str, ...] = ()  # the LoRA adapters' names, each its own `model`
    picker_reads_adapters: bool = False  # the picker sees which adapters a pod has loaded (lora-affinity scoring)


def image_for(service: ServiceConfig, gpu: catalog.Gpu) -> str:
    """The pinned image (TEI's tag carries the GPU architecture: 89-1.9.3 for L4, hopper-... for H100)."""
    return runtime_of(service).image(service, gpu)


def server_spec(name: str, service: ServiceConfig, gpu: catalog.Gpu, weights: WeightSource | None = None) -> ServerSpec:
    runtime = runtime_of(service)
    facts = runtime.facts_for(service)
    path = load_path(weights.load) if weights is not None else None
    location = path.model_location(weights) if path is not None and weights is not None else None
    streaming = path is not None and path.streams
    return ServerSpec(
        runtime=service.runtime,
        image=runtime.image(service, gpu),
        args=runtime.args_from(name, service, location, streaming=streaming)
        + runtime.routing_args(service)
        + list(service.extra_args),
        env=runtime.env(service) | (runtime.load_env(service, location, streaming=streaming) if location else {}),
        port=facts.port,
        metrics_port=facts.metrics_port or facts.port,
        metrics_path=facts.metrics_path,
        health_path=facts.health,
        liveness_path=facts.liveness or facts.health,
        liveness_timeout_seconds=facts.liveness_timeout_seconds,
        cache_path=facts.hf_home,
        api_key_env=facts.api_key_env if service.auth else None,
        run_as_user=facts.run_as_user,
        run_as_group=facts.run_as_group,
        served_paths=runtime.served_paths(service),
        read_only_root=facts.read_only_root,
        shutdown_seconds=facts.shutdown_seconds,
        queue_metric=facts.queue_metric,
        shm_gib=runtime.shm_gib(runtime.gpus(service)),
        generates=runtime.generates,
        bucket=runtime.bucket(service),
        command=facts.command,
        startup_delay_seconds=facts.startup_delay_seconds,
        startup_retries=facts.startup_retries,
        weights=weights,
        picker_engine=runtime.picker_engine if runtime.picked(service) else None,
        served_name=runtime.served_name(name, service),
        adapters=tuple(a.name for a in runtime.adapters(service)),
        picker_reads_adapters=runtime.picker_lora,
    )
