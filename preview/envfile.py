"""Read an environment file (`environments/Pulumi.<env>.yaml`) the way the Pulumi CLI would."""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from config.problems import InvalidEnvironment, Problem
from config.pydantic_errors import shown_key

SECRET_PLACEHOLDER = "preview-placeholder-secret"  # noqa: S105 (a name, not a secret)
_ROOT = Path(__file__).resolve().parent.parent
_MERGE = "tag:yaml.org,2002:merge"


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate keys, as the Pulumi CLI does (a second `embed:` would
    otherwise silently replace the first), and reads dates as the strings Pulumi passes on."""


# Pulumi's YAML decoder hands `revision: 2024-06-01` to the program as a string, not a date.
_UniqueKeyLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    # Duplicates were reported, with their config path, before construction (_duplicate_keys).
    loader.flatten_mapping(node)  # `<<: *defaults` merge keys; own keys override merged ones
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node)  # type: ignore[no-untyped-call]
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                "found a list or map used as a key",
                key_node.start_mark,
            )
        mapping[key] = loader.construct_object(value_node, deep=True)  # type: ignore[no-untyped-call]
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass(frozen=True)
class StackConfig:
    values: dict[str, str]  # config key -> value as the language host passes it (JSON for objects)
    secret_keys: list[str]


def read_environment_file(path: Path) -> StackConfig:
    """Config values with each `secure:` value replaced by a placeholder; problems raise InvalidEnvironment."""
    document = _load(path)
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise InvalidEnvironment(
            [
                Problem(
                    _shown(path),
                    "the file has no `config:` map",
                    "start the file with `config:` and indent the keys under it",
                )
            ]
        )
    values: dict[str, str] = {}
    secret_keys: list[str] = []
    problems: list[Problem] = []
    for key, value in document["config"].items():
        if not isinstance(key, str):
            problems.append(
                Problem("config", f"{key!r} is not a config key", "write keys as <namespace>:<name>, e.g. gcp:region")
            )
        elif isinstance(value, dict) and set(value) == {"secure"}:
            if not isinstance(value["secure"], str) or not value["secure"]:
                problems.append(
                    Problem(key, "the secure value is empty", f"run `pulumi config set --secret {_name(key)} ...`")
                )
            values[key], secret_keys = SECRET_PLACEHOLDER, [*secret_keys, key]
        elif value is None:
            values[key] = ""  # `key:` with nothing after it: an empty value (a required key is then missing)
        elif key.endswith(":hfToken"):
            problems.append(
                Problem(
                    key,
                    "the token is written in plaintext",
                    "remove it and run `pulumi config set --secret hfToken hf_...`",
                )
            )
        else:
            try:
                values[key] = value if isinstance(value, str) else json.dumps(value, allow_nan=False)
            except (TypeError, ValueError):
                problems.append(
                    Problem(key, "the value holds something other than text, numbers, lists and maps", "quote it")
                )
    if problems:
        raise InvalidEnvironment(problems)
    return StackConfig(values, secret_keys)


def _name(key: str) -> str:
    return key.rpartition(":")[2]


def _shown(path: Path) -> str:
    """The file as the preview's header names it: relative to the repository when inside it."""
    absolute = path.resolve()
    return str(absolute.relative_to(_ROOT) if absolute.is_relative_to(_ROOT) else path)


def _load(path: Path) -> Any:
    where = _shown(path)
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise InvalidEnvironment(
            [Problem(where, "no such environment file", "create it, or pick one of environments/Pulumi.*.yaml")]
        ) from None
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise InvalidEnvironment([Problem(where, f"not UTF-8 text (line {line})", "save the file as UTF-8")]) from None
    except OSError as e:
        raise InvalidEnvironment(
            [Problem(where, f"cannot be read: {e.strerror}", "pass an environment file")]
        ) from None
    try:
        loader = _UniqueKeyLoader(text)
    except yaml.reader.ReaderError as e:  # checked on the whole text before parsing starts
        line = text.count("\n", 0, e.position) + 1
        raise InvalidEnvironment(
            [Problem(where, f"character #x{e.character:02x} at line {line} is not allowed in YAML", "remove it")]
        ) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        duplicates = list(_duplicate_keys(loader, node, "", set()))
        if duplicates:
            raise InvalidEnvironment(duplicates)
        return loader.construct_document(node)  # type: ignore[no-untyped-call]
    except yaml.YAMLError as e:
        raise InvalidEnvironment([Problem(where, *_yaml_error(e))]) from None
    except RecursionError:  # the composer and constructor recurse once per nesting level
        raise InvalidEnvironment([Problem(where, "nested too deeply", "an environment needs a few levels")]) from None
    finally:
        loader.dispose()  # type: ignore[no-untyped-call]


def _yaml_error(e: yaml.YAMLError) -> tuple[str, str]:
    problem_mark = getattr(e, "problem_mark", None)
    context_mark = getattr(e, "context_mark", None)
    mark = problem_mark or context_mark
    at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    reason = getattr(e, "problem", None) or next(iter(str(e).splitlines()), "not valid YAML")
    context = getattr(e, "context", None)
    if context and context_mark and problem_mark and context_mark.line != problem_mark.line:
        reason = f"{reason} ({context} at line {context_mark.line + 1}, column {context_mark.column + 1})"
    if "'\\t'" in reason or "tab character" in reason:
        return f"YAML error{at}: a tab character", "indent with spaces only"
    return f"YAML error{at}: {reason}", "fix the indentation or quoting there"


def _duplicate_keys(loader: yaml.SafeLoader, node: yaml.Node, path: str, seen: set[int]) -> Iterator[Problem]:
    """Keys given twice in one map, each reported with its config path and both lines."""
    if id(node) in seen:  # an alias to a node already walked (or a recursive one)
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _duplicate_keys(loader, item, f"{path}.{i}" if path else str(i), seen)
    elif isinstance(node, yaml.MappingNode):
        lines: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = loader.construct_object(key_node)  # type: ignore[no-untyped-call]
            child = shown_key(key) if path in ("", "config") else f"{path}.{shown_key(key)}"
            if key in lines:
                yield Problem(
                    child,
                    f"given twice, at lines {lines[key]} and {key_node.start_mark.line + 1}",
                    "keep one: the second would silently replace the first",
                )
            else:
                lines[key] = key_node.start_mark.line + 1
            yield from _duplicate_keys(loader, value_node, child, seen)
