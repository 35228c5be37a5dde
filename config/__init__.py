"""Typed environment config: the public interface of an environment file.

The names below load on first use: the runtimes' config models (runtimes/) build on config's base
modules, and the environment model builds on the runtimes, so importing a base module such as
config.base must not pull the whole environment in.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from config.environment import PROJECT, Environment, parse_environment
    from config.loader import load_environment
    from config.problems import InvalidEnvironment, Problem

_HOMES = {
    "PROJECT": "config.environment",
    "Environment": "config.environment",
    "parse_environment": "config.environment",
    "load_environment": "config.loader",
    "InvalidEnvironment": "config.problems",
    "Problem": "config.problems",
}
__all__ = ["PROJECT", "Environment", "InvalidEnvironment", "Problem", "load_environment", "parse_environment"]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'config' has no attribute {name!r}")
