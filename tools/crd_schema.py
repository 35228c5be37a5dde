"""Vendor a CRD's openAPIV3Schema into preview/crd_schemas/ as the strict JSON Schema the preview validates with.

    python -m tools.crd_schema CRD.yaml --served v1 --source "owner/repo path (tag v1.5.0, commit abc1234)"

The input is a CustomResourceDefinition (YAML or JSON, one version picked by --served) or an openAPIV3Schema
already extracted (then --api-version and --kind name it). What changes on the way:
- descriptions, `format` and `status` go (the controller writes status; the files stay small);
- an object with `properties` and no `additionalProperties` gets `additionalProperties: false`: the CRD is
  structural, so the API server would silently prune a misspelt field; the preview refuses it instead
  (`x-kubernetes-preserve-unknown-fields` keeps an object open);
- `nullable` and `x-kubernetes-int-or-string` become JSON Schema types;
- apiVersion and kind become constants, metadata the cluster version's ObjectMeta;
- `default`, `x-kubernetes-validations` (CEL) and `x-kubernetes-list-type` stay: preview/manifests.py applies
  the defaults and runs the rules (preview/cel.py) as the API server does.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from preview.manifests import OBJECT_META_REF

_DROPPED = frozenset({"description", "format", "x-kubernetes-map-type", "x-kubernetes-embedded-resource"})


def _subschemas(key: str, value: Any) -> Any:
    """A keyword's value with the schemas inside it made strict (a default or an enum stays as written)."""
    if key == "properties":
        return {name: strict(s) for name, s in value.items()}
    if key in ("items", "additionalProperties", "not") and isinstance(value, dict):
        return strict(value)
    if key in ("allOf", "anyOf", "oneOf"):
        return [strict(s) for s in value]
    return value


def strict(node: dict[str, Any]) -> dict[str, Any]:
    """One schema node as strict JSON Schema (recursively)."""
    result = {k: _subschemas(k, v) for k, v in node.items() if k not in _DROPPED and k != "nullable"}
    if node.get("x-kubernetes-int-or-string") and "type" not in node:
        result["type"] = ["integer", "string"]
    result.pop("x-kubernetes-int-or-string", None)
    if node.get("nullable") and isinstance(result.get("type"), str):
        result["type"] = [result["type"], "null"]
    open_object = node.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in node
    if "properties" in node and not open_object:
        result["additionalProperties"] = False
    return result


def vendored_schema(open_api: dict[str, Any], api_version: str, kind: str, source: str) -> dict[str, Any]:
    """The file's content: the CRD's own top level, with apiVersion, kind and metadata pinned."""
    properties = {k: v for k, v in open_api.get("properties", {}).items() if k != "status"}
    top = strict({**open_api, "properties": properties})
    top.pop("additionalProperties", None)
    required = ["apiVersion", "kind", "metadata"] + [r for r in open_api.get("required", []) if r != "status"]
    top["properties"] = {
        **top["properties"],
        "apiVersion": {"const": api_version},
        "kind": {"const": kind},
        "metadata": {"$ref": OBJECT_META_REF},
    }
    comment = (
        f"openAPIV3Schema of {api_version} {kind}, {source}. Written by tools/crd_schema.py: descriptions, format "
        "and status dropped; objects closed (additionalProperties: false) where the CRD is structural, so a "
        "misspelt field the API server would prune is refused; defaults, CEL rules (x-kubernetes-validations) "
        "and list types kept and applied by preview/manifests.py."
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": comment,
        **top,
        "required": list(dict.fromkeys(required)),
        "additionalProperties": False,
    }


def open_api_schema(document: dict[str, Any], served: str | None) -> tuple[dict[str, Any], str | None, str | None]:
    """The version's schema and, for a CRD, its apiVersion and kind."""
    if document.get("kind") != "CustomResourceDefinition":
        return document, None, None
    spec = document["spec"]
    versions = {v["name"]: v for v in spec["versions"]}
    if served not in versions:
        raise SystemExit(f"--served must be one of {sorted(versions)}")
    schema: dict[str, Any] = versions[served]["schema"]["openAPIV3Schema"]
    return schema, f"{spec['group']}/{served}", spec["names"]["kind"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, help="the CRD (YAML or JSON) or an extracted openAPIV3Schema")
    parser.add_argument("--served", help="the CRD version to vendor (v1, v1alpha2, ...)")
    parser.add_argument("--api-version", help="group/version, when the file is a bare schema")
    parser.add_argument("--kind", help="the kind, when the file is a bare schema")
    parser.add_argument("--source", required=True, help="repository, path and the tag or commit it was read at")
    args = parser.parse_args(argv)
    schema, api_version, kind = open_api_schema(yaml.safe_load(args.file.read_text()), args.served)
    api_version, kind = api_version or args.api_version, kind or args.kind
    if not api_version or not kind:
        parser.error("a bare schema needs --api-version and --kind")
    json.dump(vendored_schema(schema, api_version, kind, args.source), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
