"""Will the model a server loads fit the GPUs its pod gets? sizing.memory's estimate, from the pod.

huggingface/text-generation-inference#988: Falcon 40B on 4 x T4 crash-looped "waiting for shard to
be ready" — the weights did not fit. The estimate reads the same arguments the server will.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy
from pydantic import ValidationError

import catalog
from config.pydantic_errors import problems_from
from config.services import ARCHITECTURE_ANNOTATION, MODEL_ANNOTATION
from config.services import Architecture as ArchitectureConfig
from policies.rules.base import DEFAULT_ENFORCEMENT
from policies.rules.pods import Pod, pod_of, served_model, server_flag
from runtimes import REGISTRY, BadFlag
from sizing.memory import ENCODER, FitRequest, estimate
from sizing.models import Architecture, checkpoint_quantization, resolve


class NotSized(Exception):
    """Why the estimate cannot be made (the rule is then not applicable)."""


class BadAnnotation(ValueError):
    """The architecture annotation is present but not a valid architecture."""


def annotated_architecture(text: str, runtime: str) -> Architecture:
    """The architecture annotation (the environment file's `architecture` keys, as JSON)."""
    try:
        a = ArchitectureConfig.model_validate_json(text)
    except ValidationError as e:
        problems = "; ".join(str(p) for p in problems_from(e, ARCHITECTURE_ANNOTATION))
        raise BadAnnotation(f"the pod's architecture annotation is invalid: {problems}") from None
    return a.for_sizing(REGISTRY[runtime].architecture_kind)


def _number(runtime: str, args: Sequence[str], key: str, kind: type[int] | type[float]) -> Any:
    raw = server_flag(runtime, args, key)
    if raw is None:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise NotSized(f"{key} {raw!r} is not a number") from None


def fit_request(pod: Pod) -> FitRequest:
    """The FitRequest of a model-server pod; NotSized when something it needs is missing."""
    runtime, server = pod.runtime, pod.server()
    known = REGISTRY.get(runtime or "")
    if known is None or known.memory_engine is None or server is None:
        sized = ", ".join(r.name for r in REGISTRY.values() if r.memory_engine)
        raise NotSized(f"memory sizing covers {sized}, not {runtime}")
    runtime = known.name
    args = server.args
    model = served_model(runtime, args)
    annotation = pod.annotations.get(ARCHITECTURE_ANNOTATION)
    if model is None:
        # An image whose arguments name no model (a custom runtime): the pod's annotation names it, and
        # only the service's own `architecture` sizes it — a catalog entry under that name may describe
        # other weights than the image loads.
        named = pod.annotations.get(MODEL_ANNOTATION)
        if not isinstance(named, str) or not named:
            raise NotSized("the server's arguments name no model")
        if not isinstance(annotation, str):
            raise NotSized(f"{known.title}: memory fit not checked — give the service an `architecture`")
        model = named
    gpu = catalog.gpus().get(pod.accelerator or "")
    if gpu is None:
        raise NotSized(f"the pod selects no GPU type the catalog knows ({pod.accelerator})")
    if isinstance(annotation, str):
        arch = annotated_architecture(annotation, runtime)
    elif (found := resolve(model)) is not None:
        arch = found[1]
    else:
        raise NotSized(f"{model} is not in sizing/models.yaml and the pod has no {ARCHITECTURE_ANNOTATION} annotation")
    try:
        split = known.model_split(args)
    except BadFlag as e:
        raise NotSized(str(e)) from None
    try:
        lora = known.lora_slots(args)
    except BadFlag as e:
        raise NotSized(str(e)) from None
    quant_key, len_key, batch_key = known.quantization_key or "", known.length_key or "", known.batch_key or ""
    return FitRequest(
        engine=known.memory_engine,
        model=model,
        arch=arch,
        gpu=gpu,
        # TGI without --num-shard shards over every GPU the pod gets.
        tensor_parallel=split or max(server.gpus, 1),
        # A quantized checkpoint loads quantized without the flag: the server reads its quantization_config.
        quantization=server_flag(runtime, args, quant_key) or checkpoint_quantization(model)[0],
        dtype=server_flag(runtime, args, "dtype"),
        kv_cache_dtype=server_flag(runtime, args, "kvCacheDtype"),
        # TEI's "length" is its batch; the encoder model reads the batch, not a context length.
        max_len=_number(runtime, args, len_key, int) if known.memory_engine != ENCODER else None,
        max_batch_prefill_tokens=_number(runtime, args, batch_key, int),
        gpu_memory_utilization=(
            _number(runtime, args, "gpuMemoryUtilization", float) or known.default_memory_fraction(gpu, args)
        ),
        max_num_seqs=_number(runtime, args, "maxNumSeqs", int),
        max_num_batched_tokens=_number(runtime, args, "maxNumBatchedTokens", int),
        cuda_memory_fraction=_number(runtime, args, "cudaMemoryFraction", float),
        length_key=known.length_key,
        fp8_kv_dtype=known.fp8_kv_dtype,
        server=known.title,
        # The adapter slots the server reserves before its KV cache (vLLM --max-loras x --max-lora-rank).
        max_loras=lora[0] if lora else 0,
        max_lora_rank=lora[1] if lora else 0,
    )


def _model_fits(args: ResourceValidationArgs, report: ReportViolation) -> None:
    pod = pod_of(args.resource_type, args.props)
    if pod is None or pod.runtime is None:
        return
    try:
        result = estimate(fit_request(pod))
    except BadAnnotation as e:
        report(str(e), None)
        return
    except (NotSized, ValueError) as e:  # ValueError: a quantization or dtype sizing does not know
        args.not_applicable(str(e))
        return
    if not result.fits:
        report(result.explain(), None)


def _architecture_known(args: ResourceValidationArgs, report: ReportViolation) -> None:
    pod = pod_of(args.resource_type, args.props)
    known = REGISTRY.get(pod.runtime or "") if pod is not None else None
    if pod is None or known is None or known.memory_engine is None or pod.server() is None:
        return  # Triton and other workloads: memory sizing does not cover them (the preview lists them)
    server = pod.server()
    model = served_model(known.name, server.args) if server else None
    # No model in the arguments: an image that loads its own (a custom runtime), sized only with the
    # service's `architecture` and otherwise listed by the preview as not checked, not failed here.
    if model is None or resolve(model) is not None or ARCHITECTURE_ANNOTATION in pod.annotations:
        return
    report(
        f"{model} is not in sizing/models.yaml and the service states no `architecture`, so whether it fits "
        "the GPUs is not checked — add `architecture` (values from its config.json) to the service, or add the "
        "model to sizing/models.yaml",
        None,
    )


model_architecture_known = ResourceValidationPolicy(
    name="model-architecture-known",
    description="Every LLM or embedding server's model has a known architecture (catalog or the service's "
    "`architecture`), so its memory fit is checked rather than skipped.",
    validate=_architecture_known,
    enforcement_level=DEFAULT_ENFORCEMENT,
)


model_fits_gpu_memory = ResourceValidationPolicy(
    name="model-fits-gpu-memory",
    description="The model, its dtype or quantization, context length and tensor parallelism fit the memory "
    "of the GPUs the pod gets (weights + engine overhead + KV cache for one full-length sequence).",
    validate=_model_fits,
    enforcement_level=DEFAULT_ENFORCEMENT,
)


def memory_report(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model-server Deployment of a plan: the memory estimate per GPU and what is left, or why it is
    not checked. The preview prints it so a pass shows its margin, not just a tick."""
    pods = (pod_of(r["type"], r["inputs"]) for r in resources)
    rows = [report_row(pod) for pod in pods if pod is not None and pod.runtime is not None]
    return sorted(rows, key=lambda row: str(row["service"]))


def report_row(pod: Pod) -> dict[str, Any]:
    """One model server's row of memory_report: its estimate on the GPU it selects, or why it is not checked."""
    try:
        result = estimate(fit_request(pod))
    except (NotSized, BadAnnotation, ValueError) as e:
        return {"service": pod.name, "runtime": pod.runtime, "notChecked": str(e)}
    return {
        "service": pod.name,
        "runtime": pod.runtime,
        "gpu": pod.accelerator,
        "usableGib": round(result.usable_gib, 2),
        "weightsGib": round(result.weights_gib, 2),
        "kvBudgetGib": round(result.kv_budget_gib, 2),
        "kvNeededGib": round(result.kv_needed_gib, 2),
        # What is left after the weights, the engine's overhead and one full-length sequence.
        "headroomGib": round(result.usable_gib - result.weights_gib - result.overhead_gib - result.kv_needed_gib, 2),
        "fits": result.fits,
    }
