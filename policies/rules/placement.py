"""Where GPU pods land: a node pool of the stack must provide their GPU type, with enough per node.

These compare each pod with the stack's node pools, so they are stack policies.
"""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import ReportViolation, StackValidationArgs, StackValidationPolicy

import catalog
from policies.rules.base import DEFAULT_ENFORCEMENT, gpus
from policies.rules.pods import ACCELERATOR_LABEL, GPU, NODEPOOL_LABEL, Pod, pod_of
from policies.rules.pools import GpuPool, gpu_pools


def _gpu_pods(args: StackValidationArgs) -> Iterator[tuple[str, Pod]]:
    for r in args.resources:
        pod = pod_of(r.resource_type, r.props)
        if pod is not None and pod.is_gpu_workload:
            yield r.urn, pod


def _who(pod: Pod) -> str:
    return f"{pod.kind} {pod.name}".rstrip()


def _listing(pools: list[GpuPool]) -> str:
    return ", ".join(f"{p.name}: {p.accelerator}" for p in pools) or "none"


def matching_pools(pod: Pod, pools: list[GpuPool]) -> list[GpuPool]:
    """The pools whose nodes satisfy the pod's accelerator and node-pool selectors."""
    return [p for p in pools if p.accelerator == pod.accelerator and pod.node_pool in (None, p.name)]


def _targets_accelerator(args: StackValidationArgs, report: ReportViolation) -> None:
    pools = gpu_pools(args.resources)
    offered = sorted({p.accelerator for p in pools})
    for urn, pod in _gpu_pods(args):
        who = _who(pod)
        if pod.accelerator is None:
            # GKE Autopilot refuses such a pod; on Standard it may land on any GPU type, and TEI's
            # images are built per GPU architecture (text-embeddings-inference#20).
            report(
                f"{who} asks for {pod.gpus} {GPU} but sets no nodeSelector {ACCELERATOR_LABEL} — "
                f"select one the stack provides ({', '.join(offered) or 'none'})",
                urn,
            )
        elif pod.accelerator not in offered:
            report(
                f"{who} selects {ACCELERATOR_LABEL}={pod.accelerator}, which no node pool of the stack "
                f"provides (GPU pools: {_listing(pools)})",
                urn,
            )
        elif pod.node_pool is not None and not matching_pools(pod, pools):
            named = [p for p in pools if p.name == pod.node_pool]
            why = f"carries {named[0].accelerator}" if named else "is not a GPU node pool of the stack"
            report(
                f"{who} selects {NODEPOOL_LABEL}={pod.node_pool} and {ACCELERATOR_LABEL}={pod.accelerator}, "
                f"but pool {pod.node_pool} {why} (GPU pools: {_listing(pools)})",
                urn,
            )


gpu_workload_targets_accelerator = StackValidationPolicy(
    name="gpu-workload-targets-accelerator",
    description=f"A GPU pod selects a {ACCELERATOR_LABEL} (and, if it names one, a {NODEPOOL_LABEL}) that a "
    "node pool of the stack provides.",
    validate=_targets_accelerator,
    enforcement_level=DEFAULT_ENFORCEMENT,
)


def _fits_node(args: StackValidationArgs, report: ReportViolation) -> None:
    pools = gpu_pools(args.resources)
    for urn, pod in _gpu_pods(args):
        candidates = matching_pools(pod, pools)
        if not candidates or pod.gpus <= max(p.gpus_per_node for p in candidates):
            continue  # no pool at all is gpu-workload-targets-accelerator's finding
        largest = max(candidates, key=lambda p: p.gpus_per_node)
        bigger = catalog.machine_for(largest.accelerator, pod.gpus)
        fix = f"a pool of {bigger}" if bigger else f"a machine type with {gpus(pod.gpus)}"
        report(
            f"{_who(pod)} asks for {pod.gpus} x {largest.accelerator} per pod, but a node of pool "
            f"{largest.name} ({largest.machine_type}) has {largest.gpus_per_node} — the pod can never be "
            f"scheduled; use {fix}, or split the model over fewer GPUs",
            urn,
        )


gpu_fits_node = StackValidationPolicy(
    name="gpu-fits-node",
    description="No pod asks for more GPUs than one node of a matching node pool has (a pod cannot span nodes).",
    validate=_fits_node,
    enforcement_level=DEFAULT_ENFORCEMENT,
)
