"""LoRA adapters a service serves on its base model: each pinned to a commit, mirrored like the base model,
loaded at start and routable by name on the shared /v1 endpoint."""

from __future__ import annotations

from pydantic import Field

from settings.base import StrictModel
from settings.service_base import HubId


class LoraAdapter(StrictModel):
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$")
    """The name clients send as `model` (unique across the environment's models and adapters)."""
    model: HubId
    """The adapter's Hugging Face repository."""
    revision: str = Field(pattern=r"^[0-9a-f]{40}$")
    """The adapter's commit: adapters are mirrored, and a mirror copy is one commit."""
    priority: int = Field(0, ge=-1000, le=1000)
    """The picker's priority for this adapter's requests when the pool is saturated (its InferenceObjective);
    higher first, negative allowed."""
