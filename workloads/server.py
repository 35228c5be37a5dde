"""What each runtime needs to run a service: image, arguments, ports, paths. Pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic.alias_generators import to_snake

import catalog
from config.services import ServiceConfig, TeiService, TritonService, VllmService


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
    cache_path: str | None  # where the Hugging Face cache volume is mounted
    api_key_env: str | None
    run_as_user: int | None
    run_as_group: int | None
    served_paths: tuple[str, ...]  # what the gateway routes to the server, nothing else
    read_only_root: bool
    shutdown_seconds: int
    queue_metric: str


def image_for(service: ServiceConfig, gpu: catalog.Gpu) -> str:
    """The pinned image, `image:tag@sha256:...` where the catalog knows the tag's digest (the tag stays
    for humans; the digest is what the node pulls). TEI's tag carries the GPU architecture (89-1.9.3
    for L4, hopper-... for H100), so its digests are per tag."""
    if service.image:
        return service.image
    facts = catalog.servers()[service.runtime]
    tag = str(facts["version"])
    if isinstance(service, TeiService):
        tag = facts["tagPrefix"][f"{gpu.compute_capability:.1f}"] + tag
    digest = (facts.get("digests") or {}).get(tag)
    return f"{facts['image']}:{tag}@{digest}" if digest else f"{facts['image']}:{tag}"


def _flag_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def configured_flags(service: ServiceConfig) -> list[str]:
    """`--flag=value` for every setting the service gives, with the pinned version's flag names."""
    flags: dict[str, str] = catalog.servers()[service.runtime]["flags"]
    args = []
    for key, flag in flags.items():
        value = getattr(service, to_snake(key))
        if value is not None:
            args.append(f"{flag}={_flag_value(value)}")
    return args


def served_model_name(name: str, service: VllmService) -> str:
    return service.served_model_name or name


def served_paths(service: ServiceConfig) -> tuple[str, ...]:
    """The runtime's client API paths (catalog/servers.yaml `servedPaths`), {model} filled in."""
    return tuple(p.replace("{model}", service.model) for p in catalog.servers()[service.runtime]["servedPaths"])


def server_spec(name: str, service: ServiceConfig, gpu: catalog.Gpu) -> ServerSpec:
    facts = catalog.servers()[service.runtime]
    port = int(facts["port"])
    if isinstance(service, VllmService):
        # The image's entrypoint is `vllm serve`, so the model is the first argument.
        args = [service.model, f"--port={port}", f"--served-model-name={served_model_name(name, service)}"]
        if service.quantization in facts["deprecated"]:
            args.append("--allow-deprecated-quantization")
    elif isinstance(service, TritonService):
        # The image's entrypoint wraps the command; tritonserver copies gs:// repositories to /tmp.
        args = [
            "tritonserver",
            f"--model-repository={service.model_repository}",
            f"--http-port={port}",
            "--grpc-port=8001",
            f"--metrics-port={facts['metricsPort']}",
        ]
    else:
        # TGI and TEI images default to port 80; an explicit port needs no privilege to bind.
        args = [f"--model-id={service.model}", f"--port={port}"]
        if service.runtime == "tgi":
            args.append("--usage-stats=off")  # no telemetry from inside a private cluster
    args += configured_flags(service) + list(service.extra_args)
    env = {} if isinstance(service, TritonService) else {"HF_HOME": str(facts["hfHome"])}
    return ServerSpec(
        runtime=service.runtime,
        image=image_for(service, gpu),
        args=args,
        env=env,
        port=port,
        metrics_port=int(facts.get("metricsPort", port)),
        metrics_path=str(facts["metricsPath"]),
        health_path=str(facts["health"]),
        liveness_path=str(facts.get("liveness", facts["health"])),
        cache_path=None if isinstance(service, TritonService) else str(facts["hfHome"]),
        api_key_env=facts["apiKeyEnv"] if service.auth else None,
        run_as_user=facts["runAsUser"],
        run_as_group=facts["runAsGroup"],
        served_paths=served_paths(service),
        read_only_root=bool(facts["readOnlyRoot"]),
        shutdown_seconds=int(facts["shutdownSeconds"]),
        queue_metric=str(facts["queueMetric"]),
    )
