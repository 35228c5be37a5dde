"""How a service's requests are routed at the gateway: the Inference Gateway's endpoint picker in front of an
InferencePool of the service's pods, or the plain load-balanced route.

The picker (GKE Inference Gateway, llm-d-router's endpoint picker) reads each pod's queue, KV-cache use and
cached prefixes from the server's metrics and sends a request to the pod that answers it soonest. It reads
vLLM's and SGLang's metrics only: the runtimes that can be picked name their engine (catalog/runtime_traits.yaml
`pickerEngine`). Built in workloads/inference_pool.py; checked in config/routing_checks.py.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from settings.base import StrictModel

MAX_WEIGHT = 100
# A priority per model or adapter is the picker's InferenceObjective (llm-d.ai/v1alpha2, llm-d-router apix/v1alpha2):
# a CRD GKE does not install, whose priority orders requests only under the picker's flowControl feature gate
# (llm-d-router v0.10.0 cmd/epp/runner/runner.go initAdmissionControl), which is experimental. So no key sets one.
PRIORITY_REFUSED = {
    "priority": (
        "a priority needs the picker's InferenceObjective (llm-d.ai/v1alpha2), a CRD GKE does not install, and acts "
        "only under the picker's experimental flowControl feature gate; the platform sets up neither",
        'remove priority (docs/calling-a-model.md, "Priorities")',
    )
}


class ScorerWeights(StrictModel):
    """How much each of the picker's scorers counts when it ranks a pool's pods (each scores 0-1). The defaults
    are llm-d-router's own (v0.10.0 config/charts/routerlib/templates/_config.yaml: queue 2, KV cache 2,
    prefix cache 3); LoRA affinity is not in its default list, 1 here: an adapter already loaded is a tie-breaker,
    not a reason to queue behind a busy pod."""

    queue: int = Field(2, ge=0, le=MAX_WEIGHT)
    """queue-scorer: fewer requests waiting on the pod scores higher."""
    kv_cache_utilization: int = Field(2, ge=0, le=MAX_WEIGHT)
    """kv-cache-utilization-scorer: more free KV cache scores higher."""
    prefix_cache: int = Field(3, ge=0, le=MAX_WEIGHT)
    """prefix-cache-scorer: more of the prompt's prefix already cached on the pod scores higher."""
    lora_affinity: int = Field(1, ge=0, le=MAX_WEIGHT)
    """lora-affinity-scorer (services with adapters): the adapter already loaded, or a free adapter slot, scores
    higher. vLLM only: SGLang exports no LoRA metric."""


class Routing(StrictModel):
    refused_keys: ClassVar[dict[str, tuple[str, str]]] = PRIORITY_REFUSED
    picker: bool = True
    """Route through an InferencePool and its endpoint picker (queue-, KV-cache- and prefix-aware); false keeps
    the plain load-balanced route (requests spread without regard to the pods' state)."""
    weights: ScorerWeights = ScorerWeights()
    """The picker's scorer weights."""
    picker_replicas: int = Field(1, ge=1, le=3)
    """Endpoint picker pods. One is llm-d-router's recommendation (its prefix-cache index lives in the pod);
    more run as hot standbys with leader election, only the leader answering."""
    failure_mode: Literal["FailOpen", "FailClose"] = "FailOpen"
    """What the load balancer does when the picker does not answer: FailOpen sends the request to a pod of the
    pool it picks itself (plain load balancing), FailClose refuses it. FailOpen by default: a picker restart
    then costs routing quality for seconds, not every request in flight."""
    log_requests: bool = False
    """Log each request's chosen pod (the picker's `Request handled` line at verbosity 3), to trace which pod
    served a request; off by default, one log line per request."""
