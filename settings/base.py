"""The base of every config model: camelCase keys, unknown keys refused with a suggestion."""

from __future__ import annotations

import difflib
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError


class StrictModel(BaseModel):
    # Keys a model refuses with a reason rather than as unknown: key -> (what is wrong, the fix).
    refused_keys: ClassVar[dict[str, tuple[str, str]]] = {}
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="forbid",
        use_attribute_docstrings=True,
        # No setting is infinite or not a number: "inf" or "nan" in any float field (a threshold, a
        # ratio, a size) would pass every bound and reach a manifest or an alert as garbage.
        allow_inf_nan=False,
    )

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_keys(cls, data: Any) -> Any:
        # Checked here rather than by extra="forbid" alone so the message can name the closest key.
        if isinstance(data, dict):
            allowed = sorted(f.alias or name for name, f in cls.model_fields.items())
            unknown = sorted(str(k) for k in data if k not in allowed)
            if unknown:
                reasons = {k: cls.refused_keys[k] for k in unknown if k in cls.refused_keys}
                raise PydanticCustomError(
                    "unknown_keys", "unknown keys {keys}", {"keys": unknown, "allowed": allowed, "reasons": reasons}
                )
        return data


def closest(word: str, choices: list[str]) -> str | None:
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return match[0] if match else None
