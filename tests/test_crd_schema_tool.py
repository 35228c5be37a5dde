"""tools/crd_schema.py: a CRD's openAPIV3Schema becomes the strict schema preview/crd_schemas holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from preview.manifests import OBJECT_META_REF
from tools.crd_schema import main, vendored_schema

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
  - name: v1
    schema:
      openAPIV3Schema:
        description: A widget.
        type: object
        required: [spec]
        properties:
          apiVersion: {type: string}
          kind: {type: string}
          metadata: {type: object}
          spec:
            type: object
            required: [size]
            properties:
              description: {type: string, description: a field named like the keyword}
              size: {type: integer, format: int32, default: 1}
              port: {x-kubernetes-int-or-string: true}
              note: {type: string, nullable: true}
              labels: {type: object, additionalProperties: {type: string}}
              raw: {type: object, x-kubernetes-preserve-unknown-fields: true, properties: {a: {type: string}}}
              items:
                type: array
                x-kubernetes-list-type: set
                items: {type: string}
            x-kubernetes-validations:
            - {rule: "self.size > 0", message: size must be positive}
          status: {type: object, properties: {ready: {type: boolean}}}
"""


def test_a_crd_becomes_a_closed_schema_that_keeps_defaults_and_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crd = tmp_path / "crd.yaml"
    crd.write_text(CRD)
    assert main([str(crd), "--served", "v1", "--source", "example/widgets crd.yaml (tag v1)"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "example/widgets crd.yaml (tag v1)" in schema["$comment"]
    assert schema["required"] == ["apiVersion", "kind", "metadata", "spec"]
    assert schema["additionalProperties"] is False
    top = schema["properties"]
    assert "status" not in top
    assert top["apiVersion"] == {"const": "example.com/v1"}
    assert top["kind"] == {"const": "Widget"}
    assert top["metadata"] == {"$ref": OBJECT_META_REF}
    spec = top["spec"]
    assert spec["additionalProperties"] is False
    assert spec["x-kubernetes-validations"] == [{"rule": "self.size > 0", "message": "size must be positive"}]
    fields = spec["properties"]
    assert fields["description"] == {"type": "string"}  # a field so named stays; descriptions go
    assert fields["size"] == {"type": "integer", "default": 1}
    assert fields["port"] == {"type": ["integer", "string"]}
    assert fields["note"] == {"type": ["string", "null"]}
    assert fields["labels"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert "additionalProperties" not in fields["raw"]  # preserve-unknown-fields keeps it open
    assert fields["items"]["x-kubernetes-list-type"] == "set"


def test_a_bare_schema_needs_its_api_version_and_kind(tmp_path: Path) -> None:
    bare = tmp_path / "schema.json"
    bare.write_text(json.dumps(yaml.safe_load(CRD)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]))
    with pytest.raises(SystemExit):
        main([str(bare), "--source", "s"])
    schema = vendored_schema(json.loads(bare.read_text()), "example.com/v1", "Widget", "s")
    assert schema["properties"]["kind"] == {"const": "Widget"}
