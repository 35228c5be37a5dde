"""A value refused by a field's pattern is told what the field allows in words, never the regex."""

from __future__ import annotations

from typing import Any

import pytest

from config.environment import SECTIONS, parse_environment
from config.pydantic_errors import PATTERN_WORDS
from tests.test_config import problems, with_service


def patterns_in(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        own = {schema["pattern"]} if isinstance(schema.get("pattern"), str) else set()
        return own.union(*(patterns_in(v) for v in schema.values()))
    if isinstance(schema, list):
        return set().union(*(patterns_in(v) for v in schema))
    return set()


def test_every_pattern_of_the_config_has_words() -> None:
    used = set().union(*(patterns_in(a.json_schema(mode="validation")) for a in SECTIONS.values()))
    assert used, "no pattern found: the walk is broken"
    assert sorted(used - set(PATTERN_WORDS)) == []


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        (
            {"runtime": "tei", "model": "BAAI/bge-m3", "pool": "l4", "image": "Registry/Img:1"},
            "gke-serving:services.svc.image: 'Registry/Img:1' is not an image reference — write "
            "[registry[:port]/]repository[:tag][@sha256:<64 hex>], the repository in lowercase letters, digits, ., _ "
            "and -, e.g. registry.example.com:5000/team/server:1.2.3",
        ),
        (
            {"runtime": "tei", "model": "BAAI/bge-m3", "pool": "l4", "resources": {"memory": "24GB"}},
            "gke-serving:services.svc.resources.memory: '24GB' is not a memory amount — write a whole number of Mi or "
            "Gi, e.g. 24Gi or 512Mi",
        ),
    ],
)
def test_a_pattern_error_says_what_is_allowed(service: dict[str, Any], expected: str) -> None:
    assert problems(with_service(**service)) == [expected]


def test_a_nested_secure_value_is_named_not_shown() -> None:
    ciphertext = "v1:AAABBBCCCDDDEEEFFF"
    raw = with_service(runtime="tei", model="BAAI/bge-m3", pool="l4", image={"secure": ciphertext})
    found = problems(raw)
    assert found == ["gke-serving:services.svc.image: a secure value is not a string — write a string"]
    assert not any(ciphertext[:6] in p for p in found)


def test_a_private_registry_with_a_port_is_an_image() -> None:
    image = "registry.example.com:5000/team/embed:1.2.3"
    env = parse_environment(with_service(runtime="tei", model="BAAI/bge-m3", pool="l4", image=image))
    assert env.services["svc"].image == image
