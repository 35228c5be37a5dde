"""The node shapes a service's pods may land on: its pool's, or each option of its compute class in order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from config.compute_classes import ComputeClassConfig, option_zones
from config.platform import NodePoolConfig
from config.platform_checks import pool_zones
from config.services import ServiceConfig


@dataclass(frozen=True)
class Shape:
    """A node shape a service's pods may land on, and where its nodes go."""

    where: str  # in messages: "pool l4", "option 1 (g2-standard-8 spot) of class l4-fallback"
    pool: NodePoolConfig
    zones: tuple[str, ...]


def service_shapes(
    region: str,
    location: str,
    service: ServiceConfig,
    pools: Mapping[str, NodePoolConfig],
    classes: Mapping[str, ComputeClassConfig],
) -> tuple[Shape, ...]:
    """The shapes of `service` that the environment defines (none for an unknown pool or class)."""
    if service.pool is not None:
        pool = pools.get(service.pool)
        return () if pool is None else (Shape(f"pool {service.pool}", pool, pool_zones(region, location, pool)),)
    chosen = classes.get(service.compute_class or "")
    if chosen is None:
        return ()
    return tuple(
        Shape(
            f"option {i} ({o.label}) of class {service.compute_class}", o.as_pool(), option_zones(region, location, o)
        )
        for i, o in enumerate(chosen.options)
    )
