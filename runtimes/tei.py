"""Text Embeddings Inference: embeddings and rerankers, one GPU per process."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from runtimes.base import Runtime, SmokeRequest
from settings.limits import MAX_CONCURRENCY, MAX_TOKENS
from settings.service_base import ServiceBase


class TeiService(ServiceBase):
    runtime: Literal["tei"]
    dtype: str | None = None
    """float16 or float32 (CUDA builds; bfloat16 only exists in TEI's python backend)."""
    pooling: str | None = None
    """cls, mean, splade or last-token; default: the model's 1_Pooling/config.json."""
    max_batch_tokens: int | None = Field(None, gt=0, le=MAX_TOKENS)
    max_client_batch_size: int | None = Field(None, gt=0, le=MAX_CONCURRENCY)
    max_concurrent_requests: int | None = Field(None, gt=0, le=MAX_CONCURRENCY)
    auto_truncate: bool | None = None
    """Truncate inputs longer than the model's maximum (TEI 1.9 default: true)."""


class Tei(Runtime[TeiService]):
    name = "tei"
    config = TeiService
    # No object-store loader: --model-id takes a local folder, so the mirror comes as a FUSE mount or a
    # Hyperdisk ML volume. More GPUs are more single-GPU replicas (parallelismKey: pool).

    def args(self, name: str, service: TeiService) -> list[str]:
        # The image defaults to port 80; an explicit port needs no privilege to bind.
        return [f"--model-id={service.model}", f"--port={self.facts.port}", *self.configured_flags(service)]

    def smoke_requests(self, name: str, service: TeiService) -> tuple[SmokeRequest, ...]:
        # The config does not say embedder or reranker: a reranker refuses /embed and answers /rerank.
        return (
            ("POST", "/embed", {"inputs": "hello"}),
            ("POST", "/rerank", {"query": "hello", "texts": ["hello", "goodbye"]}),
        )
