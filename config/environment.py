"""Parse and check a whole environment: every problem at once, before any resource exists."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi.runtime.config import get_config_secret_keys_env, is_config_secret
from pydantic import BaseModel, TypeAdapter, ValidationError

import naming
from config.compute_class_checks import check_classes
from config.compute_classes import ComputeClassConfig, option_zones
from config.gateway_checks import check_exposure, check_gateway
from config.monitoring import MonitoringConfig
from config.platform import ClusterConfig, GatewayConfig, NodePoolConfig
from config.platform_checks import check_platform, pool_zones
from config.pydantic_errors import problems_from
from config.routing_checks import check_routing, picked
from config.salvage import salvage
from config.service_checks import check_loads, check_services, load_warnings
from config.services import RUNTIMES, ServiceConfig
from config.shapes import Shape, service_shapes
from runtimes import REGISTRY, runtime_of
from settings.base import closest
from settings.gke_versions import COMPUTE_CLASSES, INFERENCE_GATEWAY, Floor, highest
from settings.mirror import ModelMirrorConfig, bucket_name
from settings.names import BUCKET_RULES, bucket_name_problem
from settings.problems import InvalidEnvironment, Problem, shown_key
from settings.secrets import SECRETS, credential_fix, credentials_in

PROJECT = "gke-serving"
IAP_SECRET = f"{PROJECT}:iapClientSecret"
# Map keys become Kubernetes names, GKE node-pool names and URL prefixes: DNS labels. Used with
# fullmatch: `re.match` lets `$` match before a trailing newline ("embed\n" would pass).
KEY = re.compile(r"[a-z]([-a-z0-9]{0,28}[a-z0-9])?")
ENTRY: dict[str, TypeAdapter[Any]] = {
    "nodePools": TypeAdapter(NodePoolConfig),
    "services": TypeAdapter(ServiceConfig),
    "computeClasses": TypeAdapter(ComputeClassConfig),
}
# The model an entry of a map section is validated as (a service's follows its runtime); None: unknown.
MODEL_OF: dict[str, Callable[[Any], type[BaseModel] | None]] = {
    "nodePools": lambda _entry: NodePoolConfig,
    "services": lambda entry: _runtime_model(entry),
    "computeClasses": lambda _entry: ComputeClassConfig,
}
SECTIONS: dict[str, TypeAdapter[Any]] = {
    "cluster": TypeAdapter(ClusterConfig),
    "nodePools": TypeAdapter(dict[str, NodePoolConfig]),
    "gateway": TypeAdapter(GatewayConfig),
    "services": TypeAdapter(dict[str, ServiceConfig]),
    "monitoring": TypeAdapter(MonitoringConfig),
    "modelMirror": TypeAdapter(ModelMirrorConfig | None),
    "computeClasses": TypeAdapter(dict[str, ComputeClassConfig]),
}
# Sections whose absence means "off" (None), not a required key or an empty default.
OFF_WHEN_ABSENT = ("modelMirror",)
REQUIRED = ("gcp:project", "gcp:region", f"{PROJECT}:cluster", f"{PROJECT}:nodePools", f"{PROJECT}:hfToken")
PROJECT_ID = re.compile(r"[a-z][-a-z0-9]{4,28}[a-z0-9]")  # fullmatch, as KEY


@dataclass(frozen=True)
class Environment:
    project: str
    region: str
    cluster: ClusterConfig
    node_pools: dict[str, NodePoolConfig]
    gateway: GatewayConfig
    services: dict[str, ServiceConfig]
    warnings: tuple[str, ...]
    monitoring: MonitoringConfig  # absent in the file: dashboard and alerts without channels
    model_mirror: ModelMirrorConfig | None = None  # absent: every server downloads from the Hub
    compute_classes: Mapping[str, ComputeClassConfig] = field(default_factory=dict)  # absent: pools only

    def pool_zones(self, pool: NodePoolConfig) -> tuple[str, ...]:
        """The pool's node locations: its own zones, else the cluster's zones that offer its GPU."""
        return pool_zones(self.region, self.cluster.location, pool)

    def class_zones(self) -> dict[str, tuple[tuple[str, ...], ...]]:
        """Per compute class, the zones of each option in order (catalog/gpu_zones.yaml, or its reservation's)."""
        return {
            name: tuple(option_zones(self.region, self.cluster.location, o) for o in chosen.options)
            for name, chosen in self.compute_classes.items()
        }

    def shapes(self, service: ServiceConfig) -> tuple[Shape, ...]:
        """Every node shape the service's pods may land on: its pool's, or each option of its class in order."""
        return service_shapes(self.region, self.cluster.location, service, self.node_pools, self.compute_classes)

    def gke_floor(self) -> Floor | None:
        """The GKE version the control plane must run at least: the highest floor of the features used."""
        used = {INFERENCE_GATEWAY: bool(picked(self.services)), COMPUTE_CLASSES: bool(self.compute_classes)}
        return highest(floor for floor, on in used.items() if on)


# A check of the whole environment that lives above config (workloads/weights_fit.py): config must not import it.
EnvironmentCheck = Callable[["Environment"], list[Problem]]


def parse_environment(
    raw: Mapping[str, Any], *, stack: str | None = None, checks: Sequence[EnvironmentCheck] = ()
) -> Environment:
    """`raw` maps config keys (`gcp:project`, `gke-serving:services`, ...) to decoded values; `stack`
    names the environment, whose exposure rules then apply (config/gateway_checks.py). `checks` run on
    the parsed environment, and their problems join the same report: whenever every section parsed,
    even if other checks found problems (then a check that trips over one of those waits for the next run)."""
    leaks = _credentials(raw)
    problems = [*leaks, *_top_level(raw)]
    # Every stage runs on what the earlier ones could parse, so one run reports every mistake it can:
    # a broken pool or service entry is left out of the cross-checks, not the whole section.
    sections, broken = _sections(raw, problems)
    region = raw.get("gcp:region")
    cluster, pools, gateway = sections.get("cluster"), sections.get("nodePools"), sections.get("gateway")
    services: dict[str, ServiceConfig] | None = sections.get("services")
    classes: dict[str, ComputeClassConfig] = sections.get("computeClasses") or {}
    if cluster is not None and pools is not None and isinstance(region, str):
        problems.extend(check_platform(region, cluster, pools))
        problems.extend(check_classes(region, cluster, classes))
    if cluster is not None and pools is not None and services is not None:
        problems.extend(_names(cluster, pools, services))
    if cluster is not None and services is not None:
        problems.extend(check_routing(cluster, services))
    if gateway is not None and cluster is not None:
        problems.extend(check_gateway(gateway, cluster))
    exposure = check_exposure(gateway, services, stack) if gateway is not None and services is not None else None
    problems.extend(exposure.problems if exposure else [])
    findings = None
    if services is not None and pools is not None and gateway is not None:
        # A service on a pool that did not parse is checked once the pool is fixed.
        # A service on a class that did not parse likewise.
        checkable = {
            n: s
            for n, s in services.items()
            if s.pool not in broken["nodePools"] and s.compute_class not in broken["computeClasses"]
        }
        shapes = (
            {n: service_shapes(region, cluster.location, s, pools, classes) for n, s in checkable.items()}
            if cluster is not None and isinstance(region, str)
            else {}
        )
        findings = check_services(checkable, pools, gateway, classes, shapes)
        problems.extend(findings.problems)
    if services is not None and "modelMirror" in sections:
        problems.extend(check_loads(services, sections["modelMirror"] is not None, pools, classes))
    problems.extend(_buckets(sections.get("modelMirror"), cluster, raw.get("gcp:project"), services or {}))
    problems.extend(_channels_in_project(raw.get("gcp:project"), sections.get("monitoring")))
    if gateway is not None and gateway.iap is not None and raw.get(IAP_SECRET) in (None, ""):
        problems.append(
            Problem(
                IAP_SECRET,
                "gateway.iap needs the OAuth client's secret",
                "run `pulumi config set --secret iapClientSecret <the client's secret>`",
            )
        )
    if any(broken.values()) or len(sections) < len(SECTIONS):
        raise InvalidEnvironment(_without_echoes(problems, leaks))
    # Every section parsed and every check ran; this only narrows the types.
    if cluster is None or pools is None or gateway is None or services is None or not isinstance(region, str):
        raise InvalidEnvironment(_without_echoes(problems, leaks))
    # A missing project is a problem already (_top_level); any other value reads as text, as before.
    if exposure is None or findings is None or raw.get("gcp:project") in (None, ""):
        raise InvalidEnvironment(_without_echoes(problems, leaks))
    env = Environment(
        project=str(raw["gcp:project"]),
        region=region,
        cluster=cluster,
        node_pools=pools,
        gateway=gateway,
        services=services,
        warnings=(
            *exposure.warnings,
            *findings.warnings,
            *load_warnings(services, sections["modelMirror"] is not None),
        ),
        monitoring=sections["monitoring"],
        model_mirror=sections["modelMirror"],
        compute_classes=classes,
    )
    problems.extend(_run_checks(env, checks, quiet_failures=bool(problems)))
    if problems:
        raise InvalidEnvironment(_without_echoes(problems, leaks))
    return env


def _run_checks(env: Environment, checks: Sequence[EnvironmentCheck], *, quiet_failures: bool) -> list[Problem]:
    """The problems of each check; with other problems already found, a check that fails on the environment
    they leave (an exception) is skipped, its own problems then shown once those are fixed."""
    found = []
    for check in checks:
        try:
            found += check(env)
        except Exception:
            if not quiet_failures:
                raise
    return found


def _sections(raw: Mapping[str, Any], problems: list[Problem]) -> tuple[dict[str, Any], dict[str, set[str]]]:
    """The sections that parse; in the maps (nodePools, services) every entry that parses, with the
    keys of those that do not (`broken`). Problems are appended to `problems`."""
    sections: dict[str, Any] = {}
    broken: dict[str, set[str]] = {"nodePools": set(), "services": set(), "computeClasses": set()}
    for key, adapter in SECTIONS.items():
        value = raw.get(f"{PROJECT}:{key}")
        if value in (None, "") and key in OFF_WHEN_ABSENT:
            sections[key] = None
            continue
        if value in (None, ""):  # absent or empty (`services:` with nothing under it)
            if key not in ("gateway", "services", "monitoring", "computeClasses"):
                continue  # a required key, reported as missing
            value = {}
        if key in broken and isinstance(value, dict):
            sections[key] = _entries(key, value, problems, broken[key])
            continue
        try:
            sections[key] = adapter.validate_python(value)
        except ValidationError as e:
            problems.extend(problems_from(e, f"{PROJECT}:{key}", skip=RUNTIMES))
    for key, keys in broken.items():
        bad = _map_keys(key, raw.get(f"{PROJECT}:{key}"))
        problems.extend(bad)
        if bad:
            keys.add("(a key)")
    return sections, broken


def _runtime_model(entry: Any) -> type[BaseModel] | None:
    runtime = entry.get("runtime") if isinstance(entry, dict) else None
    return REGISTRY[runtime].config if isinstance(runtime, str) and runtime in REGISTRY else None


def _entries(section: str, value: dict[Any, Any], problems: list[Problem], broken: set[str]) -> dict[str, Any]:
    """Each entry of a map section validated on its own, so one bad entry hides no other's problems. A bad
    entry whose other keys still read is kept without its bad keys (`salvage`): the cross-field, catalog
    and fidelity checks then report on the rest of it in the same run; it stays `broken`."""
    adapter = ENTRY[section]
    parsed = {}
    for name, entry in value.items():
        root = f"{PROJECT}:{section}.{shown_key(name)}"
        try:
            parsed[name] = adapter.validate_python(entry)
        except ValidationError as e:
            found, rest = salvage(adapter, entry, e, MODEL_OF[section](entry))
            problems.extend(p for error in found for p in problems_from(error, root, skip=RUNTIMES, tags_from=0))
            broken.add(str(name))
            if rest is not None:
                parsed[name] = rest
    return parsed


def _top_level(raw: Mapping[str, Any]) -> list[Problem]:
    problems = []
    for key in REQUIRED:
        if raw.get(key) in (None, ""):
            fix = (
                "run `pulumi config set --secret hfToken hf_...` (a read token from huggingface.co)"
                if key.endswith("hfToken")
                else "add it to the environment file"
            )
            problems.append(Problem(key, "required key is missing", fix))
    known = {f"{PROJECT}:{k}" for k in (*SECTIONS, *SECRETS)}
    for key in raw:
        namespace, colon, name = key.partition(":")
        if not colon:
            namespaced = f"gcp:{key}" if key in ("project", "region") else f"{PROJECT}:{shown_key(key)}"
            problems.append(Problem(shown_key(key), "a config key needs its namespace", f"write '{namespaced}'"))
        elif namespace != PROJECT and closest(namespace, [PROJECT]):
            # A misspelt project namespace would otherwise be taken for some provider's config and ignored.
            problems.append(
                Problem(shown_key(key), "unknown namespace", f"did you mean '{PROJECT}:{shown_key(name)}'?")
            )
        elif key.startswith(f"{PROJECT}:") and key not in known:
            hint = closest(key, sorted(known))
            problems.append(
                Problem(
                    shown_key(key),
                    "unknown key",
                    f"did you mean '{hint}'?" if hint else f"allowed keys: {', '.join(sorted(known))}",
                )
            )
    project = raw.get("gcp:project")
    if isinstance(project, str) and project and not PROJECT_ID.fullmatch(project):
        problems.append(
            Problem(
                "gcp:project",
                f"{project!r} is not a GCP project id",
                "use 6-30 lowercase letters, digits and hyphens, starting with a letter",
            )
        )
    if "gcp:region" in raw and not isinstance(raw["gcp:region"], str):
        problems.append(Problem("gcp:region", f"{raw['gcp:region']!r} is not a region name", "write e.g. us-central1"))
    if f"{PROJECT}:nodePools" in raw and raw[f"{PROJECT}:nodePools"] == {}:
        problems.append(Problem(f"{PROJECT}:nodePools", "no GPU pool is defined", "add at least one pool"))
    return problems


def _credentials(raw: Mapping[str, Any]) -> list[Problem]:
    """A credential pasted into a plain setting would be written to the plan, the manifests and the
    stack state: refused before anything is, without echoing it. Secret keys hold credentials by
    design: the project's own and any other the stack marks secret (`pulumi config set --secret`)."""
    secret = {f"{PROJECT}:{name}" for name in SECRETS} | set(get_config_secret_keys_env())
    return [
        Problem(
            path,
            f"holds what looks like {kind}",
            credential_fix(path),
        )
        for path, kind in credentials_in({k: v for k, v in raw.items() if k not in secret and not is_config_secret(k)})
    ]


def _without_echoes(problems: list[Problem], leaks: list[Problem]) -> list[Problem]:
    """Other problems of a setting that holds a credential would print it (`'hf_...' does not have
    the expected form`): the credential's own problem is enough."""
    leaked = {p.path for p in leaks}
    return [
        p for p in problems if p in leaks or not any(p.path == path or p.path.startswith(f"{path}.") for path in leaked)
    ]


def _names(cluster: ClusterConfig, pools: Mapping[str, Any], services: Mapping[str, ServiceConfig]) -> list[Problem]:
    """Names the platform takes for its own objects are refused as user names, with the list; the
    Google service account ids the environment derives must differ (naming.py)."""
    problems = []
    reserved = naming.reserved_service_names()
    for name in services:
        if why := naming.why_reserved(name):
            problems.append(
                Problem(
                    f"{PROJECT}:services.{name}",
                    f"{name!r} is a reserved name ({why})",
                    f"rename the service; reserved service names: {', '.join(reserved)}",
                )
            )
    for name in pools:
        if why := naming.RESERVED_POOL_NAMES.get(name):
            problems.append(
                Problem(
                    f"{PROJECT}:nodePools.{name}",
                    f"{name!r} is a reserved name ({why})",
                    f"rename the pool; reserved pool names: {', '.join(naming.RESERVED_POOL_NAMES)}",
                )
            )
    # A service whose server reads a bucket gets a Google service account of its own.
    readers = [name for name, service in services.items() if runtime_of(service).bucket(service)]
    ids = naming.account_ids(cluster.name, readers)
    for account_id, owners in naming.duplicates((i, (whose, service)) for i, whose, service in ids).items():
        (first, _), *others = owners
        for whose, service in others:
            path, renamed = (
                (f"{PROJECT}:services.{service}", "service") if service else (f"{PROJECT}:cluster.name", "cluster")
            )
            problems.append(
                Problem(
                    path,
                    f"{whose} would get the Google service account id {account_id!r}, which {first} already has",
                    f"rename the {renamed}: a service account id is unique in the project",
                )
            )
    return problems


def _buckets(
    mirror: ModelMirrorConfig | None, cluster: ClusterConfig | None, project: Any, services: Mapping[str, ServiceConfig]
) -> list[Problem]:
    """Bucket names the config gives or derives, by Cloud Storage's naming rules (settings/names.py): the
    mirror's (its own, or the one generated from the cluster's name) and each Triton repository's."""
    given = f"use {BUCKET_RULES}"
    named: list[tuple[str, str | None, str]] = []
    if mirror is not None and mirror.bucket is not None:
        named.append((f"{PROJECT}:modelMirror.bucket", mirror.bucket, given))
    elif mirror is not None and cluster is not None and isinstance(project, str):
        generated = bucket_name(mirror, cluster.name, project)
        fix = f"rename the cluster, or name the bucket in modelMirror.bucket ({BUCKET_RULES})"
        named.append((f"{PROJECT}:cluster.name", generated, fix))
    named += [
        (f"{PROJECT}:services.{name}.modelRepository", runtime_of(s).bucket(s), given) for name, s in services.items()
    ]
    return [
        Problem(path, f"the bucket name {bucket!r} {why}", fix)
        for path, bucket, fix in named
        if bucket is not None and (why := bucket_name_problem(bucket))
    ]


def _channels_in_project(project: Any, monitoring: MonitoringConfig | None) -> list[Problem]:
    """An alert policy notifies only channels of its own project: Cloud Monitoring refuses another's."""
    if not isinstance(project, str) or monitoring is None:
        return []
    return [
        Problem(
            f"{PROJECT}:monitoring.channels.{i}",
            f"the channel belongs to project {channel.split('/')[1]!r}, and the alerts live in gcp:project {project!r}",
            f"name a channel of {project} (projects/{project}/notificationChannels/<id>), or create one there",
        )
        for i, channel in enumerate(monitoring.channels)
        if channel.split("/")[1] != project
    ]


def _map_keys(section: str, value: Any) -> list[Problem]:
    if not isinstance(value, dict):
        return []
    return [
        Problem(
            f"{PROJECT}:{section}.{shown_key(key)}",
            f"{key!r} is not a valid name",
            "use at most 30 lowercase letters, digits and hyphens, starting with a letter",
        )
        for key in value
        if not isinstance(key, str) or not KEY.fullmatch(key)
    ]


def decode(value: Any) -> Any:
    """Pulumi hands structured config to the program as JSON text."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value
