"""What an environment may expose: an external gateway needs TLS and authenticated services, except
in dev with an explicit opt-in, which the preview then warns about."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from config import InvalidEnvironment, parse_environment
from config.environment import decode
from preview.envfile import read_environment_file
from tests.conftest import ENVIRONMENTS
from tests.test_config import VALID

ROOT = Path(__file__).resolve().parents[1]
EXTERNAL = "gke-l7-regional-external-managed"
INTERNAL_FIX = "or className gke-l7-rilb for a gateway reachable only inside the VPC"
DOMAIN_FIX = "set gateway.domain to a DNS name you control (HTTPS with a Google-managed certificate), " + INTERNAL_FIX
AUTH_FIX = "remove auth: false (the service then needs its API key; Triton: auth: true behind gateway.iap), " + (
    INTERNAL_FIX
)
DEV_PLAINTEXT = "; or, in dev only, opt in with gateway.allowPlaintext: true"
DEV_UNAUTH = "; or, in dev only, opt in with gateway.allowUnauthenticated: true"


def env(gateway: dict[str, Any], *, open_service: bool = False) -> dict[str, Any]:
    raw = copy.deepcopy(VALID)
    raw["gke-serving:gateway"] = gateway
    raw["gke-serving:services"] = {
        "embed": {"runtime": "tei", "model": "BAAI/bge-m3", "pool": "l4", **({"auth": False} if open_service else {})}
    }
    return raw


def problems(raw: dict[str, Any], stack: str) -> list[str]:
    with pytest.raises(InvalidEnvironment) as caught:
        parse_environment(raw, stack=stack)
    return [str(p) for p in caught.value.problems]


def plaintext(stack: str, fix: str) -> str:
    return (
        "gke-serving:gateway.domain: an external gateway without a domain serves plain HTTP: API keys and requests "
        f"would cross the internet in clear text (stack {stack}) — {fix}"
    )


def unauthenticated(stack: str, fix: str) -> str:
    return (
        "gke-serving:services.embed.auth: auth: false on an external gateway answers anyone on the internet "
        f"(stack {stack}) — {fix}"
    )


def opt_in_refused(key: str, stack: str) -> str:
    return f"gke-serving:gateway.{key}: only dev may opt in to this exposure, not {stack} — remove {key} and fix what it allowed"


# --- refused -------------------------------------------------------------------------------------

REFUSED = [
    ("prod", {"className": EXTERNAL}, False, [plaintext("prod", DOMAIN_FIX)]),
    ("staging", {}, False, [plaintext("staging", DOMAIN_FIX)]),  # the default class is the external one
    ("dev", {"className": EXTERNAL}, False, [plaintext("dev", DOMAIN_FIX + DEV_PLAINTEXT)]),
    (
        "prod",
        {"className": EXTERNAL, "domain": "models.acme.example"},
        True,
        [unauthenticated("prod", AUTH_FIX)],
    ),
    (
        "dev",
        {"className": EXTERNAL, "domain": "models.acme.example"},
        True,
        [unauthenticated("dev", AUTH_FIX + DEV_UNAUTH)],
    ),
    # An opt-in outside dev is refused itself, and allows nothing.
    (
        "prod",
        {"className": EXTERNAL, "allowPlaintext": True, "allowUnauthenticated": True},
        True,
        [
            opt_in_refused("allowPlaintext", "prod"),
            opt_in_refused("allowUnauthenticated", "prod"),
            plaintext("prod", DOMAIN_FIX),
            unauthenticated("prod", AUTH_FIX),
        ],
    ),
    # A stack that is neither dev nor a known one is held to prod's rule.
    (
        "eu-prod",
        {"className": EXTERNAL, "allowPlaintext": True},
        False,
        [
            opt_in_refused("allowPlaintext", "eu-prod"),
            plaintext("eu-prod", DOMAIN_FIX),
        ],
    ),
]


@pytest.mark.parametrize(("stack", "gateway", "open_service", "expected"), REFUSED)
def test_exposure_is_refused(stack: str, gateway: dict[str, Any], open_service: bool, expected: list[str]) -> None:
    assert problems(env(gateway, open_service=open_service), stack) == expected


# --- accepted ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_https_with_authenticated_services_is_accepted_everywhere(stack: str) -> None:
    parsed = parse_environment(env({"className": EXTERNAL, "domain": "models.acme.example"}), stack=stack)
    assert parsed.warnings == ()


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_an_internal_gateway_needs_neither_tls_nor_auth(stack: str) -> None:
    parsed = parse_environment(env({"className": "gke-l7-rilb"}, open_service=True), stack=stack)
    assert not any("gateway.allow" in w for w in parsed.warnings)


def test_dev_opts_in_explicitly_and_is_warned() -> None:
    gateway = {"className": EXTERNAL, "allowPlaintext": True, "allowUnauthenticated": True}
    warnings = parse_environment(env(gateway, open_service=True), stack="dev").warnings
    assert warnings[:2] == (
        "gke-serving:gateway.allowPlaintext: dev serves its external gateway over plain HTTP — API keys and requests "
        "cross the internet in clear text (refused outside dev)",
        "gke-serving:gateway.allowUnauthenticated: dev lets anyone on the internet call embed without a key "
        "(auth: false; refused outside dev)",
    )


def test_without_a_stack_name_exposure_is_not_judged() -> None:
    # Model-only validation (unit tests, fuzzing): load_environment always names the stack.
    parse_environment(env({"className": EXTERNAL}, open_service=True))


# --- the real environment files ------------------------------------------------------------------


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_each_environment_file_passes_as_its_own_stack(stack: str) -> None:
    config = read_environment_file(ROOT / "environments" / f"Pulumi.{stack}.yaml")
    parse_environment({k: decode(v) for k, v in config.values.items()}, stack=stack)


def test_dev_is_plain_http_by_explicit_opt_in_only() -> None:
    config = read_environment_file(ROOT / "environments" / "Pulumi.dev.yaml")
    raw = {k: decode(v) for k, v in config.values.items()}
    assert any("allowPlaintext" in w for w in parse_environment(raw, stack="dev").warnings)
    # The same file as prod would be refused.
    assert problems(raw, "prod")[0] == opt_in_refused("allowPlaintext", "prod")
