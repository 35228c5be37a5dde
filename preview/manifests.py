"""Rendered Kubernetes manifests: one file per object, validated against the cluster version's schema."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import yaml

from preview import cel
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


# The project's own schemas of the custom resources it writes (Gateway API, GKE policies, the Inference Gateway,
# ComputeClass, Managed Prometheus) and of the configuration files it ships in ConfigMaps, each naming its source
# in `$comment` (index: crd_schemas/README.md); kubernetes-validate has only built-in kinds.
CRD_SCHEMAS = Path(__file__).resolve().parent / "crd_schemas"
# A custom resource's metadata is checked against the cluster version's ObjectMeta.
OBJECT_META_REF = "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def crd_schema_path(api_version: str, kind: str) -> Path:
    group, _, version = api_version.rpartition("/")
    return CRD_SCHEMAS / f"{group}_{version}_{kind.lower()}.json"


@dataclass(frozen=True)
class _Schema:
    validator: jsonschema.protocols.Validator
    custom: bool  # a CRD schema: the API server applies its defaults before it validates


@cache
def _schema(version: str, kind: str, api_version: str) -> _Schema | None:
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _schema_dir(version).joinpath(f"{kind.lower()}-{group_version}.json")
    if path.is_file():
        schema, custom = json.loads(path.read_text()), False
    elif (crd := crd_schema_path(api_version, kind)).is_file():
        schema, custom = json.loads(crd.read_text()), True  # its metadata refers to the cluster version's ObjectMeta
    else:
        return None
    validator: jsonschema.protocols.Validator = _Validator(schema, registry=_registry(version))
    return _Schema(validator, custom)


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


def _of_schema_type(validator: Any, instance: Any, schema: dict[str, Any]) -> bool:
    types = schema.get("type", [])
    return not types or any(validator.is_type(instance, t) for t in ([types] if isinstance(types, str) else types))


def _cel_rules(validator: Any, rules: list[dict[str, str]], instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
    """`x-kubernetes-validations`: each CEL rule on the value, as the API server runs it on create."""
    if not _of_schema_type(validator, instance, schema):
        return  # the type keyword reports it; the API server runs no rule on a value of the wrong type
    for rule in rules:
        expression = rule["rule"]
        if "oldSelf" in cel.identifiers(cel.parse(expression)):
            continue  # a transition rule: the API server runs it on update only
        message = rule.get("message") or f"failed rule: {expression}"
        try:
            if cel.evaluate(expression, instance) is not True:
                yield jsonschema.ValidationError(message)
        except cel.CelError as e:
            yield jsonschema.ValidationError(f"{message} ({e}, evaluating rule: {expression})")


def _list_type(_validator: Any, list_type: str, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
    """`x-kubernetes-list-type`: a set holds no value twice, a map no two items with the same keys."""
    if not isinstance(instance, list) or list_type not in ("set", "map"):
        return
    keys = schema.get("x-kubernetes-list-map-keys", [])
    seen: set[str] = set()
    for item in instance:
        key = item if list_type == "set" or not isinstance(item, dict) else {k: item.get(k) for k in keys}
        text = json.dumps(key, sort_keys=True)
        if text in seen:
            yield jsonschema.ValidationError(f"duplicate entry {text} in a list of type {list_type}")
        seen.add(text)


_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    {
        "$ref": _valid_once(jsonschema.Draft202012Validator.VALIDATORS["$ref"]),
        "x-kubernetes-validations": _cel_rules,
        "x-kubernetes-list-type": _list_type,
    },
)


def _child_schema(schema: dict[str, Any], key: str) -> dict[str, Any]:
    properties = schema.get("properties", {})
    if key in properties:
        found: dict[str, Any] = properties[key]
        return found
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else {}


def with_defaults(schema: dict[str, Any], value: Any) -> Any:
    """`value` with the schema's `default`s filled in where a field is absent, as the API server does before it
    validates a custom resource (a required field with a default may be left out)."""
    if isinstance(value, dict):
        result = {k: with_defaults(_child_schema(schema, k), v) for k, v in value.items()}
        for name, sub in schema.get("properties", {}).items():
            if name not in result and "default" in sub:
                result[name] = with_defaults(sub, copy.deepcopy(sub["default"]))
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [with_defaults(schema["items"], v) for v in value]
    return value


def embedded_documents(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(key, document) for each ConfigMap value that is a YAML or JSON document with an apiVersion and a kind,
    such as the endpoint picker's configuration file."""
    if body.get("apiVersion") != "v1" or body.get("kind") != "ConfigMap":
        return []
    found = []
    for key, text in (body.get("data") or {}).items():
        if not isinstance(text, str) or "apiVersion" not in text or "kind" not in text:
            continue
        try:
            document = yaml.load(text, Loader=yaml.CSafeLoader)
        except yaml.YAMLError:
            continue  # a script or a template, not a document
        if isinstance(document, dict) and all(isinstance(document.get(k), str) for k in ("apiVersion", "kind")):
            found.append((key, document))
    return found


def _schema_errors(body: dict[str, Any], version: str) -> list[str] | None:
    schema = _schema(version, body["kind"], body["apiVersion"])
    if schema is None:
        return None
    checked = with_defaults(schema.validator.schema, body) if schema.custom else body
    return [
        f"{'.'.join(str(p) for p in e.absolute_path) or '(object)'}: {e.message}"
        for e in schema.validator.iter_errors(checked)
    ]


def validate_manifest(body: dict[str, Any], version: str) -> list[str]:
    """Schema errors of one manifest ("" path = the object); unknown kinds are reported as such. A ConfigMap's
    embedded document whose kind has a schema in crd_schemas/ is validated too, its errors under its key."""
    errors = _schema_errors(body, version)
    if errors is None:
        return [f"no schema for {body['apiVersion']} {body['kind']} in Kubernetes {version}"]
    name = body.get("metadata", {}).get("name")
    for key, document in embedded_documents(body):
        if crd_schema_path(document["apiVersion"], document["kind"]).is_file():
            found = _schema_errors(document, version) or []
            errors += [f"data.{key}: {document['kind']} in ConfigMap {name}: {e}" for e in found]
    return errors
