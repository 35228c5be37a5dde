"""The model-server registry: one Runtime per server, looked up by the service's `runtime` key.

Adding a server is one module here, one block in catalog/servers.yaml and its tests.
"""

from __future__ import annotations

from typing import Annotated, cast

from pydantic import Field

from runtimes.base import BadFlag, Runtime
from runtimes.custom import Custom, CustomService
from runtimes.sglang import Sglang, SglangService
from runtimes.tei import Tei, TeiService
from runtimes.tgi import Tgi, TgiService
from runtimes.triton import Triton, TritonService
from runtimes.vllm import Vllm, VllmService
from settings.service_base import ServiceBase

# Each runtime reads only its own config class (Vllm a VllmService): the discriminated union below pairs a
# service with its runtime by the `runtime` key, so looking one up by the other is safe. The registry holds
# them at their common base, the one cast that says so.
REGISTRY = cast(
    "dict[str, Runtime[ServiceBase]]",
    {r.name: r for r in (Tei(), Tgi(), Vllm(), Triton(), Sglang(), Custom())},
)
RUNTIMES = tuple(REGISTRY)

# Any one runtime's service config; ServiceConfig picks the class by the `runtime` key.
Service = TeiService | TgiService | VllmService | TritonService | SglangService | CustomService
ServiceConfig = Annotated[Service, Field(discriminator="runtime")]


def runtime_of(service: Service | str) -> Runtime[ServiceBase]:
    """The runtime of a service config (or of a runtime name)."""
    return REGISTRY[service if isinstance(service, str) else service.runtime]


__all__ = [
    "REGISTRY",
    "RUNTIMES",
    "BadFlag",
    "CustomService",
    "Runtime",
    "Service",
    "ServiceConfig",
    "SglangService",
    "TeiService",
    "TgiService",
    "TritonService",
    "VllmService",
    "runtime_of",
]
