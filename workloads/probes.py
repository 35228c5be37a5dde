"""Probe timings: a startup budget that follows the model's size, then fast health checks."""

from __future__ import annotations

import math
from typing import Any

from config.services import ServiceConfig
from loads import load_path
from loads.files import Served, served
from runtimes import runtime_of
from sizing.models import checkpoint_quantization, resolve, weight_bytes

STARTUP_PERIOD_SECONDS = 10
LIVENESS_PERIOD_SECONDS, LIVENESS_TIMEOUT_SECONDS, LIVENESS_WINDOW_SECONDS = 15, 10, 60
# Budget = fixed engine start (CUDA init, warm-up, CUDA graphs) + time per GiB of weights on the service's
# load path (catalog/load_paths.yaml budgetSecondsPerGib: the Hub's 30 s/GiB — a download at ~40 MiB/s,
# then a load from disk — or a margin over the mirror paths' published throughput). [estimate]; the GKE
# samples give 10 min (vLLM, 7B) to 1 h (TGI benchmarks) from the Hub.
ENGINE_START_SECONDS = 300
MIN_BUDGET_SECONDS, MAX_BUDGET_SECONDS = 600, 3600
UNKNOWN_MODEL_BUDGET_SECONDS = 1800


def served_files(service: ServiceConfig) -> Served | None:
    """The files of the service's model@revision its server reads, from the model's lock; None without one."""
    return served(service.model, service.revision, runtime_of(service).facts_for(service).files)


def weights_gib(service: ServiceConfig) -> float | None:
    return weights_size(service)[0]


def weights_size(service: ServiceConfig) -> tuple[float | None, str]:
    """(GiB the server downloads, where the figure comes from): the service's own figure; the files it reads,
    from the model's lock ("lock", or "lock (by hand)" when not read from the Hub); else the checkpoint estimated
    from the architecture, quantized only when the checkpoint itself is (an -AWQ/-GPTQ/-FP8 repository): eetq,
    bitsandbytes and vLLM's online modes quantize after the full-precision download."""
    runtime = runtime_of(service)
    given = runtime.checkpoint_gib(service)
    if given is not None:
        return given, "service"  # a custom image loads what it loads
    files = served_files(service)
    if files is not None and files.files:
        return files.gib, "lock" if files.lock.verified else "lock (by hand)"
    if service.architecture is not None:
        arch = service.architecture.for_sizing(runtime.architecture_kind)
    else:
        found = resolve(service.model)
        if found is None:
            return None, "architecture"
        arch = found[1]
    checkpoint, _ = checkpoint_quantization(service.model)
    gib = weight_bytes(arch, quantization=checkpoint, dtype=None if checkpoint else arch.dtype) / 2**30
    return gib, "architecture"


def startup_budget_seconds(weights: float | None, load: str) -> int:
    """What the startup probe allows a server whose weights arrive by `load`."""
    if weights is None:
        return UNKNOWN_MODEL_BUDGET_SECONDS
    budget = ENGINE_START_SECONDS + load_path(load).facts.budget_seconds_per_gib * weights
    return int(min(max(budget, MIN_BUDGET_SECONDS), MAX_BUDGET_SECONDS))


# Before the startup probe's clock starts, the pod waits for a node and its image. [estimate] from the
# GKE GPU samples: a GPU node from zero (VM, driver install, device plugin) takes 5-10 minutes, and an
# 8-15 GB server image from ghcr.io, docker.io or nvcr.io through Cloud NAT several more.
NODE_SCALE_UP_SECONDS = 600
IMAGE_PULL_SECONDS = 600


def rollout_seconds(budget_seconds: int) -> int:
    """From the Deployment's change to a new replica serving: a node, the image, then the startup budget."""
    return NODE_SCALE_UP_SECONDS + IMAGE_PULL_SECONDS + budget_seconds


def await_timeouts(budget_seconds: int, max_replicas: int) -> dict[str, str]:
    """customTimeouts for the resources pulumi-kubernetes awaits (Deployment, its Service).

    Its default is 10 minutes, then the update fails. A create starts every replica at once; an
    update replaces them one at a time (maxSurge 1 or maxUnavailable 1), each a full cold start.
    """
    one = rollout_seconds(budget_seconds)
    return {"create": duration(one), "update": duration(one * max(max_replicas, 1))}


def service_timeouts(budget_seconds: int) -> dict[str, str]:
    """A Service is ready once one endpoint is: one cold start, whether created or updated."""
    one = duration(rollout_seconds(budget_seconds))
    return {"create": one, "update": one}


def duration(seconds: int) -> str:
    """A Pulumi duration in whole minutes, rounded up ("25m")."""
    return f"{math.ceil(seconds / 60)}m"


def startup_window_seconds(budget_seconds: int, initial_delay_seconds: int = 0, max_retries: int | None = None) -> int:
    """How long the startup probe lets a server take: the budget, or the retries the service states,
    after its initial delay. Rollout deadlines and `pulumi up` waits are measured from it."""
    if max_retries is None:
        return initial_delay_seconds + budget_seconds
    return initial_delay_seconds + STARTUP_PERIOD_SECONDS * max_retries


def probes(
    health_path: str,
    liveness_path: str,
    budget_seconds: int,
    *,
    initial_delay_seconds: int = 0,
    max_retries: int | None = None,
    liveness_timeout_seconds: int = LIVENESS_TIMEOUT_SECONDS,
) -> dict[str, dict[str, Any]]:
    """startupProbe holds the other two back until the server answers once, so a pod still
    downloading weights is never restarted by its liveness probe. `max_retries` replaces the
    failureThreshold the budget gives (a custom runtime's own number). The liveness check waits longer
    than the server's own liveness handler may (SGLang's /health waits up to 20 s for one token)."""
    threshold = max_retries if max_retries is not None else math.ceil(budget_seconds / STARTUP_PERIOD_SECONDS)
    period = max(LIVENESS_PERIOD_SECONDS, liveness_timeout_seconds + 5)
    return {
        "startupProbe": {
            "httpGet": {"path": health_path, "port": "http"},
            **({"initialDelaySeconds": initial_delay_seconds} if initial_delay_seconds else {}),
            "periodSeconds": STARTUP_PERIOD_SECONDS,
            "timeoutSeconds": 5,
            "failureThreshold": threshold,
        },
        "readinessProbe": {
            "httpGet": {"path": health_path, "port": "http"},
            "periodSeconds": 5,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            # A busy server may answer slowly; a minute of missed checks (at least two) means it is stuck.
            "httpGet": {"path": liveness_path, "port": "http"},
            "periodSeconds": period,
            "timeoutSeconds": liveness_timeout_seconds,
            "failureThreshold": max(2, LIVENESS_WINDOW_SECONDS // period),
        },
    }
