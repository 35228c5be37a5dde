"""Compute classes: an ordered list of capacity options a service's pods may land on (GKE custom ComputeClass).

When the first option is out of stock (ZONE_RESOURCE_POOL_EXHAUSTED) GKE tries the next one, and with active
migration moves pods back up the list when the preferred capacity returns. Every option is a node shape of its
own: the config checks treat it as a node pool (`as_pool`), so a fallback is proven to serve like a pool is.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from config.platform import NAME_PATTERN, GpuConfig, NodePoolConfig
from config.platform_checks import pool_zones
from settings.base import StrictModel

# The node label a pod selects its class by; GKE labels the class's nodes with it ("About node pool auto-creation").
COMPUTE_CLASS_LABEL = "cloud.google.com/compute-class"
# Flex-start VMs run at most seven days (pulumi-gcp container.NodePool node_config.max_run_duration; the
# ComputeClass `maxRunDurationSeconds`): next-wave-facts §5.
MAX_RUN_SECONDS = 7 * 24 * 3600
# GKE creates an auto-created node pool's boot disk at 100 GB unless the option sets storage.bootDiskSize
# (docs.cloud.google.com/kubernetes-engine/docs/reference/crds/computeclass; next-wave-facts §4).
AUTO_CREATED_BOOT_DISK_GB = 100
# Keep a class to about ten rules (second-hand advice, next-wave-facts §4): each is one more node pool to weigh.
MAX_OPTIONS = 10


class FlexStart(StrictModel):
    """Flex-start (Dynamic Workload Scheduler) capacity: obtainable when on-demand is not, for a bounded time."""

    max_run_duration_seconds: int = Field(MAX_RUN_SECONDS, gt=0)
    """How long a flex-start node lives (at most 7 days, 604800); GKE then deletes it."""
    node_recycling_lead_time_seconds: int | None = Field(3600, ge=1, le=MAX_RUN_SECONDS)
    """A replacement node is requested this long before a node reaches its maximum run duration, so the
    replica moves before its node goes (null: no recycling, the replica restarts when the node ends)."""

    @field_validator("max_run_duration_seconds")
    @classmethod
    def _at_most_seven_days(cls, value: int) -> int:
        if value > MAX_RUN_SECONDS:
            raise ValueError(f"{value} s is beyond the 7 days ({MAX_RUN_SECONDS} s) a flex-start VM may run — lower it")
        return value

    @model_validator(mode="after")
    def _lead_within_run(self) -> FlexStart:
        lead = self.node_recycling_lead_time_seconds
        if lead is not None and lead >= self.max_run_duration_seconds:
            raise ValueError(
                f"nodeRecyclingLeadTimeSeconds ({lead}) is not below maxRunDurationSeconds "
                f"({self.max_run_duration_seconds}) — nodes would be replaced as soon as they start; lower it"
            )
        return self


class Reservation(StrictModel):
    """A Compute Engine reservation the option consumes by name (specific affinity)."""

    name: str = Field(pattern=NAME_PATTERN, max_length=63)
    """The reservation's name."""
    project: str | None = Field(None, pattern=r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
    """The project that owns a shared reservation; unset: the stack's own project."""
    machine_type: str
    """The machine type the reservation holds, as it was created: it must be the option's machine type."""
    zone: str
    """The zone the reservation holds capacity in: the option's nodes are created there only."""


class CapacityOption(StrictModel):
    """One rung of a class: a node shape and how it is bought."""

    machine_type: str
    """A machine type that carries `gpu`, as for a node pool."""
    gpu: GpuConfig
    spot: bool = False
    """Spot VMs: cheapest, preemptible with 30 s notice."""
    flex_start: FlexStart | None = None
    """Flex-start (DWS) capacity; excludes spot and a reservation (separate provisioning models)."""
    reservation: Reservation | None = None
    """Consume this reservation (committed capacity); excludes spot and flex-start."""
    zones: list[str] | None = Field(None, min_length=1)
    """Zones of the cluster's region to create nodes in; default: the cluster's zones that offer the GPU."""
    boot_disk_size_gb: int | None = Field(None, ge=100, le=65536)
    """Boot disk of the auto-created nodes (it holds the model cache); default: GKE's 100 GB."""

    @model_validator(mode="after")
    def _one_provisioning_model(self) -> CapacityOption:
        # SPOT, FLEX_START and RESERVATION_BOUND are separate Compute Engine provisioning models (next-wave-facts §5).
        chosen = [
            k
            for k, on in (("spot", self.spot), ("flexStart", self.flex_start), ("reservation", self.reservation))
            if on
        ]
        if len(chosen) > 1:
            raise ValueError(
                f"{' and '.join(chosen)} are separate provisioning models — keep one per option, and put the other "
                "in an option of its own"
            )
        return self

    @property
    def provisioning(self) -> Literal["spot", "flex-start", "reservation", "on-demand"]:
        if self.spot:
            return "spot"
        if self.flex_start is not None:
            return "flex-start"
        return "reservation" if self.reservation is not None else "on-demand"

    @property
    def label(self) -> str:
        """How the option reads in messages and tables: `g2-standard-12 spot`."""
        return f"{self.machine_type} {self.provisioning}"

    def as_pool(self) -> NodePoolConfig:
        """The option as a node pool of its own, for the checks that prove a pool can serve a service."""
        return NodePoolConfig.model_validate(
            {
                "machineType": self.machine_type,
                "gpu": self.gpu,
                "spot": self.spot,
                "zones": self.zones,
                "diskSizeGb": self.boot_disk_size_gb or AUTO_CREATED_BOOT_DISK_GB,
            }
        )


class ComputeClassConfig(StrictModel):
    options: list[CapacityOption] = Field(min_length=1, max_length=MAX_OPTIONS)
    """Capacity options, most preferred first: GKE tries them top to bottom."""
    when_unsatisfiable: Literal["DoNotScaleUp", "ScaleUpAnyway"] = "DoNotScaleUp"
    """When no option can be had: DoNotScaleUp leaves pods Pending (never on a shape no option names)."""
    active_migration: bool = True
    """Move pods back up the list when a preferred option has capacity again (a replica restarts)."""


def option_zones(region: str, location: str, option: CapacityOption) -> tuple[str, ...]:
    """Where the option's nodes may go: its reservation's zone, its own zones, else the cluster's zones that
    offer its GPU (catalog/gpu_zones.yaml), so GKE never tries a zone without the GPU."""
    if option.reservation is not None:
        return (option.reservation.zone,)
    return pool_zones(region, location, option.as_pool())
