"""The plan file: what the engine saw, with every secret value replaced by "[secret]"."""

from __future__ import annotations

from typing import Any

from pulumi.runtime.rpc import _special_secret_sig, _special_sig_key

from preview.engine import ProgramRun

REDACTED = "[secret]"


def redact(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(_special_sig_key) == _special_secret_sig:
            inner = value.get("value")
            # A secret map keeps its keys, so a manifest still shows which entries exist.
            return dict.fromkeys(inner, REDACTED) if isinstance(inner, dict) else REDACTED
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the engine's wire format turns every number into a float
    return value


def build_plan(project: str, stack: str, run: ProgramRun) -> dict[str, Any]:
    return {
        "project": project,
        "stack": stack,
        "resources": [
            {
                "urn": r.urn,
                "type": r.type,
                "name": r.name,
                "parent": r.parent or None,
                "inputs": redact(r.inputs),
                "options": r.options,
            }
            for r in sorted(run.registrations, key=lambda r: r.urn)
        ],
        "outputs": {k: REDACTED if k in run.secret_outputs else redact(v) for k, v in run.outputs.items()},
    }
