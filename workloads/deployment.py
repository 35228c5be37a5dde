"""The Deployment of a model server as plain manifest data (pure; the component registers it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.compute_classes import COMPUTE_CLASS_LABEL
from infra.secrets import HF_TOKEN_KEY
from loads import PodAdditions
from loads.hub import TMP_GIB
from settings.service_base import MODEL_ANNOTATION
from workloads.pod_resources import PodResources
from workloads.server import ServerSpec

# The pod label the endpoint picker reads a pod's engine from, to know its metrics' names (llm-d-router v0.10.0
# pkg/epp/framework/plugins/datalayer/extractor/metrics/mapping_registry.go DefaultEngineTypeLabelKey).
ENGINE_LABEL = "llm-d.ai/engine-type"
PRESTOP_SECONDS = 30  # the load balancer needs this long to stop sending new requests to the pod
API_KEY_SECRET_KEY = "api-key"  # noqa: S105 (a name, not a secret)


@dataclass(frozen=True)
class Placement:
    accelerator: str
    pool: str | None  # None: the pods select a compute class
    gpus: int
    compute_class: str | None = None


def node_selector(place: Placement) -> dict[str, str]:
    """A class's pods select the class only: GKE puts them on its options, and a hard selector of one GPU type
    or pool would keep them off every other option (next-wave-facts §4)."""
    if place.compute_class is not None:
        return {COMPUTE_CLASS_LABEL: place.compute_class}
    if place.pool is None:
        raise ValueError("a placement names a node pool or a compute class")
    return {"cloud.google.com/gke-accelerator": place.accelerator, "cloud.google.com/gke-nodepool": place.pool}


def tolerations(place: Placement) -> list[dict[str, str]]:
    """GPU nodes carry the nvidia.com/gpu taint; a class's nodes also its own (GKE adds the toleration to pods that
    select the class; written out, the pod schedules whatever admission does)."""
    gpu = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    if place.compute_class is None:
        return gpu
    own = {"key": COMPUTE_CLASS_LABEL, "operator": "Equal", "value": place.compute_class, "effect": "NoSchedule"}
    return [*gpu, own]


@dataclass(frozen=True)
class Secrets:
    hf_token: str | None  # Kubernetes Secret holding HF_TOKEN
    api_key: str | None  # Kubernetes Secret holding the service's API key


def labels(name: str, runtime: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": "model-server",
        "app.kubernetes.io/part-of": "gke-serving",
        "app.kubernetes.io/managed-by": "pulumi",
        "gke-serving/runtime": runtime,
    }


def selector(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": name}


def spread(match_labels: dict[str, str]) -> list[dict[str, Any]]:
    """Replicas across zones, then nodes, where the pool allows; ScheduleAnyway: a one-node pool still runs them
    all rather than leaving one Pending until it grows."""
    return [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": match_labels},
        }
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
    ]


def nonroot_security(uid: int) -> dict[str, Any]:
    """The pod security context of an image built to run as `uid` (distroless nonroot: 65532): that user and
    group, never root, the runtime's default seccomp profile."""
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid, "seccompProfile": {"type": "RuntimeDefault"}}


def grace_seconds(spec: ServerSpec) -> int:
    """The server pod's termination grace: the preStop sleep, the server's own shutdown, and a margin."""
    return PRESTOP_SECONDS + spec.shutdown_seconds + 10


def _env(spec: ServerSpec, secrets: Secrets) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in spec.env.items()]
    if secrets.hf_token:
        env.append({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": secrets.hf_token, "key": HF_TOKEN_KEY}}})
    if spec.api_key_env and secrets.api_key:
        env.append(
            {
                "name": spec.api_key_env,
                "valueFrom": {"secretKeyRef": {"name": secrets.api_key, "key": API_KEY_SECRET_KEY}},
            }
        )
    return env


def _volumes(spec: ServerSpec, weights: PodAdditions) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": f"{TMP_GIB}Gi"}}]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]  # noqa: S108 (a volume, not a temp file)
    volumes += weights.volumes
    mounts += weights.mounts
    if spec.shm_gib:
        # The runtime asks for it: NCCL across GPUs, or engine processes that share tensors.
        volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{spec.shm_gib}Gi"}})
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})  # noqa: S108
    return volumes, mounts


