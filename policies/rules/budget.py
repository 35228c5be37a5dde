"""What the stack may spend: GPUs at full scale, GPU types, and the monthly bill at max nodes.

The limits are per environment (policies/config/<env>.json); the defaults apply when a pack runs
without a config and are deliberately small.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import PolicyConfigSchema, ReportViolation, StackValidationArgs, StackValidationPolicy

import catalog
from policies.rules.base import DEFAULT_ENFORCEMENT
from policies.rules.class_capacity import class_gpus
from policies.rules.pods import whole_number
from policies.rules.pools import class_options, gpu_pools
from policies.rules.stack_cost import stack_cost

DEFAULT_MAX_GPUS = 8
DEFAULT_MAX_MONTHLY_USD = 10_000


def _max_gpus(args: StackValidationArgs, report: ReportViolation) -> None:
    ceiling = whole_number(args.get_config().get("maxGpus", DEFAULT_MAX_GPUS))
    pools = gpu_pools(args.resources)
    classes = class_gpus(args.resources)
    total = sum(p.max_nodes * p.gpus_per_node for p in pools) + sum(high for _, high in classes.values())
    if ceiling is not None and total > ceiling:
        parts = ", ".join(
            [f"{p.name}: {p.max_nodes} x {p.gpus_per_node}" for p in pools]
            + [f"class {name}: {high}" for name, (_, high) in sorted(classes.items())]
        )
        lower = "maxNodes or the class services' maxReplicas" if classes else "maxNodes"
        report(
            f"the GPU node pools reach {total} GPUs at max scale ({parts}), above the ceiling of {ceiling} — "
            f"lower {lower}, or raise maxGpus in the policy config (and the project's GPU quota)",
            None,
        )


max_gpus_at_max_scale = StackValidationPolicy(
    name="max-gpus-at-max-scale",
    description="The GPU node pools at their maximum size, and the compute classes at their services' maximum "
    "replicas, hold no more GPUs than the environment's ceiling "
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
    places = [(f"node pool {p.name}", "", p) for p in gpu_pools(args.resources)]
    places += [
        (f"compute class {o.name}", " — remove the option or allow the GPU type", o)
        for o in class_options(args.resources)
    ]
    for where, fix, pool in places:
        if pool.accelerator not in allowed:
            report(
                f"{where} uses {pool.accelerator}, which this environment does not allow (allowed: {', '.join(allowed)}){fix}",
                pool.urn,
            )


allowed_gpu_types = StackValidationPolicy(
    name="allowed-gpu-types",
    description="GPU node pools and every option of a compute class use only the GPU types the environment allows.",
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
    cost = stack_cost(list(args.resources))
    # A GPU pool without a price hides most of the bill; the table's other unpriced lines are small and noted there.
    unpriced = [m for m in cost["missing"] if m.split(" ", 1)[0] in cost["unpriced"]]
    if unpriced:
        report(
            f"no price for {'; '.join(unpriced)}, so the monthly cost cannot be checked against the ceiling of "
            f"{ceiling:,.0f} USD — add the row",
            None,
        )
        return
    total = cost["total"]["monthly"]["max"]
    if total > ceiling:
        gpu = cost["gpuPools"]["monthly"]["max"]
        parts = ", ".join(
            [f"{name}: {c['monthly']['max']:,.0f}" for name, c in cost["pools"].items()]
            + [f"class {name}: {c['monthly']['max'] or 0:,.0f}" for name, c in cost.get("classes", {}).items()]
        )
        # estimate_cost lists what it leaves out only when it priced the platform (a stack with its cluster).
        platform = f"; the platform {total - gpu:,.0f}" if cost["excluded"] else ""
        report(
            f"the environment costs up to {total:,.0f} USD/month at max nodes (GPU pools {gpu:,.0f}: {parts}"
            f"{platform}), above the ceiling of {ceiling:,.0f} USD — lower maxNodes, use spot, or raise "
            "maxMonthlyUsd in the policy config",
            None,
        )


monthly_cost_ceiling = StackValidationPolicy(
    name="monthly-cost-ceiling",
    # The same total as the preview's cost table (sizing/cost.py on the stack's pools and platform lines), less
    # the weights' storage, which the resources do not carry (policies/rules/stack_cost.py).
    description="The environment at max nodes costs no more per month than its ceiling: GPU pools, system pool, "
    "boot disks and local SSDs, cluster fee, load balancer, Cloud NAT, static IP and Secret Manager "
    "(sizing/prices.yaml and platform_prices.yaml, 730 h/month).",
    validate=_monthly_cost,
    enforcement_level=DEFAULT_ENFORCEMENT,
    config_schema=PolicyConfigSchema(
        properties={
            "maxMonthlyUsd": {
                "type": "number",
                "minimum": 0,
                "default": DEFAULT_MAX_MONTHLY_USD,
                "description": "USD per month the environment may cost at maxNodes (the preview's total).",
            },
        }
    ),
)
