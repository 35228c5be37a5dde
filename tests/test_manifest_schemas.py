"""Schema validation remembers the pieces it found valid (preview/manifests.py): a remembered piece must never
hide an error in another manifest, nor one schema's `#/...` stand for another's."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from preview.manifests import crd_schema_path, embedded_documents, validate_manifest
from tests.conftest import ENVIRONMENTS, Preview

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


# --- configuration files in ConfigMaps ----------------------------------------------------------------------------

PICKER_FILE = """apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: queue-scorer
schedulingProfiles:
- name: default
  plugins:
  - {pluginRef: queue-scorer, weight: 2}
"""


def config_map(data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "gemma-epp", "namespace": "serving"},
        "data": data,
    }


def test_a_config_file_in_a_config_map_is_validated_against_its_schema() -> None:
    assert validate_manifest(config_map({"default-plugins.yaml": PICKER_FILE}), VERSION) == []
    bad = PICKER_FILE.replace("type: queue-scorer", "type: queue-scorrer")
    errors = validate_manifest(config_map({"default-plugins.yaml": bad, "notes": "plain text"}), VERSION)
    assert errors[0].startswith(
        "data.default-plugins.yaml: EndpointPickerConfig in ConfigMap gemma-epp: plugins.0.type: 'queue-scorrer' is not one of"
    )


def test_json_documents_count_and_other_values_are_left_alone() -> None:
    as_json = json.dumps(yaml.safe_load(PICKER_FILE))
    assert embedded_documents(config_map({"a.json": as_json}))[0][1]["kind"] == "EndpointPickerConfig"
    # a script that mentions apiVersion and kind, a document of a kind without a schema, two documents in one value
    script = "#!/bin/sh\necho apiVersion kind: {"
    foreign = "apiVersion: example.com/v1\nkind: Widget\nspec: {}\n"
    values = {"s.sh": script, "w.yaml": foreign, "two.yaml": PICKER_FILE + "---\n" + PICKER_FILE}
    assert [k for k, _ in embedded_documents(config_map(values))] == ["w.yaml"]
    assert validate_manifest(config_map(values), VERSION) == []


# --- every kind the program writes has a schema -----------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_rendered_kind_and_embedded_config_has_a_schema(previews: Callable[[str], Preview], env: str) -> None:
    """A new kind without a schema fails here (and the preview reports it); so does a configuration file in a
    ConfigMap whose kind has no schema in preview/crd_schemas."""
    preview = previews(env)
    manifests, version = preview.manifests.values(), preview.plan["manifests"]["kubernetesVersion"]
    unknown = {e for m in manifests for e in validate_manifest(m, version) if e.startswith("no schema for")}
    assert unknown == set()
    embedded = {(d["apiVersion"], d["kind"]) for m in manifests for _, d in embedded_documents(m)}
    assert [k for k in sorted(embedded) if not crd_schema_path(*k).is_file()] == []
