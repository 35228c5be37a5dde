"""GPU requests of a pod: whole GPUs, requests equal to limits, and the arguments' parallelism.

vllm-project/production-stack PR #1047: `requestGPU: 0.5` rendered no GPU request at all, two
replicas landed on the same cuda:0 and charged each other's KV cache. These rules catch that class.
"""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from policies.rules.base import DEFAULT_ENFORCEMENT, gpus
from policies.rules.pods import ACCELERATOR_LABEL, GPU, model_server_of, parallelism, pod_of, whole_number
from runtimes import REGISTRY, BadFlag


def _requests_equal_limits(args: ResourceValidationArgs, report: ReportViolation) -> None:
    pod = pod_of(args.resource_type, args.props)
    if pod is None:
        return
    for c in pod.all_containers():
        request, limit = c.gpu_values()
        for raw in (request, limit):
            if raw is not None and whole_number(raw) is None:
                report(
                    f"container {c.name}: {GPU} {raw!r} is not a whole number of GPUs — a GPU cannot be split "
                    "between pods",
                    None,
                )
                break
        else:
            if request is not None and limit is None:
                report(
                    f"container {c.name}: {GPU} is requested ({request}) without a limit — Kubernetes allocates "
                    "GPUs by their limit; set limits equal to requests",
                    None,
                )
            elif request is not None and whole_number(request) != whole_number(limit):
                report(
                    f"container {c.name}: {GPU} requests ({request}) differ from limits ({limit}) — set both "
                    "to the GPUs the server uses",
                    None,
                )
    if pod.accelerator is not None and pod.gpus == 0:
        report(
            f"the pod selects {ACCELERATOR_LABEL}={pod.accelerator} but no container requests {GPU} — "
            "it would run without a GPU or share one it was never given",
            None,
        )


gpu_requests_equal_limits = ResourceValidationPolicy(
    name="gpu-requests-equal-limits",
    description="GPU requests are whole numbers, equal to the limits, and a pod placed on a GPU node asks "
    "for at least one.",
    validate=_requests_equal_limits,
    enforcement_level=DEFAULT_ENFORCEMENT,
)


def _count_matches_parallelism(args: ResourceValidationArgs, report: ReportViolation) -> None:
    found = model_server_of(args.resource_type, args.props)
    if found is None:
        return  # not a model server
    pod, runtime = found
    server = pod.server()
    if server is None or runtime not in REGISTRY:
        args.not_applicable(f"no server container of a known runtime (label {runtime!r})")
        return
    try:
        needed, how = parallelism(runtime, server.args)
    except BadFlag as e:
        report(f"container {server.name}: {e}", None)
        return
    got = server.gpus
    if needed is None:  # Triton, and TGI without --num-shard, use whatever GPUs they are given
        if got == 0:
            report(f"{how} needs at least 1 GPU per pod, but container {server.name} has {GPU} = 0", None)
    elif got != needed:
        report(f"{how} needs {gpus(needed)} per pod, but container {server.name} has {GPU} = {got}", None)


gpu_count_matches_parallelism = ResourceValidationPolicy(
    name="gpu-count-matches-parallelism",
    description="A model server gets exactly the GPUs its arguments split the model over: TGI --num-shard, "
    "vLLM tensor x pipeline parallel, TEI 1, Triton at least 1.",
    validate=_count_matches_parallelism,
    enforcement_level=DEFAULT_ENFORCEMENT,
)
