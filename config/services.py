"""The services section: each entry is the config model of its runtime, discriminated on `runtime`.

The models live with their runtimes (runtimes/<server>.py); what every service shares is in
settings/service_base.py. This module gives the rest of the program one place to ask.
"""

from __future__ import annotations

from loads import default_path
from runtimes import RUNTIMES, ServiceConfig, runtime_of
from settings.service_base import (
    ARCHITECTURE_ANNOTATION,
    MODEL_ANNOTATION,
    Architecture,
    Autoscaling,
    HubId,
    Resources,
    ServiceBase,
)

__all__ = [
    "ARCHITECTURE_ANNOTATION",
    "MODEL_ANNOTATION",
    "RUNTIMES",
    "Architecture",
    "Autoscaling",
    "HubId",
    "Resources",
    "ServiceBase",
    "ServiceConfig",
    "gpus_per_replica",
    "load_of",
    "replica_range",
]


def gpus_per_replica(service: ServiceConfig) -> int:
    """GPUs one pod asks for, as its runtime counts them (TEI always 1: one process opens one GPU)."""
    return runtime_of(service).gpus(service)


def replica_range(service: ServiceConfig) -> tuple[int, int]:
    if service.autoscaling is not None:
        return service.autoscaling.min_replicas, service.autoscaling.max_replicas
    return service.replicas, service.replicas


def load_of(service: ServiceConfig, mirror: bool) -> str | None:
    """How the service's pods get their weights: its `load`, else its runtime's choice when the environment
    has a mirror, else the Hub; None for a runtime that names its own source (Triton's model repository)."""
    runtime = runtime_of(service)
    if not runtime.loads:
        return None
    if service.load is not None:
        return service.load
    return runtime.mirror_load(service) if mirror else default_path().name
