"""Turn pydantic's validation errors into Problems with a config path and a fix."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from settings.base import closest
from settings.problems import Problem, shown_key

# pydantic error-type prefix -> (what the value should have been, how to write it)
_TYPE_FIXES = {
    "int": ("a whole number", "write digits only, e.g. 4"),
    "float": ("a number", "write a number, e.g. 0.9"),
    "finite": ("a finite number", "write a number, e.g. 3"),  # "inf" and "nan" read as floats
    "bool": ("true or false", "write true or false"),
    "string": ("a string", "write a string"),
    "dict": ("a map", "write a map of keys to values"),
    "list": ("a list", "write a list, e.g. [a, b]"),
    "model": ("a map", "write a map of keys to values"),
}


# Every string pattern a config field is checked against, with what it allows in words: (what the value
# should be, how to write it). A pattern error names these, never the regex; tests/test_pattern_words.py
# fails when a config field's pattern is missing here.
PATTERN_WORDS: dict[str, tuple[str, str]] = {
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]{1,5})?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?"
    r"(?:@sha256:[0-9a-f]{64})?$": (
        "an image reference",
        "[registry[:port]/]repository[:tag][@sha256:<64 hex>], the repository in lowercase letters, digits, "
        "., _ and -, e.g. registry.example.com:5000/team/server:1.2.3",
    ),
    r"^/(?:[-A-Za-z0-9/._~!$&'()*+,;=:]|%[0-9a-fA-F]{2}){0,255}$": (
        "an HTTP path",
        "a path starting with /, of letters, digits and - . _ ~ ! $ & ' ( ) * + , ; = : / or %-escapes, "
        "at most 255 characters, e.g. /v1/chat/completions",
    ),
    r"^/(?:[-A-Za-z0-9/._~!$&'()*+,;=:]|%[0-9a-fA-F]{2}){0,255}"
    r"(?:\?(?:[-A-Za-z0-9/._~!$&'()*+,;=:@?]|%[0-9a-fA-F]{2}){0,255})?$": (
        "an HTTP path",
        "a path starting with /, of letters, digits and - . _ ~ ! $ & ' ( ) * + , ; = : / or %-escapes, "
        "optionally followed by ?query, e.g. /health or /health?ready=1",
    ),
    r"^[A-Za-z0-9_](?:\.?[\w-])*$": (
        "a model name in a Triton repository",
        "its folder name: letters, digits, _, - and single dots, starting with a letter, digit or _, e.g. resnet50",
    ),
    r"^[0-9a-f]{40}$": ("a commit", "the full 40-hex commit sha, e.g. 5617a9f61b028005a4858fdac845db406aefb181"),
    r"^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$": (
        "a model name",
        "lowercase letters, digits, - and ., starting and ending with a letter or digit, at most 63 characters, "
        "e.g. sql-lora",
    ),
    r"^[A-Za-z_:][A-Za-z0-9_:]{0,199}$": (
        "a Prometheus metric name",
        "letters, digits, _ and :, not starting with a digit, e.g. llamacpp:requests_deferred",
    ),
    r"^[A-Za-z_][A-Za-z0-9_]{0,127}$": (
        "an environment variable name",
        "letters, digits and _, not starting with a digit, at most 128 characters, e.g. SERVER_API_KEY",
    ),
    r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$": (
        "a GCP project id",
        "6-30 lowercase letters, digits and hyphens, starting with a letter, e.g. acme-ml-shared",
    ),
    r"^[\w.-]+\.apps\.googleusercontent\.com$": (
        "an OAuth client id",
        "the client id from the Google Cloud console, e.g. 1234-abc.apps.googleusercontent.com",
    ),
    r"^[\w./-]+$": ("a served model name", "letters, digits, _, ., / and -, e.g. acme/chat-v2"),
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$": (
        "a fully qualified domain name",
        "lowercase dot-separated labels of letters, digits and -, e.g. models.example.com",
    ),
    r"^[a-z0-9][-a-z0-9_]{1,61}[a-z0-9]$": (
        "a bucket name",
        "3-63 lowercase letters, digits, - and _, starting and ending with a letter or digit, e.g. acme-models",
    ),
    r"^[a-z]([-a-z0-9]*[a-z0-9])?$": (
        "a name GKE accepts",
        "lowercase letters, digits and -, starting with a letter and not ending with -, e.g. serving-prod",
    ),
    r"\S": ("a command element", "a program or an argument, not blank, e.g. /app/server"),
    r"^\d{1,7}(\.\d{1,3})?m?$": ("a CPU amount", "cores as a number or millicores, e.g. 6, 1.5 or 5500m"),
    r"^\d{1,9}(Mi|Gi)$": ("a memory amount", "a whole number of Mi or Gi, e.g. 24Gi or 512Mi"),
    r"^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?$": (
        "a Cloud Storage path",
        "gs://<bucket>/<folder>, the bucket in lowercase letters, digits, -, _ and ., e.g. gs://acme-models/triton",
    ),
}


def problems_from(error: ValidationError, root: str, skip: Sequence[str] = (), *, tags_from: int = 1) -> list[Problem]:
    """One Problem per pydantic error; `skip` drops union tags (e.g. runtime names) from paths, at
    positions from `tags_from` on (a map's own keys come first and are never dropped), and is what a
    missing tag's fix offers (the runtimes of runtimes.REGISTRY, for a service)."""
    return [p for e in error.errors() for p in _problems(e, root, skip, tags_from)]


def _path(root: str, loc: tuple[int | str, ...], skip: Sequence[str], tags_from: int) -> str:
    parts = [shown_key(x) for i, x in enumerate(loc) if not (i >= tags_from and x in skip)]
    return ".".join([root, *parts]) if parts else root


def _problems(e: ErrorDetails, root: str, skip: Sequence[str], tags_from: int) -> Iterator[Problem]:
    path = _path(root, e["loc"], skip, tags_from)
    kind, ctx, value = e["type"], e.get("ctx", {}), e.get("input")
    if kind == "unknown_keys":
        for key in ctx["keys"]:
            if key in ctx.get("reasons", {}):
                yield Problem(f"{path}.{shown_key(key)}", *ctx["reasons"][key])
                continue
            hint = closest(key, ctx["allowed"])
            fix = f"did you mean '{hint}'?" if hint else f"allowed keys: {', '.join(ctx['allowed'])}"
            yield Problem(f"{path}.{shown_key(key)}", "unknown key", fix)
        return
    yield Problem(path, *_what_and_fix(kind, ctx, value, e["msg"], skip))


def _show(value: Any, limit: int = 60) -> str:
    """repr of a value, cut short: a whole services list pasted into one message helps nobody. A secure
    value (`{secure: v1:...}`) is named, never shown: its ciphertext is the secret's."""
    if _holds_secure(value):
        return "a secure value"
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _holds_secure(value: Any) -> bool:
    if isinstance(value, dict):
        return "secure" in value or any(_holds_secure(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_secure(v) for v in value)
    return False


def _what_and_fix(kind: str, ctx: dict[str, Any], value: Any, msg: str, tags: Sequence[str]) -> tuple[str, str]:
    if kind == "missing":
        return "required key is missing", "add it (see the environment-file reference in README.md)"
    if kind == "literal_error":
        return f"{_show(value)} is not allowed", f"use one of {ctx['expected']}"
    if kind == "union_tag_invalid":
        return f"unknown {ctx['discriminator'].strip(chr(39))} {_show(value.get('runtime'))}", (
            f"use one of {ctx['expected_tags']}"
        )
    if kind == "union_tag_not_found":
        field = ctx["discriminator"].strip(chr(39))
        *others, last = tags or ("<one of the union's tags>",)
        return (
            f"{field} is missing",
            f"add {field}: {', '.join(others)} or {last}" if others else f"add {field}: {last}",
        )
    if kind == "value_error":
        what, _, fix = str(ctx.get("error", msg)).partition(" — ")
        return what, fix or "change the value"
    if kind == "string_pattern_mismatch":
        expected, how = PATTERN_WORDS.get(ctx["pattern"], ("in the expected form", "see README.md for the key's form"))
        return f"{_show(value)} is not {expected}", f"write {how}"
    if kind == "string_too_long":
        return f"{_show(value)} is too long", f"use at most {ctx['max_length']} characters"
    for type_name, (expected, fix) in _TYPE_FIXES.items():
        if kind.startswith(f"{type_name}_"):
            return f"{_show(value)} is not {expected}", fix
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal", "multiple_of"):
        return f"{_show(value)}: {msg[0].lower()}{msg[1:]}", "change the value"
    if kind == "too_short" and ctx.get("actual_length") == 0:
        return "the list is empty", "list at least one entry, or remove the key for the default"
    if kind in ("too_short", "too_long"):
        return msg, "change the number of entries"
    return msg, "see the environment-file reference in README.md"
