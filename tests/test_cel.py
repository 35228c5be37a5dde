"""preview/cel.py: the CEL rules of the vendored schemas evaluate as the API server evaluates them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from preview import cel
from preview.manifests import CRD_SCHEMAS


def rules_in(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [r["rule"] for r in node.get("x-kubernetes-validations", [])]
        return own + [r for v in node.values() for r in rules_in(v)]
    if isinstance(node, list):
        return [r for v in node for r in rules_in(v)]
    return []


def test_every_rule_of_every_vendored_schema_parses() -> None:
    """A rule outside the evaluator's subset would refuse every object of its kind: it must fail here first."""
    found = {p.name: rules_in(json.loads(p.read_text())) for p in sorted(CRD_SCHEMAS.glob("*.json"))}
    assert sum(len(r) for r in found.values()) > 50, found  # the ComputeClass alone has dozens
    for rules in found.values():
        for rule in rules:
            assert cel.parse(rule)


def test_an_absent_field_is_an_error_unless_has_guards_it() -> None:
    rule = "self.portSpecification == 'USE_FIXED_PORT' ? has(self.port) : true"
    with pytest.raises(cel.CelError, match="no such key: portSpecification"):
        cel.evaluate(rule, {"port": 8000})
    assert cel.evaluate(rule, {"portSpecification": "USE_FIXED_PORT", "port": 8000}) is True
    assert cel.evaluate("has(self.port) ? self.port > 0 : true", {}) is True


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("self.missing == 'x' || true", True),  # an error on one side, the other decides
        ("true || self.missing == 'x'", True),
        ("self.missing == 'x' && false", False),
        ("false && self.missing == 'x'", False),
    ],
)
def test_or_and_absorb_an_error_when_the_other_side_decides(rule: str, expected: bool) -> None:
    assert cel.evaluate(rule, {}) is expected


def test_or_with_an_error_and_false_is_an_error() -> None:
    with pytest.raises(cel.CelError):
        cel.evaluate("self.missing == 'x' || false", {})


def test_the_conditional_binds_loosest() -> None:
    """`a || b ? x : y` is `(a || b) ? x : y`, as in the HealthCheckPolicy's USE_SERVING_PORT rule."""
    rule = "self.s == 'USE_SERVING_PORT' || !has(self.s) ? !has(self.port) : true"
    assert cel.evaluate(rule, {"port": 1}) is False
    assert cel.evaluate(rule, {"s": "USE_FIXED_PORT", "port": 1}) is True


def test_values_of_different_types_are_never_equal() -> None:
    assert cel.evaluate("self.a == 1", {"a": True}) is False
    assert cel.evaluate("self.a == 1", {"a": 1.0}) is True
    with pytest.raises(cel.CelError, match="no such overload"):
        cel.evaluate("self.a < 1", {"a": "1"})


def test_durations_compare_as_go_parses_them() -> None:
    rule = "duration(self.t) >= duration('10ms') && duration(self.t) <= duration('10000ms')"
    assert cel.evaluate(rule, {"t": "1s"}) is True
    assert cel.evaluate(rule, {"t": "10s"}) is True
    assert cel.evaluate(rule, {"t": "11s"}) is False
    assert cel.evaluate(rule, {"t": "1m"}) is False
    assert cel.duration("1h2m3.5s") == cel.Duration(3_723_500_000_000)
    with pytest.raises(cel.CelError, match="invalid duration"):
        cel.duration("10 s")


def test_macros_over_lists_and_map_keys() -> None:
    ports = "self.all(p1, self.exists_one(p2, p1.number == p2.number))"
    assert cel.evaluate(ports, [{"number": 1}, {"number": 2}]) is True
    assert cel.evaluate(ports, [{"number": 1}, {"number": 1}]) is False
    assert cel.evaluate("self.all(k, k.matches('^[a-z]{1,3}$'))", {"ab": 1, "abc": 2}) is True
    assert cel.evaluate("self.all(k, k.matches('^[a-z]{1,3}$'))", {"abcd": 1}) is False
    assert cel.evaluate("self.exists(e, e == 'RequestBody')", ["RequestHeaders", "RequestBody"]) is True
    assert cel.evaluate("self.map(x, x * 2).filter(x, x > 2)", [1, 2, 3]) == [4, 6]


def test_all_is_false_when_one_element_is_false_even_if_another_errs() -> None:
    assert cel.evaluate("self.all(p, p.a == 1)", [{"b": 1}, {"a": 2}]) is False
    with pytest.raises(cel.CelError):
        cel.evaluate("self.all(p, p.a == 1)", [{"b": 1}, {"a": 1}])


def test_strings_sizes_and_literals() -> None:
    assert cel.evaluate("self.split('-')[0] in ['n2d', 'c2d']", "n2d-standard-4") is True
    assert cel.evaluate("self.startsWith('c3-standard-') && !self.endsWith('-x')", "c3-standard-8") is True
    assert cel.evaluate("size(dyn(self)) == 1 && self.size() == 1", {"nodepools": ["a"]}) is True
    assert cel.evaluate(r'self.matches(r"""^[\s\[]+$""")', " [") is True
    assert cel.evaluate("(has(self.a) ? 1 : 0) + (has(self.b) ? 1 : 0) <= 1", {"a": 1, "b": 2}) is False
    assert cel.evaluate("-self.a % 3 == -1 && 7 / 2 == 3", {"a": 4}) is True


def test_a_rule_outside_the_subset_fails_to_parse() -> None:
    with pytest.raises(cel.CelError):
        cel.parse("self.a =~ 'x'")
    with pytest.raises(cel.CelError, match="unknown function"):
        cel.evaluate("self.lowerAscii() == 'a'", "A")


def test_transition_rules_are_recognised_by_their_old_self() -> None:
    assert "oldSelf" in cel.identifiers(cel.parse("self == oldSelf"))
    assert cel.identifiers(cel.parse("self.all(p, has(p.x))")) == {"self", "p"}