def _security(spec: ServerSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    pod: dict[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}}
    if spec.run_as_user is not None:
        # The user and group the image documents: it owns the paths the server writes.
        group = spec.run_as_group if spec.run_as_group is not None else spec.run_as_user
        pod |= {"runAsNonRoot": True, "runAsUser": spec.run_as_user, "runAsGroup": group, "fsGroup": group}
    container = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": spec.read_only_root,
    }
    return pod, container


def deployment_spec(
    name: str,
    spec: ServerSpec,
    res: PodResources,
    place: Placement,
    secrets: Secrets,
    *,
    probes: dict[str, dict[str, Any]],
    rollout_deadline: int,
    replicas: int | None,
    min_replicas: int,
    service_account: str | None,
    model: str,
    annotations: dict[str, str],
    weights: PodAdditions,
) -> dict[str, Any]:
    """`replicas` None leaves the count to a HorizontalPodAutoscaler, which keeps at least `min_replicas`.
    `weights`: what the service's load path adds (a wait for the mirror copy, volumes, the FUSE sidecar's
    requests as annotations, which pod-fits-node adds)."""
    volumes, mounts = _volumes(spec, weights)
    annotations = {**annotations, **weights.annotations}
    pod_security, container_security = _security(spec)
    ports = [{"name": "http", "containerPort": spec.port, "protocol": "TCP"}]
    if spec.metrics_port != spec.port:
        ports.append({"name": "metrics", "containerPort": spec.metrics_port, "protocol": "TCP"})
    requests = {
        "cpu": res.cpu,
        "memory": res.memory,
        "ephemeral-storage": res.ephemeral_storage,
        "nvidia.com/gpu": str(place.gpus),
    }
    container = {
        "name": "server",
        "image": spec.image,
        **({"command": spec.command} if spec.command is not None else {}),
        "args": spec.args,
        "env": _env(spec, secrets),
        "ports": ports,
        # Requests equal limits: a Guaranteed pod is the last to be evicted from a GPU node.
        "resources": {"requests": requests, "limits": dict(requests)},
        "volumeMounts": mounts,
        "securityContext": container_security,
        "lifecycle": {"preStop": {"sleep": {"seconds": PRESTOP_SECONDS}}},
        **probes,
    }
    others_keep_serving = min_replicas >= 2
    pod_labels = labels(name, spec.runtime)
    if spec.picker_engine is not None:
        pod_labels[ENGINE_LABEL] = spec.picker_engine
    return {
        **({"replicas": replicas} if replicas is not None else {}),
        "selector": {"matchLabels": selector(name)},
        "revisionHistoryLimit": 3,
        # With at least two replicas, one is replaced at a time and the others keep serving, without an
        # extra GPU. With one (fixed, or an HPA that may hold one), the new replica starts before the old
        # one stops: the only serving replica never goes first (the pool must have room for the surge).
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {
                "maxSurge": 0 if others_keep_serving else 1,
                "maxUnavailable": 1 if others_keep_serving else 0,
            },
        },
        # Past this the Deployment reports ProgressDeadlineExceeded and the update fails.
        "progressDeadlineSeconds": rollout_deadline,
        "template": {
            "metadata": {"labels": pod_labels, "annotations": {MODEL_ANNOTATION: model, **annotations}},
            "spec": {
                **({"initContainers": list(weights.init_containers)} if weights.init_containers else {}),
                "containers": [container],
                "volumes": volumes,
                "nodeSelector": node_selector(place),
                "tolerations": tolerations(place),
                "topologySpreadConstraints": spread(selector(name)),
                "securityContext": pod_security,
                **({"serviceAccountName": service_account} if service_account else {}),
                # Servers never call the Kubernetes API; Workload Identity needs no token either.
                "automountServiceAccountToken": False,
                "terminationGracePeriodSeconds": grace_seconds(spec),
                # A Service named `vllm` would inject VLLM_PORT=tcp://..., which vLLM reads and rejects.
                "enableServiceLinks": False,
            },
        },
    }
