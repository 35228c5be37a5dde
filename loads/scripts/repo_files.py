"""Which files of a model repository a server reads: standard library only, shipped to the mirror Job too.

A pattern without "/" matches top-level names only (so `*.safetensors` never picks `original/x.safetensors`);
a pattern with "/" matches the whole path. `weights` are the checkpoint's tensors; `fallback` are taken only
when the repository has no file of `weights` (TGI and TEI read `pytorch_model.bin` then); `support` are the
small files the server reads beside them (config, tokenizer, the shards' index).
"""

from __future__ import annotations

from fnmatch import fnmatchcase


def matches(path: str, pattern: str) -> bool:
    if "/" not in pattern and "/" in path:
        return False
    return fnmatchcase(path, pattern)


def _any(path: str, patterns: list[str] | tuple[str, ...]) -> bool:
    return any(matches(path, p) for p in patterns)


def select(listing: dict[str, int], patterns: dict[str, list[str]]) -> dict[str, int]:
    """The files of `listing` (path -> bytes) the server reads, by `patterns` {weights, fallback, support}."""
    weights = [p for p in listing if _any(p, patterns.get("weights", []))]
    if not weights:
        weights = [p for p in listing if _any(p, patterns.get("fallback", []))]
    support = [p for p in listing if _any(p, patterns.get("support", []))]
    return {p: listing[p] for p in sorted({*weights, *support})}


def union(selections: list[dict[str, int]]) -> dict[str, int]:
    """What several servers of one model@commit read together (one mirror copy serves them all)."""
    merged: dict[str, int] = {}
    for selection in selections:
        merged.update(selection)
    return dict(sorted(merged.items()))
