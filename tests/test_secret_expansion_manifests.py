"""No rendered container of any environment expands a secret into its command line or environment:
every `$(NAME)` the kubelet would expand in a command, an argument or an env value names a variable
that holds no secret (config/expansion.py reads the references as the kubelet does)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from config.expansion import platform_secret_env, references
from tests.conftest import ENVIRONMENTS, Preview


def pod_specs(manifest: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = manifest.get("spec") or {}
    if manifest["kind"] == "Pod":
        yield spec
    elif manifest["kind"] == "CronJob":
        yield spec["jobTemplate"]["spec"]["template"]["spec"]
    elif isinstance(spec.get("template"), dict) and "spec" in spec["template"]:
        yield spec["template"]["spec"]


def containers(manifest: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for spec in pod_specs(manifest):
        yield from spec.get("initContainers", [])
        yield from spec.get("containers", [])


def secret_bearing(container: dict[str, Any]) -> set[str]:
    from_secrets = {e["name"] for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}
    return from_secrets | set(platform_secret_env())


def expanded_secrets(container: dict[str, Any]) -> list[str]:
    secrets = secret_bearing(container)
    texts = [*container.get("command", []), *container.get("args", [])]
    texts += [e["value"] for e in container.get("env", []) if "value" in e]
    return [f"{text!r} expands $({name})" for text in texts for name in references(text) if name in secrets]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_container_expands_a_secret(env: str, previews: Callable[[str], Preview]) -> None:
    preview = previews(env)
    checked = 0
    for file, manifest in preview.manifests.items():
        for container in containers(manifest):
            checked += 1
            assert expanded_secrets(container) == [], f"{file}: {container['name']}"
    assert checked > 0, "no container was rendered"


def test_the_check_finds_an_expanded_secret() -> None:
    container = {
        "name": "server",
        "args": ["--key=$(API_KEY)", "--literal=$$(API_KEY)"],
        "env": [
            {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "k", "key": "api-key"}}},
            {"name": "COPY", "value": "$(HF_TOKEN)"},
        ],
    }
    assert expanded_secrets(container) == ["'--key=$(API_KEY)' expands $(API_KEY)", "'$(HF_TOKEN)' expands $(HF_TOKEN)"]
