"""Field-level diff of the GCP resources in two offline-preview plans (plan.json), with what each change does.

Resources are matched by URN. Each changed input is one line, `path: old → new` (secret values stay
"[secret]", as plan.json holds them), classified from tools/gcp_replacements.yaml (the provider's
`ForceNew` fields per type) and from the resource's own options in the new plan (`replaceOnChanges`,
`ignoreChanges`, `deleteBeforeReplace`): it replaces the resource, makes GKE recreate a pool's nodes,
is updated in place, or is ignored. Disruptive changes carry a plain-words warning.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

RULES_FILE = Path(__file__).with_name("gcp_replacements.yaml")
GCP_PREFIX = "gcp:"

Status = Literal["replaced", "updated", "added", "removed", "unchanged"]
STATUS_ORDER: tuple[Status, ...] = ("replaced", "updated", "added", "removed", "unchanged")
# What one changed input does, strongest first: the first that applies wins.
Effect = Literal["ignored", "replaces", "recreates-nodes", "in-place"]
EFFECT_NOTE: dict[Effect, str] = {
    "ignored": "ignored: ignoreChanges",
    "replaces": "replaces the resource",
    "recreates-nodes": "GKE recreates every node",
    "in-place": "",
}

# A field path of the rules file: camelCase names joined by dots.
FIELD_PATH = re.compile(r"[a-z][A-Za-z0-9]*(\.[a-z][A-Za-z0-9]*)*")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

PathKey = tuple[str | int, ...]


class _Missing:
    """The value of an input that one side does not have."""

    def __repr__(self) -> str:
        return "(absent)"


MISSING = _Missing()


# ---------------------------------------------------------------------------------------------
# The rules: which fields replace what, from the provider's schema


class RecreatesNodes(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(min_length=1, description="where the provider and GKE say so")
    fields: tuple[str, ...] = Field(min_length=1, description="fields updated in place by new nodes")
    warning: str = Field(min_length=1, description="what happens, in plain words")


class TypeRules(BaseModel):
    """What changing each input of one Pulumi resource type does."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    what: str = Field(min_length=1, description="the resource in plain words, for warnings")
    source: str = Field(min_length=1, description="the provider file whose ForceNew flags are listed")
    sdk: str | None = Field(default=None, description="the installed SDK's docstring, where it says the same")
    replace: tuple[str, ...] = Field(default=(), description="fields (and blocks) whose change replaces")
    groups: tuple[str, ...] = Field(
        default=(), description="shared field lists (top-level `groups`) added to `replace`"
    )
    replace_when_shrunk: tuple[str, ...] = Field(
        default=(), alias="replaceWhenShrunk", description="CIDR fields that replace only when the range shrinks"
    )
    warning: str | None = Field(default=None, description="what a replacement does, in plain words")
    recreates_nodes: RecreatesNodes | None = Field(default=None, alias="recreatesNodes")

    @field_validator("replace", "replace_when_shrunk")
    @classmethod
    def _field_paths(cls, paths: tuple[str, ...]) -> tuple[str, ...]:
        bad = [path for path in paths if not FIELD_PATH.fullmatch(path)]
        if bad:
            raise ValueError(f"not a camelCase field path: {', '.join(bad)}")
        return paths


class ReplacementRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    groups: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    types: dict[str, TypeRules]

    @model_validator(mode="after")
    def _groups_exist(self) -> ReplacementRules:
        for type_, rules in self.types.items():
            unknown = sorted(set(rules.groups) - set(self.groups))
            if unknown:
                raise ValueError(f"{type_}: unknown group {', '.join(unknown)}; groups: {', '.join(self.groups)}")
        return self

    def replace_fields(self, type_: str) -> tuple[str, ...]:
        rules = self.types[type_]
        return rules.replace + tuple(path for group in rules.groups for path in self.groups[group])


@cache
def load_rules(path: Path = RULES_FILE) -> ReplacementRules:
    return ReplacementRules.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


# ---------------------------------------------------------------------------------------------
# Plans


@dataclass(frozen=True)
class PlanResource:
    urn: str
    type: str
    name: str
    inputs: Mapping[str, Any]
    options: Mapping[str, Any]

    @property
    def label(self) -> str:
        """`container.NodePool l4-pool`: the SDK's module and class, and the Pulumi name."""
        return f"{short_type(self.type)} {self.name}"


Plan = dict[str, PlanResource]


