"""NVIDIA Triton: a model repository in Cloud Storage, read through Workload Identity."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from runtimes.base import Runtime, SmokeRequest
from settings.limits import MAX_GPUS
from settings.service_base import ServiceBase

GRPC_PORT = 8001


class TritonService(ServiceBase):
    runtime: Literal["triton"]
    model: str = Field(pattern=r"^[A-Za-z0-9_](?:\.?[\w-])*$")
    """The model's name in the repository (its folder name: no `..`, not starting with `.` or `-`)."""
    model_repository: str = Field(pattern=r"^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?$")
    """gs:// path of the Triton model repository, read through Workload Identity."""
    gpus: int = Field(1, ge=1, le=MAX_GPUS)
    """GPUs per replica."""


class Triton(Runtime[TritonService]):
    name = "triton"
    config = TritonService
    reads_weights = False  # the model repository in `modelRepository` is its only source

    def gpus(self, service: TritonService) -> int:
        return int(service.gpus)

    def args(self, name: str, service: TritonService) -> list[str]:
        # The image's entrypoint wraps the command; tritonserver copies gs:// repositories to /tmp.
        return [
            "tritonserver",
            f"--model-repository={service.model_repository}",
            f"--http-port={self.facts.port}",
            f"--grpc-port={GRPC_PORT}",
            f"--metrics-port={self.facts.metrics_port}",
            *self.configured_flags(service),
        ]

    def bucket(self, service: TritonService) -> str | None:
        return str(service.model_repository).removeprefix("gs://").split("/", 1)[0]

    def served_model(self, args: Sequence[str]) -> str | None:
        return None  # the repository names the models, not the arguments

    def parallelism(self, args: Sequence[str]) -> tuple[int | None, str]:
        return None, "Triton"  # uses whatever GPUs it is given

    def smoke_requests(self, name: str, service: TritonService) -> tuple[SmokeRequest, ...]:
        return (("GET", f"/v2/models/{service.model}/ready", None),)  # 200 once the model is loaded
