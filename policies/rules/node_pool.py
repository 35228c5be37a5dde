"""A GPU node pool's machine type carries the accelerators the pool declares (catalog/machines.yaml)."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

import catalog
from policies.rules.base import DEFAULT_ENFORCEMENT
from policies.rules.pools import NODE_POOL, gpu_pool


def _machine_carries_gpu(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != NODE_POOL:
        return
    pool = gpu_pool(args.urn, args.name, args.props)
    if pool is None:
        return  # a CPU pool
    if pool.accelerator not in catalog.gpus():
        report(f"accelerator {pool.accelerator} is not in the GPU catalog (catalog/gpus.yaml)", None)
        return
    machine = catalog.machine_types().get(pool.machine_type)
    if machine is None:
        report(
            f"machine type {pool.machine_type} is not in the GPU machine catalog (catalog/machines.yaml), "
            f"so it cannot be shown to carry {pool.gpus_per_node} x {pool.accelerator}",
            None,
        )
        return
    why = catalog.gpu_mismatch(machine, pool.accelerator, pool.gpus_per_node)
    if why:
        fit = catalog.machine_for(pool.accelerator, pool.gpus_per_node)
        report(f"{why} — GKE refuses the pool" + (f"; use {fit}" if fit else ""), None)


node_pool_machine_carries_gpu = ResourceValidationPolicy(
    name="node-pool-machine-carries-gpu",
    description="A GPU node pool's machine type carries exactly the declared accelerator type and count "
    "(A2/A3/G2 have fixed GPUs; N1 attaches T4, V100, P4 or P100 in set counts).",
    validate=_machine_carries_gpu,
    enforcement_level=DEFAULT_ENFORCEMENT,
)