def short_type(type_: str) -> str:
    # "gcp:container/nodePool:NodePool" -> "container.NodePool"
    _, module, cls = type_.split(":", 2)
    return f"{module.split('/')[0]}.{cls}"


def load_plan(path: Path) -> Plan:
    """The GCP resources of a plan.json, keyed by URN."""
    document = json.loads(path.read_text(encoding="utf-8"))
    return {
        r["urn"]: PlanResource(r["urn"], r["type"], r["name"], r.get("inputs") or {}, r.get("options") or {})
        for r in document.get("resources", [])
        if isinstance(r.get("type"), str) and r["type"].startswith(GCP_PREFIX)
    }


# ---------------------------------------------------------------------------------------------
# Diffing


@dataclass(frozen=True)
class FieldChange:
    path: str
    old: object
    new: object
    effect: Effect
    reason: str  # why it has that effect: "provider", "replaceOnChanges", "range shrinks", ...

    @property
    def line(self) -> str:
        mark = "+" if self.old is MISSING else "-" if self.new is MISSING else "~"
        if self.old is MISSING:
            text = f"{self.path}: {show(self.new)}"
        elif self.new is MISSING:
            text = f"{self.path}: {show(self.old)}"
        else:
            text = f"{self.path}: {show(self.old)} → {show(self.new)}"
        note = EFFECT_NOTE[self.effect]
        if self.effect == "replaces":
            note = f"{note} ({self.reason})"
        return f"  {mark} {text}" + (f"   [{note}]" if note else "")


