"""Rendered Kubernetes manifests: one file per object, validated against the cluster version's schema."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import yaml

from preview.engine import Registration
from preview.plan import redact

_SKIP = ("kubernetes:yaml", "kubernetes:helm")


@dataclass(frozen=True)
class Manifest:
    file: str
    body: dict[str, Any]


def manifests_of(registrations: list[Registration]) -> list[Manifest]:
    result = []
    for r in registrations:
        if not r.custom or not r.type.startswith("kubernetes:") or r.type.startswith(_SKIP):
            continue
        body = {k: v for k, v in redact(r.inputs).items() if v is not None}
        meta = body.get("metadata", {})
        scope = meta.get("namespace", "cluster")
        file = f"{scope}_{body['kind'].lower()}_{meta.get('name', r.name)}.yaml"
        result.append(Manifest(file, body))
    return result


_FIRST = ("apiVersion", "kind", "metadata")


def canonical(value: Any, top: bool = False) -> Any:
    """Stable key order (the engine's maps are unordered): apiVersion, kind, metadata, then sorted."""
    if isinstance(value, dict):
        keys = [k for k in _FIRST if top and k in value] + sorted(k for k in value if not (top and k in _FIRST))
        return {k: canonical(value[k]) for k in keys}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def write_manifests(manifests: list[Manifest], directory: Path) -> None:
    """One file per object into `directory`, which must be new (the preview's staging folder)."""
    directory.mkdir()
    for m in manifests:
        if Path(m.file).name != m.file or m.file.startswith("."):
            raise ValueError(f"manifest file name {m.file!r} is not a plain file name")
        # "x": two objects with one file name fail the run instead of one silently replacing the other.
        with (directory / m.file).open("x") as f:
            # libyaml's emitter: the pure-Python one is most of a large preview's wall time.
            f.write(yaml.dump(canonical(m.body, top=True), Dumper=yaml.CSafeDumper, sort_keys=False))


def _schema_dir(version: str) -> Any:
    # kubernetes-validate ships the strict (additionalProperties: false) OpenAPI schemas per minor
    # version; strict catches a misspelt field that the API server would silently drop.
    return resources.files("kubernetes_validate").joinpath("kubernetes-json-schema", f"v{version}.0-local-strict")


@cache
def _registry(version: str) -> referencing.Registry[Any]:
    definitions = json.loads(_schema_dir(version).joinpath("_definitions.json").read_text())
    return referencing.Resource.from_contents(definitions) @ referencing.Registry()


# The project's own schemas of the custom resources it writes (Gateway API, GKE policies, Managed
# Prometheus), each naming its source CRD in `$comment`; kubernetes-validate has only built-in kinds.
CRD_SCHEMAS = Path(__file__).resolve().parent / "crd_schemas"


def crd_schema_path(api_version: str, kind: str) -> Path:
    group, _, version = api_version.rpartition("/")
    return CRD_SCHEMAS / f"{group}_{version}_{kind.lower()}.json"


@cache
def _validator(version: str, kind: str, api_version: str) -> jsonschema.protocols.Validator | None:
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _schema_dir(version).joinpath(f"{kind.lower()}-{group_version}.json")
    if path.is_file():
        schema = json.loads(path.read_text())
    elif (crd := crd_schema_path(api_version, kind)).is_file():
        schema = json.loads(crd.read_text())  # its metadata refers to the cluster version's ObjectMeta
    else:
        return None
    validator: jsonschema.protocols.Validator = _Validator(schema, registry=_registry(version))
    return validator


def _valid_once(ref_keyword: Any) -> Any:
    """The `$ref` keyword, remembering each (reference, value) it found valid: two hundred Deployments repeat the
    same probes, resources, volumes and security contexts, so each distinct piece is validated once. Only valid
    results are kept (an error carries its own path), and values are compared as canonical JSON. The key holds the
    schema object the reference sits in: "#/..." means another thing in each CRD schema."""
    valid: set[tuple[int, str, str]] = set()

    def ref(validator: Any, reference: str, instance: Any, schema: Any) -> Any:
        if not isinstance(instance, dict | list):
            yield from ref_keyword(validator, reference, instance, schema)
            return
        key = (id(schema), reference, json.dumps(instance, sort_keys=True, separators=(",", ":")))
        if key in valid:
            return
        errors = list(ref_keyword(validator, reference, instance, schema))
        if not errors:
            valid.add(key)
        yield from errors

    return ref


_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    {"$ref": _valid_once(jsonschema.Draft202012Validator.VALIDATORS["$ref"])},
)


def validate_manifest(body: dict[str, Any], version: str) -> list[str]:
    """Schema errors of one manifest ("" path = the object); unknown kinds are reported as such."""
    validator = _validator(version, body["kind"], body["apiVersion"])
    if validator is None:
        return [f"no schema for {body['apiVersion']} {body['kind']} in Kubernetes {version}"]
    return [
        f"{'.'.join(str(p) for p in e.absolute_path) or '(object)'}: {e.message}" for e in validator.iter_errors(body)
    ]
