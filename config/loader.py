"""The stack's config as `pulumi up` hands it to the program, parsed and checked."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env

from config.environment import Environment, EnvironmentCheck, decode, parse_environment


def load_environment(checks: Sequence[EnvironmentCheck] = ()) -> Environment:
    """The stack's config, parsed and checked, `checks` included (parse_environment). Raises
    InvalidEnvironment listing every problem."""
    # Every key is read (not only the known ones) so a misspelt section is reported, not ignored.
    raw = {**get_config_env(), **CONFIG.get()}
    env = parse_environment({key: decode(value) for key, value in raw.items()}, stack=pulumi.get_stack(), checks=checks)
    for warning in env.warnings:
        pulumi.log.warn(warning)
    return env
