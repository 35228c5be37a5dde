"""Run the pack's policies over the offline preview's resources, as `pulumi preview --policy-pack` would.

The same policy objects PolicyPack gets (policies.rules.POLICIES), the same argument types, and the
environment's policies/config/<env>.json resolved the way the CLI resolves --policy-pack-config: a
policy's own entry, else "all", else the policy's default level.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

# not_applicable() raises this private exception; the engine catches it by name the same way.
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from policies.rules import POLICIES

CONFIG_DIR = Path(__file__).parent / "config"

_UNITS = {"h": 3600, "m": 60, "s": 1}


def duration_seconds(text: str) -> float:
    """A Pulumi duration ("25m", "1h30m", "90s") in seconds; "" (not set) is 0, as the engine sends it."""
    total, number = 0.0, ""
    for char in text:
        if char.isdigit() or char == ".":
            number += char
        elif char in _UNITS and number:
            total, number = total + float(number) * _UNITS[char], ""
        else:
            raise ValueError(f"{text!r} is not a Pulumi duration")
    if number:
        raise ValueError(f"{text!r} has a number without a unit")
    return total


def policy_options(options: Mapping[str, Any] | None) -> PolicyResourceOptions:
    """The options a resource was registered with (plan.json `options`), as the engine hands them over."""
    o = options or {}
    timeouts = o.get("customTimeouts") or {}
    return PolicyResourceOptions(
        protect=bool(o.get("protect")),
        ignore_changes=list(o.get("ignoreChanges") or []),
        delete_before_replace=o.get("deleteBeforeReplace"),
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(
            *(duration_seconds(str(timeouts.get(k, ""))) for k in ("create", "update", "delete"))
        ),
        additional_secret_outputs=[],
    )


def load_config(env: str) -> dict[str, Any]:
    """policies/config/<env>.json, the file `--policy-pack-config` gets for that stack; a stack
    without one runs every policy at its default level, as the CLI does without the flag."""
    path = CONFIG_DIR / f"{env}.json"
    config: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    return config


def enforcement(policy: Policy, config: Mapping[str, Any]) -> EnforcementLevel:
    """The policy's level: its own entry (a bare level or enforcementLevel), else "all", else its default."""
    entry = config.get(policy.name, config.get("all"))
    if isinstance(entry, Mapping):
        entry = entry.get("enforcementLevel", config.get("all"))
    if isinstance(entry, str):
        return EnforcementLevel(entry)
    return policy.enforcement_level or EnforcementLevel.ADVISORY  # PolicyPack's own default


def properties(policy: Policy, config: Mapping[str, Any]) -> dict[str, Any]:
    """The policy's config properties (what args.get_config() returns)."""
    entry = config.get(policy.name)
    if not isinstance(entry, Mapping):
        return {}
    return {k: v for k, v in entry.items() if k != "enforcementLevel"}


def _stack_urn(resources: list[dict[str, Any]]) -> str:
    """The stack's URN, derived from any resource's (urn:pulumi:<stack>::<project>::...)."""
    if not resources:
        return ""
    stack, project = resources[0]["urn"].removeprefix("urn:pulumi:").split("::")[:2]
    return f"urn:pulumi:{stack}::{project}::pulumi:pulumi:Stack::{project}-{stack}"


@dataclass(frozen=True)
class _Finding:
    urn: str
    message: str
    advisory_only: bool = False  # the engine's note for a value unknown during preview
    not_applicable: bool = False  # the policy said why it does not apply: a "not checked", not a pass


def _collect(validate: Callable[[ReportViolation], object], default_urn: str, *, resource: bool) -> list[_Finding]:
    """One call of a policy's validate, with the engine's handling of "not applicable" and unknown values."""
    found: list[_Finding] = []

    def report(message: str, urn: str | None = None) -> None:
        # A resource policy's violation belongs to its resource whatever URN it names, as in the engine.
        found.append(_Finding(default_urn if resource else urn or default_urn, message))

    try:
        validate(report)
    except _NotApplicableError as e:
        return [_Finding(default_urn, e.message, not_applicable=True)]
    except UnknownValueError as e:
        return [*found, _Finding(default_urn, f"can't run policy during preview: {e.message}", advisory_only=True)]
    return found


@dataclass(frozen=True)
class _Wrapped:
    """A resource as the engine hands it to policies: its inputs in the SDK's read-only proxy and its options.
    Made once per resource and shared by every policy (the proxy is read-only; wrapping per policy was the
    largest cost of a large preview's own work)."""

    type: str
    urn: str
    name: str
    props: Any
    options: PolicyResourceOptions


def wrap(resources: list[dict[str, Any]]) -> list[_Wrapped]:
    return [
        _Wrapped(r["type"], r["urn"], r["name"], unknown_checking_proxy(r["inputs"]), policy_options(r.get("options")))
        for r in resources
    ]


def stack_resources(wrapped: list[_Wrapped]) -> list[PolicyResource]:
    """The resources as a stack policy gets them (StackValidationArgs.resources)."""
    return [PolicyResource(r.type, r.props, r.urn, r.name, r.options, None, None, [], {}) for r in wrapped]


def _run(policy: Policy, wrapped: list[_Wrapped], config: dict[str, Any]) -> list[_Finding]:
    # The engine hands policies read-only proxies, not dicts: evaluate with the same.
    if isinstance(policy, ResourceValidationPolicy):
        found = []
        for r in wrapped:
            args = ResourceValidationArgs(r.type, r.props, r.urn, r.name, r.options, None, config)
            found += _collect(partial(policy.validate, args), r.urn, resource=True)
        return found
    if isinstance(policy, StackValidationPolicy):
        stack = stack_resources(wrapped)
        urn = _stack_urn([{"urn": wrapped[0].urn}]) if wrapped else ""
        return _collect(partial(policy.validate, StackValidationArgs(stack, config)), urn, resource=False)
    return []


def evaluate_pack(resources: list[dict[str, Any]], env: str) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """(violations, runs) of the policy pack over `resources` ({"type", "name", "urn", "inputs",
    "options"}, as in plan.json) with policies/config/<env>.json. Violations are {"policy",
    "enforcement", "urn", "message"}; runs list every policy with its level, its violation count and
    where it could not check ("notChecked": [{"urn", "reason"}])."""
    config = load_config(env)
    wrapped = wrap(resources)
    results, runs = [], []
    for policy in POLICIES:
        level = enforcement(policy, config)
        if level == EnforcementLevel.DISABLED:
            runs.append({"policy": policy.name, "enforcement": "disabled", "violations": 0, "notChecked": []})
            continue
        # The engine reports a remediate-level violation as mandatory; this pack remediates nothing.
        shown = "advisory" if level == EnforcementLevel.ADVISORY else "mandatory"
        found = _run(policy, wrapped, properties(policy, config))
        skipped = [{"urn": f.urn, "reason": f.message} for f in found if f.not_applicable]
        violations = [
            {
                "policy": policy.name,
                "enforcement": "advisory" if f.advisory_only else shown,
                "urn": f.urn,
                "message": f.message,
            }
            for f in found
            if not f.not_applicable
        ]
        results += violations
        runs.append({"policy": policy.name, "enforcement": shown, "violations": len(violations), "notChecked": skipped})
    return results, runs


def evaluate(resources: list[dict[str, Any]], env: str) -> list[dict[str, str]]:
    """The violations of evaluate_pack."""
    return evaluate_pack(resources, env)[0]
