"""How a service's requests are routed at the gateway: the Inference Gateway's endpoint picker in front of an
InferencePool of the service's pods, or the plain load-balanced route.

The picker (GKE Inference Gateway, llm-d-router's endpoint picker) reads each pod's queue, KV-cache use and
cached prefixes from the server's metrics and sends a request to the pod that answers it soonest. It reads
vLLM's and SGLang's metrics only: the runtimes that can be picked name their engine (catalog/runtime_traits.yaml
`pickerEngine`). Built in workloads/inference_pool.py; checked in config/routing_checks.py.
"""

from __future__ import annotations

from pydantic import Field

from settings.base import StrictModel


class Routing(StrictModel):
    picker: bool = True
    """Route through an InferencePool and its endpoint picker (queue-, KV-cache- and prefix-aware); false keeps
    the plain load-balanced route (requests spread without regard to the pods' state)."""
    priority: int = Field(0, ge=-1000, le=1000)
    """The picker's priority for the base model's requests when the pool is saturated (its InferenceObjective);
    higher first, negative allowed."""
