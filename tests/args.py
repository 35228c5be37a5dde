"""A rendered command line as a map, so a test reads a flag's value rather than searching the list."""

from __future__ import annotations

from collections.abc import Sequence


def flags(args: Sequence[str]) -> dict[str, str]:
    """`--name=value` and `--name value` as {"--name": "value"}; a bare switch maps to "". A flag given
    twice is an error: the servers' parsers keep the last, so the other would be silently ignored."""
    found: dict[str, str] = {}
    items = list(args)
    for i, arg in enumerate(items):
        if not arg.startswith("--"):
            continue
        name, sep, value = arg.partition("=")
        if not sep and i + 1 < len(items) and not items[i + 1].startswith("--"):
            value = items[i + 1]
        assert name not in found, f"{name} given twice in {items}"
        found[name] = value
    return found
