"""Read an environment file (`environments/Pulumi.<env>.yaml`) the way the Pulumi CLI would."""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml

from config.environment import PROJECT
from settings.problems import InvalidEnvironment, Problem, shown_key
from settings.secrets import SECRETS

SECRET_PLACEHOLDER = "preview-placeholder-secret"  # noqa: S105 (a name, not a secret)
_ROOT = Path(__file__).resolve().parent.parent
_MERGE = "tag:yaml.org,2002:merge"

# Limits of an environment file, checked before a single value is built, so a hostile file (an
# alias bomb, a file of gigabytes, thousands of nested brackets) is refused in milliseconds instead
# of exhausting memory. The real environments are 1-3 KB, 6 levels deep, with 200 values; the
# 200-service benchmark environment has about 2,000.
MAX_FILE_BYTES = 1_048_576  # 1 MiB
MAX_DEPTH = 20  # nested maps and lists: the deepest key (authorizedNetworks[i].cidr) is 6 levels down
# One string: a `secure:` ciphertext of a large secret is a few KB; a setting is a name or a flag.
MAX_STRING_CHARS = 16_384
# With every alias expanded, as json.dumps, pydantic and the program would see them.
MAX_VALUES = 100_000
MAX_EXPANDED_CHARS = 4 * MAX_FILE_BYTES


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate keys, as the Pulumi CLI does (a second `embed:` would
    otherwise silently replace the first), and reads dates as the strings Pulumi passes on."""

    def scan_to_next_token(self) -> None:
        """PyYAML's scanner, which takes a tab only as the start of a token, with YAML 1.2's rule (and
        the Go decoder's, which the Pulumi CLI uses): a tab separates tokens inside a flow collection
        (`[a,\tb]`) and after the first token of a line; only a tab in a line's indentation is refused."""
        if self.index == 0 and self.peek() == "\ufeff":  # type: ignore[no-untyped-call]
            self.forward()  # type: ignore[no-untyped-call]
        indentation = self.column == 0
        while True:
            while self.peek() == " " or (self.peek() == "\t" and (self.flow_level or not indentation)):  # type: ignore[no-untyped-call]
                self.forward()  # type: ignore[no-untyped-call]
            if self.peek() == "#":  # type: ignore[no-untyped-call]
                while self.peek() not in "\0\r\n\x85\u2028\u2029":  # type: ignore[no-untyped-call]
                    self.forward()  # type: ignore[no-untyped-call]
            if not self.scan_line_break():  # type: ignore[no-untyped-call]
                return
            indentation = True
            if not self.flow_level:
                self.allow_simple_key = True


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
        elif key.startswith(f"{PROJECT}:") and _name(key) in SECRETS:
            problems.append(
                Problem(
                    key,
                    "the secret is written in plaintext",
                    f"remove it and run `pulumi config set --secret {_name(key)} {SECRETS[_name(key)]}`",
                )
            )
        elif unrepresentable := list(_not_json(value, key)):
            problems.extend(unrepresentable)
        else:
            values[key] = value if isinstance(value, str) else json.dumps(value, allow_nan=False)
    if problems:
        raise InvalidEnvironment(problems)
    return StackConfig(values, secret_keys)


def _not_json(value: Any, path: str) -> Iterator[Problem]:
    """A Problem per field whose value Pulumi cannot pass on as JSON: `.nan` and `.inf`, a `!!set`, a
    `!!binary`, each at its own path, so one such field is one problem, not a refused section."""
    if isinstance(value, float) and not math.isfinite(value):
        written = ".nan" if math.isnan(value) else ".inf" if value > 0 else "-.inf"
        yield Problem(path, f"{written} is not a finite number", "write a number, e.g. 10")
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from _not_json(child, f"{path}.{shown_key(key)}")
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _not_json(child, f"{path}.{i}")
    elif isinstance(value, set | frozenset):
        yield Problem(path, "a set (!!set) is not a config value", "write a list, e.g. [a, b]")
    elif isinstance(value, bytes):
        yield Problem(path, "binary data (!!binary) is not a config value", "write the text itself, quoted")
    elif not isinstance(value, str | int | float | bool) and value is not None:
        yield Problem(path, f"a {type(value).__name__} is not a config value", "write text, a number, a list or a map")


def _name(key: str) -> str:
    return key.rpartition(":")[2]


def _shown(path: Path) -> str:
    """The file as the preview's header names it: relative to the repository when inside it."""
    absolute = path.resolve()
    return str(absolute.relative_to(_ROOT) if absolute.is_relative_to(_ROOT) else path)


def _load(path: Path) -> Any:
    where = _shown(path)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)  # never more: the path may be a device or a pipe
        if len(data) > MAX_FILE_BYTES:
            raise InvalidEnvironment(
                [
                    Problem(
                        where,
                        f"larger than {MAX_FILE_BYTES // 1024} KiB",
                        "pass an environment file: a few KB of config, as environments/Pulumi.*.yaml",
                    )
                ]
            )
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
        _check_limits(text, where)
        node = loader.get_single_node()
        if node is None:
            return None
        duplicates = list(_duplicate_keys(loader, node, "", set()))
        if duplicates:
            raise InvalidEnvironment(duplicates)
        return loader.construct_document(node)  # type: ignore[no-untyped-call]
    except yaml.YAMLError as e:
        raise InvalidEnvironment([Problem(where, *_yaml_error(e))]) from None
    finally:
        loader.dispose()  # type: ignore[no-untyped-call]


