"""The stack's config as `pulumi up` hands it to the program, parsed and checked."""

from __future__ import annotations

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env

from config.environment import Environment, decode, parse_environment


def load_environment() -> Environment:
    """The stack's config, parsed and checked. Raises InvalidEnvironment listing every problem."""
    # Every key is read (not only the known ones) so a misspelt section is reported, not ignored.
    raw = {**get_config_env(), **CONFIG.get()}
    env = parse_environment({key: decode(value) for key, value in raw.items()}, stack=pulumi.get_stack())
    for warning in env.warnings:
        pulumi.log.warn(warning)
    return env
