"""A compute class's pod on each option as if it were the only one: the model's memory fit on that GPU.

model-fits-gpu-memory sees one resource and cannot know a class's options (they are another resource), so this
stack policy evaluates the same sizing (policies/rules/memory.py) on each option's GPU.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs, StackValidationPolicy

from policies.rules.base import DEFAULT_ENFORCEMENT
from policies.rules.memory import BadAnnotation, NotSized, fit_request, report_row
from policies.rules.placement import matching_pools
from policies.rules.pods import pod_of
from policies.rules.pools import class_options
from sizing.memory import estimate


def _options_fit(args: StackValidationArgs, report: ReportViolation) -> None:
    options = class_options(args.resources)
    for r in args.resources:
        pod = pod_of(r.resource_type, r.props)
        if pod is None or pod.runtime is None or pod.compute_class is None:
            continue
        for option in matching_pools(pod, options):
            try:
                result = estimate(fit_request(pod.on(option.accelerator, option.name)))
            except (BadAnnotation, NotSized, ValueError):
                continue  # model-architecture-known and model-fits-gpu-memory report why a pod is not sized
            if not result.fits:
                report(
                    f"on class {pod.compute_class}'s {option.name} ({option.machine_type}): {result.explain()} "
                    "— remove the option, or give it a GPU with more memory",
                    r.urn,
                )


class_options_fit_gpu_memory = StackValidationPolicy(
    name="class-options-fit-gpu-memory",
    description="A model server that selects a compute class fits the GPU memory of every option of the class, "
    "each as if it were the only one: a fallback that cannot hold the model is refused before a stockout.",
    validate=_options_fit,
    enforcement_level=DEFAULT_ENFORCEMENT,
)


def class_memory_report(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """memory_report's rows of each model server that selects a compute class, one per option of the class (with
    `option`, its place in the list), each sized as if the pods ran on that option alone."""
    stack = [
        PolicyResource(r["type"], r["inputs"], r["urn"], r["name"], None, None, None, [], {})  # type: ignore[arg-type]
        for r in resources
    ]
    options = class_options(stack)
    rows = []
    for r in resources:
        pod = pod_of(r["type"], r["inputs"])
        if pod is None or pod.runtime is None or pod.compute_class is None:
            continue
        rows += [
            {**report_row(pod.on(option.accelerator, option.name)), "option": option.name}
            for option in matching_pools(pod, options)
        ]
    return rows
