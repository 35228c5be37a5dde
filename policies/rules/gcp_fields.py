"""Names, ids and labels every GCP resource of the plan sends, against what the GCP APIs accept.

Secret Manager refused the first wave's API-key secrets for their Kubernetes-style label keys
(`app.kubernetes.io-name`); the mock engine accepted them. The rules live in catalog/gcp_rules.yaml.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

import catalog
from policies.rules.base import DEFAULT_ENFORCEMENT
from policies.rules.pods import mapping

# A name Pulumi generates when the program gives none: the logical name, "-" and 7 random characters.
AUTONAME_SUFFIX = "-abcdefg"


@dataclass(frozen=True)
class NameRule:
    field: str
    pattern: re.Pattern[str]
    source: str


@dataclass(frozen=True)
class TypeRules:
    name: NameRule | None
    label_fields: tuple[str, ...]


@cache
def _data() -> dict[str, Any]:
    data = catalog.read("gcp_rules.yaml")
    if not isinstance(data, dict):
        raise TypeError("catalog/gcp_rules.yaml is not a map")
    return data


@cache
def rules() -> dict[str, TypeRules]:
    found = {}
    for type_, entry in _data()["resources"].items():
        name = entry.get("name")
        found[type_] = TypeRules(
            NameRule(name["field"], re.compile(name["pattern"]), name["source"]) if name else None,
            tuple(entry.get("labels", ())),
        )
    return found


def _at(props: Mapping[str, Any], path: str) -> Any:
    value: Any = props
    for key in path.split("."):
        value = mapping(value).get(key)
    return value


def label_problems(labels: Mapping[str, Any]) -> list[str]:
    spec = _data()["labels"]
    key_rule, value_rule = re.compile(spec["key"]), re.compile(spec["value"])
    problems = []
    if len(labels) > spec["maxPerResource"]:
        problems.append(f"{len(labels)} labels, above the {spec['maxPerResource']} GCP allows")
    for key, value in labels.items():
        if not key_rule.fullmatch(str(key)):
            problems.append(
                f"label key {key!r} is not 1-63 lowercase letters, digits, `_` or `-` starting with a letter"
            )
        if not isinstance(value, str) or not value_rule.fullmatch(value):
            problems.append(f"label {key}={value!r}: values are 0-63 lowercase letters, digits, `_` or `-`")
    return problems


def _gcp_fields(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not args.resource_type.startswith("gcp:"):
        return
    type_rules = rules().get(args.resource_type)
    if type_rules is None:
        report(
            f"{args.resource_type} has no name and label rules in catalog/gcp_rules.yaml, so what the API would "
            "refuse is not checked — add its rules (with their source) before using it",
            None,
        )
        return
    if type_rules.name is not None:
        rule = type_rules.name
        value = args.props.get(rule.field)
        shown = value if isinstance(value, str) else f"{args.name}{AUTONAME_SUFFIX}"
        if not rule.pattern.fullmatch(shown):
            how = "" if isinstance(value, str) else " (Pulumi's generated name)"
            report(
                f"{rule.field} {shown!r}{how} is refused by the API: it must match {rule.pattern.pattern} "
                f"({rule.source}) — shorten or rename it",
                None,
            )
    for path in type_rules.label_fields:
        labels = _at(args.props, path)
        if isinstance(labels, Mapping):
            for problem in label_problems(labels):
                report(f"{path}: {problem} ({_data()['labels']['source']} requirements)", None)


gcp_field_rules = ResourceValidationPolicy(
    name="gcp-field-rules",
    description="Every GCP resource's name or id and its labels are what the GCP API accepts (length, "
    "characters, first and last character; label keys and values), from catalog/gcp_rules.yaml.",
    validate=_gcp_fields,
    enforcement_level=DEFAULT_ENFORCEMENT,
)
