"""Schema validation remembers the pieces it found valid (preview/manifests.py): a remembered piece must never
hide an error in another manifest, nor one schema's `#/...` stand for another's."""

from __future__ import annotations

import copy
from typing import Any

from preview.manifests import validate_manifest

VERSION = "1.34"


def deployment(name: str) -> dict[str, Any]:
    container = {
        "name": "server",
        "image": "registry.example.com/server:1.0",
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}},
        "readinessProbe": {"httpGet": {"path": "/health", "port": 8080}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "serving"},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}},
        },
    }


def test_a_piece_seen_valid_does_not_hide_an_error_in_the_same_piece_elsewhere() -> None:
    assert validate_manifest(deployment("a"), VERSION) == []
    bad = copy.deepcopy(deployment("b"))
    bad["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/x"
    errors = validate_manifest(bad, VERSION)
    assert len(errors) == 1
    assert errors[0].startswith("spec.template.spec.containers.0.readinessProbe.httpGet: Additional properties")
    assert validate_manifest(deployment("a"), VERSION) == []


def test_the_same_value_under_two_schemas_is_checked_against_each() -> None:
    """A Gateway API HTTPRoute (a project CRD schema) and a built-in kind, one after the other, both still fail."""
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "r", "namespace": "serving"},
        "spec": {"rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/x"}}], "bogus": 1}]},
    }
    assert validate_manifest(deployment("c"), VERSION) == []
    assert validate_manifest(route, VERSION) != []
    assert validate_manifest(route, VERSION) != []