@dataclass(frozen=True)
class ResourceChange:
    resource: PlanResource
    status: Status
    fields: tuple[FieldChange, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.resource.label


def show(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def flatten(value: object, prefix: PathKey = ()) -> dict[PathKey, object]:
    """Leaves by path. Lists of objects are walked by index; lists of scalars and empty
    containers are one value, so a reordered scope list reads as one change."""
    if isinstance(value, dict) and value:
        return {path: leaf for key, item in value.items() for path, leaf in flatten(item, (*prefix, key)).items()}
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return {
            path: leaf for index, item in enumerate(value) for path, leaf in flatten(item, (*prefix, index)).items()
        }
    return {prefix: value}


def render_path(path: PathKey) -> str:
    out = ""
    for segment in path:
        if isinstance(segment, int):
            out += f"[{segment}]"
        elif IDENTIFIER.fullmatch(segment):
            out += f".{segment}" if out else segment
        else:
            out += f"[{json.dumps(segment)}]"
    return out


def _names(path: PathKey) -> tuple[str, ...]:
    return tuple(segment for segment in path if isinstance(segment, str))


def _covers(rule: Sequence[str], names: Sequence[str]) -> bool:
    """Whether a rule path (which may hold "*") names this field or a block around it."""
    return len(rule) <= len(names) and all(r in ("*", n) for r, n in zip(rule, names, strict=False))


def option_paths(paths: Iterable[object]) -> list[tuple[str, ...]]:
    """Pulumi property paths (`a.b`, `a[*].b`, `a["k"]`, `*`) as name tuples; indices match any item."""
    out = []
    for path in paths:
        if not isinstance(path, str) or not path:
            continue
        text = re.sub(r"\[(\d+|\*)\]", "", path)
        text = re.sub(r'\["([^"]*)"\]', r".\1", text)
        out.append(tuple(part for part in text.split(".") if part))
    return out


def _shrinks(old: object, new: object) -> bool:
    """Whether a CIDR change leaves out part of the old range (the provider replaces then)."""
    try:
        before = ipaddress.ip_network(str(old), strict=False)
        after = ipaddress.ip_network(str(new), strict=False)
    except ValueError:
        return True  # not a CIDR on one side: nothing says it can be expanded in place
    if isinstance(before, ipaddress.IPv4Network) and isinstance(after, ipaddress.IPv4Network):
        return not before.subnet_of(after)
    if isinstance(before, ipaddress.IPv6Network) and isinstance(after, ipaddress.IPv6Network):
        return not before.subnet_of(after)
    return True


def classify(
    rules: ReplacementRules, resource: PlanResource, path: PathKey, old: object, new: object
) -> tuple[Effect, str]:
    names = _names(path)
    options = resource.options
    if any(_covers(rule, names) for rule in option_paths(options.get("ignoreChanges") or ())):
        return "ignored", "ignoreChanges"
    if any(_covers(rule, names) for rule in option_paths(options.get("replaceOnChanges") or ())):
        return "replaces", "replaceOnChanges"
    type_rules = rules.types.get(resource.type)
    if type_rules is None:
        return "in-place", ""
    if any(_covers(rule.split("."), names) for rule in rules.replace_fields(resource.type)):
        return "replaces", "provider"
    shrunk = any(_covers(rule.split("."), names) for rule in type_rules.replace_when_shrunk)
    if shrunk and (old is MISSING or new is MISSING or _shrinks(old, new)):
        return "replaces", "the range shrinks"
    recreate = type_rules.recreates_nodes
    if recreate and any(_covers(rule.split("."), names) for rule in recreate.fields):
        return "recreates-nodes", ""
    return "in-place", ""


def diff_resource(rules: ReplacementRules, before: PlanResource, after: PlanResource) -> ResourceChange | None:
    old, new = flatten(dict(before.inputs)), flatten(dict(after.inputs))
    fields = []
    for path in sorted(old.keys() | new.keys(), key=_sort_key):
        was, now = old.get(path, MISSING), new.get(path, MISSING)
        if was != now:
            effect, reason = classify(rules, after, path, was, now)
            fields.append(FieldChange(render_path(path), was, now, effect, reason))
    if not fields:
        return None
    effects = {change.effect for change in fields}
    status: Status = "replaced" if "replaces" in effects else "unchanged" if effects == {"ignored"} else "updated"
    return ResourceChange(after, status, tuple(fields), _warnings(rules, after, status, effects))


def _sort_key(path: PathKey) -> tuple[tuple[int, str | int], ...]:
    # Mixed str/int segments: strings and indices never compare with each other.
    return tuple((0, segment) if isinstance(segment, int) else (1, segment) for segment in path)


def _warnings(rules: ReplacementRules, resource: PlanResource, status: Status, effects: set[Effect]) -> tuple[str, ...]:
    type_rules = rules.types.get(resource.type)
    out: list[str] = []
    if status == "replaced":
        if type_rules and type_rules.warning:
            out.append(f"{_what(resource, type_rules)}: {type_rules.warning}")
        if resource.options.get("deleteBeforeReplace"):
            out.append(f"{resource.label}: deleteBeforeReplace: the old one is deleted before the new one exists.")
    elif "recreates-nodes" in effects and type_rules and type_rules.recreates_nodes:
        out.append(f"{_what(resource, type_rules)}: {type_rules.recreates_nodes.warning}")
    return tuple(out)


def _what(resource: PlanResource, type_rules: TypeRules) -> str:
    # "node pool l4": the name GCP knows, where the resource has one.
    name = resource.inputs.get("name") or resource.inputs.get("secretId") or resource.inputs.get("accountId")
    return f"{type_rules.what} {name}" if isinstance(name, str) else f"{type_rules.what} {resource.name}"


def diff_plans(base: Plan, head: Plan, rules: ReplacementRules | None = None) -> list[ResourceChange]:
    """Replaced, updated, added, removed and ignore-only resources, in that order, each by URN."""
    rules = rules or load_rules()
    changes: list[ResourceChange] = []
    for urn in sorted(base.keys() | head.keys()):
        if urn not in base:
            changes.append(ResourceChange(head[urn], "added"))
        elif urn not in head:
            changes.append(ResourceChange(base[urn], "removed"))
        elif change := diff_resource(rules, base[urn], head[urn]):
            changes.append(change)
    return sorted(changes, key=lambda change: (STATUS_ORDER.index(change.status), change.resource.urn))


def unknown_types(plan: Plan, rules: ReplacementRules | None = None) -> list[str]:
    rules = rules or load_rules()
    return sorted({resource.type for resource in plan.values()} - set(rules.types))


# ---------------------------------------------------------------------------------------------
# Reporting


def summary_line(changes: Sequence[ResourceChange]) -> str:
    counts = Counter(change.status for change in changes)
    return "GCP resources: " + ", ".join(f"{counts[status]} {status}" for status in STATUS_ORDER[:4])


def text_lines(changes: Sequence[ResourceChange]) -> list[str]:
    out: list[str] = []
    for change in changes:
        suffix = " (ignoreChanges)" if change.status == "unchanged" else ""
        out.append(f"{change.status}: {change.label}{suffix}")
        out += [field.line for field in change.fields]
        out += [f"  warning: {warning}" for warning in change.warnings]
    if not changes:
        out.append("No changes to GCP resources.")
    return out


def warnings_of(changes: Sequence[ResourceChange]) -> list[str]:
    return [warning for change in changes for warning in change.warnings]
