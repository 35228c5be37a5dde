"""LoRA adapters a service serves on its base model: each pinned to a commit, mirrored like the base model,
loaded at start and routable by name on the shared /v1 endpoint."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from settings.base import StrictModel
from settings.routing import PRIORITY_REFUSED
from settings.service_base import HubId


class LoraAdapter(StrictModel):
    refused_keys: ClassVar[dict[str, tuple[str, str]]] = PRIORITY_REFUSED
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$")
    """The name clients send as `model` (unique across the environment's models and adapters)."""
    model: HubId
    """The adapter's Hugging Face repository."""
    revision: str = Field(pattern=r"^[0-9a-f]{40}$")
    """The adapter's commit: adapters are mirrored, and a mirror copy is one commit."""
    rank: int = Field(ge=1)
    """The adapter's LoRA rank: `r` in its adapter_config.json (the largest of `r` and `rank_pattern`). The
    server's maximum rank and the GPU memory it reserves per adapter slot follow from it."""
    base_model: HubId
    """The model the adapter was trained on: `base_model_name_or_path` in its adapter_config.json. It must be
    the service's model: an adapter's weights only mean something on the weights it was trained against."""
