"""The environment-file reference, generated from the config models (docs/reference.md embeds it;
tests/test_readme.py keeps the two in step). Run: python -m config.reference"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from config.compute_classes import ComputeClassConfig
from config.monitoring import MonitoringConfig
from config.platform import ClusterConfig, GatewayConfig, NodePoolConfig
from config.services import Autoscaling
from runtimes import REGISTRY
from settings.mirror import ModelMirrorConfig

SECTIONS: tuple[tuple[str, type[BaseModel]], ...] = (
    ("gke-serving:cluster", ClusterConfig),
    ("gke-serving:nodePools.<pool>", NodePoolConfig),
    ("gke-serving:computeClasses.<class> (options: a list, most preferred first)", ComputeClassConfig),
    ("gke-serving:gateway", GatewayConfig),
    *((f"gke-serving:services.<name> (runtime: {r.name})", r.config) for r in REGISTRY.values()),
    ("autoscaling (any service)", Autoscaling),
    ("gke-serving:monitoring", MonitoringConfig),
    ("gke-serving:modelMirror", ModelMirrorConfig),
)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
    return []


def _default(field: FieldInfo) -> str:
    if field.default is PydanticUndefined:
        return "required"
    if isinstance(field.default, BaseModel) or field.default is None:
        return "—"
    return f"`{str(field.default).lower() if isinstance(field.default, bool) else field.default}`"


def _rows(model: type[BaseModel], prefix: str = "") -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        nested = [m for m in _models_in(field.annotation) if m is not Autoscaling]
        if nested:
            rows += [r for m in nested for r in _rows(m, f"{key}.")]
            continue
        text = (field.description or "").replace("\n", " ")
        rows.append(f"| `{key}` | {_default(field)} | {text} |")
    return rows


def reference() -> str:
    parts = []
    for title, model in SECTIONS:
        parts.append(f"#### `{title}`\n\n| key | default | meaning |\n|---|---|---|\n" + "\n".join(_rows(model)))
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    print(reference(), end="")
