"""What the stack may spend: GPUs at full scale, GPU types, and the monthly bill at max nodes.

The limits are per environment (policies/config/<env>.json); the defaults apply when a pack runs
without a config and are deliberately small.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import PolicyConfigSchema, ReportViolation, StackValidationArgs, StackValidationPolicy

import catalog
from policies.rules.base import DEFAULT_ENFORCEMENT
from policies.rules.pods import whole_number
from policies.rules.pools import gpu_pools
from sizing.cost import PoolCostInput, estimate_cost

DEFAULT_MAX_GPUS = 8
DEFAULT_MAX_MONTHLY_USD = 10_000


def _max_gpus(args: StackValidationArgs, report: ReportViolation) -> None:
    ceiling = whole_number(args.get_config().get("maxGpus", DEFAULT_MAX_GPUS))
    pools = gpu_pools(args.resources)
    total = sum(p.max_nodes * p.gpus_per_node for p in pools)
    if ceiling is not None and total > ceiling:
        parts = ", ".join(f"{p.name}: {p.max_nodes} x {p.gpus_per_node}" for p in pools)
        report(
            f"the GPU node pools reach {total} GPUs at max scale ({parts}), above the ceiling of {ceiling} — "
            "lower maxNodes, or raise maxGpus in the policy config (and the project's GPU quota)",
            None,
        )


max_gpus_at_max_scale = StackValidationPolicy(
    name="max-gpus-at-max-scale",
    description="The GPU node pools at their maximum size hold no more GPUs than the environment's ceiling "
    "(sum of max nodes x GPUs per node).",
    validate=_max_gpus,
    enforcement_level=DEFAULT_ENFORCEMENT,
    config_schema=PolicyConfigSchema(
        properties={
            "maxGpus": {
                "type": "integer",
                "minimum": 0,
                "default": DEFAULT_MAX_GPUS,
                "description": "GPUs the environment may reach when every pool is at maxNodes.",
            },
        }
    ),
)


def _allowed_types(args: StackValidationArgs, report: ReportViolation) -> None:
    allowed: Any = args.get_config().get("gpuTypes", sorted(catalog.gpus()))
    for p in gpu_pools(args.resources):
        if p.accelerator not in allowed:
            report(
                f"node pool {p.name} uses {p.accelerator}, which this environment does not allow "
                f"(allowed: {', '.join(allowed)})",
                p.urn,
            )


allowed_gpu_types = StackValidationPolicy(
    name="allowed-gpu-types",
    description="GPU node pools use only the GPU types the environment allows.",
    validate=_allowed_types,
    enforcement_level=DEFAULT_ENFORCEMENT,
    config_schema=PolicyConfigSchema(
        properties={
            "gpuTypes": {
                "type": "array",
                "uniqueItems": True,
                "items": {"enum": sorted(catalog.gpus())},
                "default": sorted(catalog.gpus()),
                "description": "Accelerator names (cloud.google.com/gke-accelerator values) allowed.",
            },
        }
    ),
)


def _monthly_cost(args: StackValidationArgs, report: ReportViolation) -> None:
    ceiling = float(args.get_config().get("maxMonthlyUsd", DEFAULT_MAX_MONTHLY_USD))
    pools = gpu_pools(args.resources)
    cost = estimate_cost(
        [
            PoolCostInput(
                name=p.name,
                machine_type=p.machine_type,
                gpu=p.accelerator,
                gpus_per_node=p.gpus_per_node,
                region=catalog.region_of(p.location),
                spot=p.spot,
                min_nodes=p.min_nodes,
                max_nodes=p.max_nodes,
            )
            for p in pools
        ],
        [],
    )
    if cost["missing"]:
        report(
            f"no price for {'; '.join(cost['missing'])}, so the monthly cost cannot be checked against the "
            f"ceiling of {ceiling:,.0f} USD — add the row",
            None,
        )
        return
    total = cost["total"]["monthly"]["max"]
    if total > ceiling:
        parts = ", ".join(f"{name}: {c['monthly']['max']:,.0f}" for name, c in cost["pools"].items())
        report(
            f"the GPU node pools cost up to {total:,.0f} USD/month at max nodes ({parts}), above the ceiling "
            f"of {ceiling:,.0f} USD — lower maxNodes, use spot, or raise maxMonthlyUsd in the policy config",
            None,
        )


monthly_cost_ceiling = StackValidationPolicy(
    name="monthly-cost-ceiling",
    # The ceiling covers the GPU pools only: they are what scales and what a policy can read from the pool
    # resources; the preview's full total adds the platform lines (system pool, disks, fee, LB, NAT, IP).
    description="The GPU node pools at max nodes cost no more per month than the environment's ceiling "
    "(sizing/prices.yaml, 730 h/month; the platform lines of the preview's total are not included).",
    validate=_monthly_cost,
    enforcement_level=DEFAULT_ENFORCEMENT,
    config_schema=PolicyConfigSchema(
        properties={
            "maxMonthlyUsd": {
                "type": "number",
                "minimum": 0,
                "default": DEFAULT_MAX_MONTHLY_USD,
                "description": "USD per month the GPU node pools may cost at maxNodes.",
            },
        }
    ),
)