@dataclass
class _Open:
    """A map or list whose end event has not come yet."""

    anchor: str | None
    values_before: int
    chars_before: int
    level: int  # maps and lists open around its values, itself included
    deepest: int  # the deepest level inside it so far, aliases expanded


@dataclass
class _Budget:
    """What a document adds up to with every alias expanded, counted event by event: an alias adds
    the size of what it repeats, measured once when its anchor closed."""

    where: str
    values: int = 0
    chars: int = 0
    open: list[_Open] = field(default_factory=list)
    anchors: dict[str, tuple[int, int, int] | None] = field(default_factory=dict)  # (values, chars, levels); None: open

    def start(self, event: yaml.CollectionStartEvent, line: int) -> None:
        if len(self.open) >= MAX_DEPTH:
            _refuse(self.where, f"nested deeper than {MAX_DEPTH} levels at line {line}", "remove the extra nesting")
        if event.anchor is not None:
            self.anchors[event.anchor] = None
        level = len(self.open) + 1
        self.open.append(_Open(event.anchor, self.values, self.chars, level, level))
        self.add(1, 0, line)

    def end(self) -> None:
        done = self.open.pop()
        if done.anchor is not None:
            levels = done.deepest - done.level + 1
            self.anchors[done.anchor] = (self.values - done.values_before, self.chars - done.chars_before, levels)
        if self.open:
            self.open[-1].deepest = max(self.open[-1].deepest, done.deepest)

    def scalar(self, event: yaml.ScalarEvent, line: int) -> None:
        if len(event.value) > MAX_STRING_CHARS:
            _refuse(
                self.where,
                f"a string of more than {MAX_STRING_CHARS} characters at line {line}",
                "shorten it: a setting is a name, a number or a flag",
            )
        if event.anchor is not None:
            self.anchors[event.anchor] = (1, len(event.value), 0)
        self.add(1, len(event.value), line)

    def alias(self, event: yaml.AliasEvent, line: int) -> None:
        name = event.anchor
        if name in self.anchors and self.anchors[name] is None:
            _refuse(
                self.where,
                f"the alias *{name} at line {line} is inside the node it repeats",
                "an alias repeats a finished map or list: remove the loop",
            )
        values, chars, levels = self.anchors.get(name) or (1, 0, 0)  # an undefined one: the composer says so
        if self.open:
            self.open[-1].deepest = max(self.open[-1].deepest, len(self.open) + levels)
            if self.open[-1].deepest > MAX_DEPTH:
                _refuse(
                    self.where,
                    f"nested deeper than {MAX_DEPTH} levels through the alias *{name} at line {line}",
                    "remove the extra nesting",
                )
        self.add(values, chars, line)

    def add(self, values: int, chars: int, line: int) -> None:
        self.values, self.chars = self.values + values, self.chars + chars
        if self.values > MAX_VALUES or self.chars > MAX_EXPANDED_CHARS:
            amount = f"{MAX_VALUES} values" if self.values > MAX_VALUES else f"{MAX_EXPANDED_CHARS} characters"
            _refuse(
                self.where,
                f"more than {amount} with its aliases expanded (at line {line})",
                "an environment holds a few hundred: remove the aliases that repeat aliases",
            )


def _check_limits(text: str, where: str) -> None:
    """Refuse a document beyond the limits above from the parser's events alone, before any node or
    value is built: a billion laughs is refused after reading its few lines."""
    budget = _Budget(where)
    for event in yaml.parse(text, Loader=_UniqueKeyLoader):
        line = event.start_mark.line + 1
        if isinstance(event, yaml.CollectionStartEvent):
            budget.start(event, line)
        elif isinstance(event, yaml.CollectionEndEvent):
            budget.end()
        elif isinstance(event, yaml.ScalarEvent):
            budget.scalar(event, line)
        elif isinstance(event, yaml.AliasEvent):
            budget.alias(event, line)
        elif isinstance(event, yaml.DocumentStartEvent):
            budget.anchors.clear()  # anchors belong to their document


def _refuse(where: str, what: str, fix: str) -> NoReturn:
    raise InvalidEnvironment([Problem(where, what, fix)])


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
