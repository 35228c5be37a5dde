"""What a compute class's nodes can cost and hold: its options (read from the ComputeClass) and the GPUs the
Deployments that select it hold at their minimum and maximum replicas (their HorizontalPodAutoscaler, else
their replicas). A class has no maxNodes: its services' replicas bound it."""

from __future__ import annotations

from collections.abc import Sequence

from pulumi_policy import PolicyResource

from policies.rules.pods import mapping
from policies.rules.pools import GpuPool, class_options
from policies.rules.rollout import rollouts
from sizing.cost import ClassCostInput, OptionCostInput


def _provisioning(option: GpuPool) -> str:
    """How an option is bought, from its priority rule's fields."""
    if mapping(option.props.get("flexStart")).get("enabled") is True:
        return "flex-start"
    if option.props.get("reservations") is not None:
        return "reservation"
    return "spot" if option.spot else "on-demand"


def class_gpus(resources: Sequence[PolicyResource]) -> dict[str, tuple[int, int]]:
    """Per compute class, the GPUs its pods hold at their minimum and maximum replicas."""
    held: dict[str, tuple[int, int]] = {}
    for ro in rollouts(list(resources)):
        name = ro.pod.compute_class
        if name is not None and ro.pod.gpus:
            low, high = held.get(name, (0, 0))
            held[name] = (low + ro.min_replicas * ro.pod.gpus, high + ro.max_replicas * ro.pod.gpus)
    return held


def class_costs(resources: Sequence[PolicyResource], region: str) -> list[ClassCostInput]:
    """Each class the stack's pods select, with its options in order, as sizing/cost.py prices them."""
    held = class_gpus(resources)
    options: dict[str, list[OptionCostInput]] = {}
    for option in class_options(resources):
        if option.compute_class is None or option.gpus_per_node == 0:
            continue
        how = _provisioning(option)
        options.setdefault(option.compute_class, []).append(
            OptionCostInput(
                f"{option.machine_type} {how}",
                option.machine_type,
                option.accelerator,
                option.gpus_per_node,
                option.spot,
                how == "flex-start",
            )
        )
    return [
        ClassCostInput(name, region, tuple(options[name]), low, high)
        for name, (low, high) in sorted(held.items())
        if name in options
    ]
