"""Typed environment config: the public interface of an environment file."""

from __future__ import annotations

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env

from config.environment import PROJECT, Environment, decode, parse_environment
from config.problems import InvalidEnvironment, Problem

__all__ = ["PROJECT", "Environment", "InvalidEnvironment", "Problem", "load_environment", "parse_environment"]


def load_environment() -> Environment:
    """The stack's config, parsed and checked. Raises InvalidEnvironment listing every problem."""
    # Every key is read (not only the known ones) so a misspelt section is reported, not ignored.
    raw = {**get_config_env(), **CONFIG.get()}
    env = parse_environment({key: decode(value) for key, value in raw.items()}, stack=pulumi.get_stack())
    for warning in env.warnings:
        pulumi.log.warn(warning)
    return env
