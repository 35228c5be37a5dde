"""What is left of a map entry (a pool, a service) that fails validation, for the checks that read the rest.

pydantic stops at an unknown key before it checks the fields, and an entry with one bad value yields no
object at all, so the cross-field, catalog and fidelity checks would see the entry's other mistakes only in
a later run. `salvage` drops the keys that hold an error and validates the rest again, pass after pass,
collecting every pass's errors. It drops only what can go without changing what the rest means: an
unknown key, or a field with a default of its own (`replicas: -1` reads as its default 1). A field whose
absence means "off" or is required (`apiKeyEnv`, `revision`, `model`) ends the salvage: checks run on
such a remainder would report problems the user's file does not have.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from config.services import RUNTIMES

MAX_PASSES = 8  # each pass drops at least one key; a config entry has a few dozen at most


def salvage(
    adapter: TypeAdapter[Any], entry: Any, error: ValidationError, model: type[BaseModel] | None
) -> tuple[list[ValidationError], Any]:
    """Every error of `entry` (`error` first), and the entry parsed without its bad keys, or None."""
    errors, dropped = [error], set[str]()
    for _ in range(MAX_PASSES):
        if not isinstance(entry, dict):
            break
        unknown, invalid = _bad_keys(errors[-1])
        bad = (unknown | invalid) - dropped
        if not bad:
            break
        dropped |= bad
        entry = {k: v for k, v in entry.items() if k not in bad}
        try:
            rest = adapter.validate_python(entry)
        except ValidationError as e:
            unknown, invalid = _bad_keys(e)
            if not (unknown | invalid) - dropped:
                break  # only what dropping caused: a required key gone
            errors.append(_without_missing(e, dropped))
            continue
        return errors, rest if model is not None and all(_defaulted(model, k) for k in _invalid(errors)) else None
    return errors, None


def _loc(e: ErrorDetails) -> list[str]:
    return [str(x) for x in e["loc"] if x not in RUNTIMES]


def _bad_keys(error: ValidationError) -> tuple[set[str], set[str]]:
    """The entry's own keys an error is about: (unknown keys, keys with a bad value)."""
    unknown, invalid = set(), set()
    for e in error.errors():
        loc = _loc(e)
        if e["type"] == "unknown_keys" and not loc:
            unknown |= {str(k) for k in e.get("ctx", {}).get("keys", ())}
        elif loc:
            invalid.add(loc[0])
    return unknown, invalid


def _invalid(errors: list[ValidationError]) -> set[str]:
    return {key for error in errors for key in _bad_keys(error)[1]}


def _defaulted(model: type[BaseModel], key: str) -> bool:
    """Whether dropping `key` leaves a value of the field's own (not None, not required)."""
    field = next((f for name, f in model.model_fields.items() if (f.alias or name) == key), None)
    return field is not None and not field.is_required() and field.get_default(call_default_factory=True) is not None


def _without_missing(error: ValidationError, dropped: set[str]) -> ValidationError:
    """`error` less the "missing" errors of the keys a pass dropped itself."""
    kept = [e for e in error.errors() if not (e["type"] == "missing" and _loc(e)[:1] and _loc(e)[0] in dropped)]
    return ValidationError.from_exception_data(error.title, [_init(e) for e in kept])


def _init(e: ErrorDetails) -> InitErrorDetails:
    """An error as `from_exception_data` takes it back: its own type when pydantic knows it, else custom."""
    ctx = e.get("ctx")
    try:
        ValidationError.from_exception_data("probe", [_details(e["type"], e, ctx)])
    except (KeyError, TypeError, ValueError):
        message = e["msg"].replace("{", "{{").replace("}", "}}")
        return _details(PydanticCustomError(e["type"], message, ctx), e, ctx)
    return _details(e["type"], e, ctx)


def _details(kind: str | PydanticCustomError, e: ErrorDetails, ctx: dict[str, Any] | None) -> InitErrorDetails:
    details = InitErrorDetails(type=kind, loc=e["loc"], input=e.get("input"))
    if ctx is not None:
        details["ctx"] = ctx
    return details
