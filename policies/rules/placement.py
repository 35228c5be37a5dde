"""Where GPU pods land: a node pool of the stack must provide their GPU type, with enough per node.

These compare each pod with the stack's node pools, so they are stack policies.
"""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import ReportViolation, StackValidationArgs, StackValidationPolicy

import catalog
from config.compute_classes import COMPUTE_CLASS_LABEL
from policies.rules.base import DEFAULT_ENFORCEMENT, gpus
from policies.rules.pods import ACCELERATOR_LABEL, GPU, NODEPOOL_LABEL, Pod, pod_of
from policies.rules.pools import GpuPool, placement_pools


def _gpu_pods(args: StackValidationArgs) -> Iterator[tuple[str, Pod]]:
    for r in args.resources:
        pod = pod_of(r.resource_type, r.props)
        if pod is not None and pod.is_gpu_workload:
            yield r.urn, pod


def _who(pod: Pod) -> str:
    return f"{pod.kind} {pod.name}".rstrip()


def _listing(pools: list[GpuPool]) -> str:
    return ", ".join(f"{p.name}: {p.accelerator}" for p in pools if p.compute_class is None) or "none"


def matching_pools(pod: Pod, pools: list[GpuPool]) -> list[GpuPool]:
    """The pools whose nodes satisfy the pod's selectors: its compute class's options, or the pools of its
    accelerator (and node pool)."""
    if pod.compute_class is not None:
        return [p for p in pools if p.compute_class == pod.compute_class]
    return [
        p
        for p in pools
        if p.compute_class is None and p.accelerator == pod.accelerator and pod.node_pool in (None, p.name)
    ]


def _targets_accelerator(args: StackValidationArgs, report: ReportViolation) -> None:
    pools = placement_pools(args.resources)
    offered = sorted({p.accelerator for p in pools if p.compute_class is None})
    classes = sorted({p.compute_class for p in pools if p.compute_class is not None})
    for urn, pod in _gpu_pods(args):
        who = _who(pod)
        if pod.compute_class is not None:
            options = matching_pools(pod, pools)
            if not options:
                report(
                    f"{who} selects {COMPUTE_CLASS_LABEL}={pod.compute_class}, which the stack does not define "
                    f"(compute classes: {', '.join(classes) or 'none'})",
                    urn,
                )
            for option in options:
                if option.accelerator not in catalog.gpus():
                    report(
                        f"{who} selects class {pod.compute_class}, whose {option.name} names no GPU the catalog "
                        f"knows ({option.accelerator or 'none'}) — give every option a gpu",
                        urn,
                    )
        elif pod.accelerator is None:
            # GKE Autopilot refuses such a pod; on Standard it may land on any GPU type, and TEI's
            # images are built per GPU architecture (text-embeddings-inference#20).
            report(
                f"{who} asks for {pod.gpus} {GPU} but sets no nodeSelector {ACCELERATOR_LABEL} — "
                f"select one the stack provides ({', '.join(offered) or 'none'})"
                + (f", or a {COMPUTE_CLASS_LABEL} it defines ({', '.join(classes)})" if classes else ""),
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
    f"node pool of the stack provides, or a {COMPUTE_CLASS_LABEL} the stack defines with a GPU in every option.",
    validate=_targets_accelerator,
    enforcement_level=DEFAULT_ENFORCEMENT,
)


def _fits_node(args: StackValidationArgs, report: ReportViolation) -> None:
    pools = placement_pools(args.resources)
    for urn, pod in _gpu_pods(args):
        candidates = matching_pools(pod, pools)
        if pod.compute_class is not None:
            # Each option as if it were the only one: a fallback whose nodes hold too few GPUs never serves.
            for option in candidates:
                if pod.gpus > option.gpus_per_node:
                    report(
                        f"{_who(pod)} asks for {pod.gpus} x GPU per pod, but a node of class {pod.compute_class}'s "
                        f"{option.name} ({option.machine_type}) has {option.gpus_per_node} — pods on that option "
                        "can never be scheduled; give the option a machine type with enough GPUs, or remove it",
                        urn,
                    )
            continue
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
