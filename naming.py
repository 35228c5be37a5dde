"""The names the program derives from the environment's own names, in one home: each is unique by
construction where a length limit cuts it, and the environment's names cannot take one of them.

Limits, with their sources:
- Google service account ids: 6-30 characters, `[a-z][-a-z0-9]{4,28}[a-z0-9]` (IAM API,
  projects.serviceAccounts.create, `accountId`); unique per project, whatever the environment.
- Kubernetes object names in the serving namespace: a Service's name is an RFC 1035 DNS label,
  at most 63 characters (Kubernetes "Object Names and IDs"); the other objects take the same names.
- GKE node pool names: the cluster's own pools share one namespace of names (the system pool's,
  and GKE's `default-pool`, created with the cluster and then removed).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Hashable, Iterable
from typing import TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

HASH_CHARS = 6  # 24 bits of sha256: a chance collision of two given names is ~6e-8
ACCOUNT_ID = re.compile(r"[a-z][-a-z0-9]{4,28}[a-z0-9]")  # used with fullmatch
ACCOUNT_ID_MIN, ACCOUNT_ID_MAX = 6, 30
DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")  # RFC 1035 label, used with fullmatch


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]


def within(name: str, limit: int, minimum: int = 1) -> str:
    """`name` itself when it fits; otherwise its head, a hyphen and a hash of the whole name, so two
    names that share the head still differ and the result never ends in a hyphen. (A short name
    could still spell another's hashed form: config checks the ids it derives for duplicates.)"""
    if not name[:1].isalpha():
        raise ValueError(f"{name!r} must start with a letter")
    if minimum <= len(name) <= limit and not name.endswith("-"):
        return name
    head = name[: limit - HASH_CHARS - 1].rstrip("-")
    return f"{head}-{short_hash(name)}"


# Google service accounts, one project-wide namespace of ids.
def node_account_id(cluster: str) -> str:
    return within(f"{cluster}-nodes", ACCOUNT_ID_MAX, ACCOUNT_ID_MIN)


def metrics_account_id(cluster: str) -> str:
    return within(f"{cluster}-metrics", ACCOUNT_ID_MAX, ACCOUNT_ID_MIN)


def bucket_reader_account_id(cluster: str, service: str) -> str:
    """The account of a service that reads its own bucket (Triton's model repository, say):
    `<cluster>-<service>`, as two environments in one project may both have a service of one name."""
    return within(f"{cluster}-{service}", ACCOUNT_ID_MAX, ACCOUNT_ID_MIN)


def mirror_writer_account_id(cluster: str) -> str:
    return within(f"{cluster}-mirror", ACCOUNT_ID_MAX, ACCOUNT_ID_MIN)


def mirror_reader_account_id(cluster: str) -> str:
    return within(f"{cluster}-models", ACCOUNT_ID_MAX, ACCOUNT_ID_MIN)


def account_ids(cluster: str, bucket_readers: Iterable[str]) -> list[tuple[str, str, str | None]]:
    """(id, whose, service or None) of every Google service account an environment creates. The
    adapter's counts whether or not a service autoscales: turning autoscaling on must not collide."""
    return [
        (node_account_id(cluster), "the node service account", None),
        (metrics_account_id(cluster), "the metrics adapter's service account", None),
        (mirror_writer_account_id(cluster), "the model mirror's writer service account", None),
        (mirror_reader_account_id(cluster), "the model mirror's reader service account", None),
        *((bucket_reader_account_id(cluster, s), f"the service account of service {s!r}", s) for s in bucket_readers),
    ]


# Kubernetes objects of the serving namespace: the platform's own, then each service's.
DEFAULT_DENY_POLICY = "default-deny-ingress"
GATEWAY = "gateway"  # the Gateway object in the serving namespace
HF_TOKEN_SECRET = "hf-token"  # noqa: S105 (a name): the Secret the model servers read HF_TOKEN from
IAP_SECRET = "iap-oauth-client"  # noqa: S105 (a name): the IAP OAuth client's secret
MIRROR_WRITER_KSA = "model-mirror"  # the mirror Jobs' Kubernetes service account
MIRROR_READER_KSA = "model-reader"  # the serving pods' that load from the mirror
BODY_ROUTER = (
    "body-based-router"  # the shared /v1 endpoint's router: reads `model` from the body (workloads/body_routing.py)
)
PLATFORM_OBJECTS = (
    ("NetworkPolicy", DEFAULT_DENY_POLICY),
    ("Gateway", GATEWAY),
    ("Secret", HF_TOKEN_SECRET),
    ("Secret", IAP_SECRET),
    ("Deployment", BODY_ROUTER),
    ("Service", BODY_ROUTER),
    ("ServiceAccount", BODY_ROUTER),
    ("Role", BODY_ROUTER),
    ("RoleBinding", BODY_ROUTER),
    ("PodDisruptionBudget", BODY_ROUTER),
    ("GCPRoutingExtension", BODY_ROUTER),
    ("HealthCheckPolicy", BODY_ROUTER),
    ("NetworkPolicy", f"{BODY_ROUTER}-ingress"),
)
# The model mirror's objects: its two service accounts (a service's own Kubernetes one is `<service>-triton`, which never
# spells these) and its Jobs, `mirror-<hash of model@commit>` (settings/mirror.py job_name; no service
# object is a Job). None of them can take a service's object's name, so no service name is reserved for them.
MIRROR_SCRIPTS = "model-mirror-scripts"  # the ConfigMap holding the mirror Jobs' scripts and package locks
MIRROR_OBJECTS = (
    ("ServiceAccount", MIRROR_WRITER_KSA),
    ("ServiceAccount", MIRROR_READER_KSA),
    ("ConfigMap", MIRROR_SCRIPTS),
)
HYPERDISK_FILL_SUFFIX = "-fill"


def hyperdisk_name(model: str, commit: str) -> str:
    """`hdml-<hash of model@commit>`: a Hyperdisk ML copy's fill Job, snapshot, claim and StorageClass."""
    return f"hdml-{short_hash(f'{model}@{commit}')}"


def hyperdisk_objects(name: str) -> tuple[tuple[str, str], ...]:
    """The serving-namespace objects of one Hyperdisk ML copy (workloads/hyperdisk_ml.py)."""
    return (
        ("Job", name),
        ("PersistentVolumeClaim", f"{name}{HYPERDISK_FILL_SUFFIX}"),
        ("VolumeSnapshot", name),
        ("PersistentVolumeClaim", name),
    )


INGRESS_SUFFIX = "-ingress"
# A picker-routed service's endpoint picker objects, its shared-endpoint route and its body-router ConfigMap.
PICKER_SUFFIX = "-picker"
OPENAI_ROUTE_SUFFIX = "-openai"
MODELS_SUFFIX = "-models"
# A bucket reader's Kubernetes service account is `<service>-triton`: Triton was the first to read its
# own bucket, and a new name would replace the service accounts of running servers.
BUCKET_READER_KSA_SUFFIX = "-triton"
# kind -> the suffix a service's object of that kind adds to the service name.
SERVICE_OBJECTS = (
    ("Deployment", ""),
    ("Service", ""),
    ("PodDisruptionBudget", ""),
    ("HorizontalPodAutoscaler", ""),
    ("PodMonitoring", ""),
    ("HTTPRoute", ""),
    ("HealthCheckPolicy", ""),
    ("GCPBackendPolicy", ""),
    ("Secret", "-api-key"),
    ("NetworkPolicy", INGRESS_SUFFIX),
    ("ServiceAccount", BUCKET_READER_KSA_SUFFIX),
    ("InferencePool", ""),
    ("HTTPRoute", OPENAI_ROUTE_SUFFIX),
    ("ConfigMap", MODELS_SUFFIX),
    *(
        (kind, PICKER_SUFFIX)
        for kind in ("Deployment", "Service", "ServiceAccount", "ConfigMap", "Role", "RoleBinding")
    ),
    *((kind, PICKER_SUFFIX) for kind in ("PodDisruptionBudget", "PodMonitoring", "NetworkPolicy")),
)


def bucket_reader_ksa(service: str) -> str:
    """The Kubernetes service account of a service that reads its own bucket."""
    return f"{service}{BUCKET_READER_KSA_SUFFIX}"


def ingress_policy_name(service: str) -> str:
    return f"{service}{INGRESS_SUFFIX}"


def picker_name(service: str) -> str:
    """The objects of a service's endpoint picker (Deployment, Service, ConfigMap, RBAC, ...)."""
    return f"{service}{PICKER_SUFFIX}"


def shared_route_name(service: str) -> str:
    """The service's HTTPRoute on the shared /v1 endpoint."""
    return f"{service}{OPENAI_ROUTE_SUFFIX}"


def models_config_name(service: str) -> str:
    """The body router's ConfigMap naming the service's base model and adapters."""
    return f"{service}{MODELS_SUFFIX}"


def clashes(services: Iterable[str]) -> dict[tuple[str, str], list[str]]:
    """(kind, name) -> the services that would each own that object: a service named `<other>-picker` and
    `<other>`'s endpoint picker, say. Config refuses them (config/routing_checks.py)."""
    return duplicates((obj, service) for service in services for obj in service_objects(service))


def service_objects(service: str) -> list[tuple[str, str]]:
    """(kind, name) of every object a service may own in the serving namespace."""
    return [(kind, f"{service}{suffix}") for kind, suffix in SERVICE_OBJECTS]


def why_reserved(service: str) -> str | None:
    """Why a service may not have this name: it is a platform object's name, or one of its own
    objects would take a platform object's name (`default-deny` -> NetworkPolicy default-deny-ingress)."""
    for kind, name in PLATFORM_OBJECTS:
        if service == name:
            return f"the platform's {kind} in the serving namespace is named so"
    platform = set(PLATFORM_OBJECTS)
    for kind, name in service_objects(service):
        if (kind, name) in platform:
            return f"the service's {kind} would be {name!r} and replace the platform's"
    return None


def reserved_service_names() -> tuple[str, ...]:
    """Every name `why_reserved` refuses: the platform's names, and each of them less a suffix."""
    candidates = {name.removesuffix(suffix) for _, name in PLATFORM_OBJECTS for _, suffix in SERVICE_OBJECTS}
    return tuple(sorted(name for name in candidates if why_reserved(name)))


SYSTEM_POOL = "system"  # the cluster's CPU pool
# pool name -> what has it. GKE creates `default-pool` with the cluster, then removes it
# (remove_default_node_pool): a pool of that name would race the removal.
RESERVED_POOL_NAMES = {
    "default-pool": "GKE's default pool, created with the cluster, is named so",
    SYSTEM_POOL: "the cluster's CPU system pool is named so",
}


def duplicates(named: Iterable[tuple[K, T]]) -> dict[K, list[T]]:
    """name -> its owners in order, for each name more than one owner takes."""
    owners: dict[K, list[T]] = {}
    for name, owner in named:
        owners.setdefault(name, []).append(owner)
    return {name: who for name, who in owners.items() if len(who) > 1}
