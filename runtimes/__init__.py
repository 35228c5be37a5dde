"""The model-server registry: one Runtime per server, looked up by the service's `runtime` key.

Adding a server is one module here, one block in catalog/servers.yaml and its tests.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from runtimes.base import BadFlag, Runtime
from runtimes.custom import Custom, CustomService
from runtimes.sglang import Sglang, SglangService
from runtimes.tei import Tei, TeiService
from runtimes.tgi import Tgi, TgiService
from runtimes.triton import Triton, TritonService
from runtimes.vllm import Vllm, VllmService

REGISTRY: dict[str, Runtime] = {r.name: r for r in (Tei(), Tgi(), Vllm(), Triton(), Sglang(), Custom())}
RUNTIMES = tuple(REGISTRY)

ServiceConfig = Annotated[
    TeiService | TgiService | VllmService | TritonService | SglangService | CustomService,
    Field(discriminator="runtime"),
]


def runtime_of(service: Any) -> Runtime:
    """The runtime of a service config (or of a runtime name)."""
    return REGISTRY[service if isinstance(service, str) else service.runtime]


__all__ = [
    "REGISTRY",
    "RUNTIMES",
    "BadFlag",
    "CustomService",
    "Runtime",
    "ServiceConfig",
    "SglangService",
    "TeiService",
    "TgiService",
    "TritonService",
    "VllmService",
    "runtime_of",
]
