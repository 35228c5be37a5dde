"""Read an environment file (`environments/Pulumi.<env>.yaml`) the way the Pulumi CLI would."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from config.problems import InvalidEnvironment, Problem

SECRET_PLACEHOLDER = "preview-placeholder-secret"  # noqa: S105 (a name, not a secret)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate keys, as the Pulumi CLI does (a second `embed:` would
    otherwise silently replace the first)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node)  # type: ignore[no-untyped-call]
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen[key] = loader.construct_object(value_node, deep=True)  # type: ignore[no-untyped-call]
    return seen


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass(frozen=True)
class StackConfig:
    values: dict[str, str]  # config key -> value as the language host passes it (JSON for objects)
    secret_keys: list[str]


def read_environment_file(path: Path) -> StackConfig:
    """Config values with each `secure:` value replaced by a placeholder; problems raise InvalidEnvironment."""
    where = str(path)
    try:
        document = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except FileNotFoundError:
        raise InvalidEnvironment(
            [Problem(where, "no such environment file", "create it, or pick one of environments/Pulumi.*.yaml")]
        ) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(e, "problem", None) or str(e)
        raise InvalidEnvironment(
            [Problem(where, f"YAML error{line}: {reason}", "fix the indentation or quoting there")]
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise InvalidEnvironment(
            [
                Problem(
                    where, "the file has no `config:` map", "start the file with `config:` and indent the keys under it"
                )
            ]
        )
    values: dict[str, str] = {}
    secret_keys: list[str] = []
    problems: list[Problem] = []
    for key, value in document["config"].items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[key], secret_keys = SECRET_PLACEHOLDER, [*secret_keys, key]
        elif key.endswith(":hfToken"):
            problems.append(
                Problem(
                    key,
                    "the token is written in plaintext",
                    "remove it and run `pulumi config set --secret hfToken hf_...`",
                )
            )
        else:
            values[key] = value if isinstance(value, str) else json.dumps(value)
    if problems:
        raise InvalidEnvironment(problems)
    return StackConfig(values, secret_keys)
