"""The Deployment of a model server as plain manifest data (pure; the component registers it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from catalog.node_model import gcsfuse_sidecar
from config.mirror import HYPERDISK_ML, MOUNT_ROOT
from config.service_base import MODEL_ANNOTATION
from infra.secrets import HF_TOKEN_KEY
from workloads.pod_resources import PodResources
from workloads.server import ServerSpec

PRESTOP_SECONDS = 30  # the load balancer needs this long to stop sending new requests to the pod
TMP_GIB = 4  # scratch space for /tmp (compile caches, downloads in flight)
API_KEY_SECRET_KEY = "api-key"  # noqa: S105 (a name, not a secret)
# A server that reads the mirror still writes small files under its Hugging Face cache path (the
# streamer's config and tokenizer copies, lock files): that much, not the checkpoint.
METADATA_CACHE_GIB = 1
GCSFUSE_DRIVER = "gcsfuse.csi.storage.gke.io"
# The mirror prefix is immutable (a commit), so metadata never needs refreshing (ttl -1); parallel
# downloads fill the file cache with several ranges of each file at once (they need the file cache).
# GKE docs, "Optimize Cloud Storage FUSE CSI driver performance" / "Cloud Storage FUSE for serving".
GCSFUSE_MOUNT_OPTIONS = ",".join(
    (
        "implicit-dirs",  # `gcloud storage`/the client upload no folder objects
        "metadata-cache:ttl-secs:-1",
        "metadata-cache:stat-cache-max-size-mb:-1",
        "metadata-cache:type-cache-max-size-mb:-1",
        "file-cache:enable-parallel-downloads:true",
        "file-cache:parallel-downloads-per-file:16",
        "file-cache:download-chunk-size-mb:10",
    )
)
GCSFUSE_CACHE_VOLUME = "gke-gcsfuse-cache"  # the name the driver takes as the file cache's volume


@dataclass(frozen=True)
class Placement:
    accelerator: str
    pool: str
    gpus: int


@dataclass(frozen=True)
class MirrorMount:
    """How a pod that loads from the mirror waits for it and, through gcsfuse, caches it."""

    file_cache_gib: int  # the gcsfuse file cache on the node's ephemeral storage; 0 for the streamer
    wait_seconds: int  # how long the init container waits for the mirror copy's marker
    wait_container: dict[str, Any]
    claim: str | None = None  # the ReadOnlyMany Hyperdisk ML claim of `load: hyperdiskml`


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


def _mib(quantity: str) -> int:
    """ "335Gi" or "2048Mi" (the forms resources and the config allow) in MiB."""
    return int(quantity[:-2]) * 1024 if quantity.endswith("Gi") else int(quantity.removesuffix("Mi"))


def _volumes(
    spec: ServerSpec, res: PodResources, mirror: MirrorMount | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": f"{TMP_GIB}Gi"}}]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]  # noqa: S108 (a volume, not a temp file)
    if spec.weights is not None and spec.cache_path:
        volumes.append({"name": "model-cache", "emptyDir": {"sizeLimit": f"{METADATA_CACHE_GIB}Gi"}})
        mounts.append({"name": "model-cache", "mountPath": spec.cache_path})
    if spec.weights is not None and spec.weights.load == "gcsfuse" and mirror is not None:
        volumes.append(
            {
                "name": "model-mirror",
                "csi": {
                    "driver": GCSFUSE_DRIVER,
                    "readOnly": True,
                    "volumeAttributes": {
                        "bucketName": spec.weights.bucket,
                        "mountOptions": GCSFUSE_MOUNT_OPTIONS,
                        "fileCacheCapacity": f"{mirror.file_cache_gib}Gi",
                        "fileCacheForRangeRead": "true",  # safetensors are read by ranges
                    },
                },
            }
        )
        # On the node's ephemeral storage: the local SSDs where the pool has them, else the boot disk.
        volumes.append({"name": GCSFUSE_CACHE_VOLUME, "emptyDir": {"sizeLimit": f"{mirror.file_cache_gib}Gi"}})
        mounts.append({"name": "model-mirror", "mountPath": MOUNT_ROOT, "readOnly": True})
    elif spec.weights is not None and spec.weights.load == HYPERDISK_ML and mirror is not None and mirror.claim:
        # One Hyperdisk ML volume per model@commit, attached READ_ONLY_MANY to every replica's node; mounted
        # where a gcsfuse pod sees the same prefix, so the server's arguments name that folder.
        volumes.append({"name": "model-mirror", "persistentVolumeClaim": {"claimName": mirror.claim, "readOnly": True}})
        mounts.append({"name": "model-mirror", "mountPath": spec.weights.path, "readOnly": True})
    elif spec.cache_path and spec.weights is None:
        # Weights land on the node's ephemeral storage: no PVC to provision, gone with the pod.
        # Both volumes count against the pod's ephemeral-storage limit: the cache gets the rest of it.
        cache_mib = max(_mib(res.ephemeral_storage) - TMP_GIB * 1024, 1024)
        volumes.append({"name": "model-cache", "emptyDir": {"sizeLimit": f"{cache_mib}Mi"}})
        mounts.append({"name": "model-cache", "mountPath": spec.cache_path})
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
    mirror: MirrorMount | None = None,
) -> dict[str, Any]:
    """`replicas` None leaves the count to a HorizontalPodAutoscaler, which keeps at least `min_replicas`.
    With `mirror`, the pod waits for the mirror copy's marker first (init container) and, for gcsfuse,
    mounts the bucket read-only with the FUSE sidecar's requests in annotations (pod-fits-node adds them)."""
    volumes, mounts = _volumes(spec, res, mirror)
    if spec.weights is not None and spec.weights.load == "gcsfuse":
        sidecar = gcsfuse_sidecar()
        annotations = {
            **annotations,
            "gke-gcsfuse/volumes": "true",
            "gke-gcsfuse/cpu-request": sidecar["cpu"],
            "gke-gcsfuse/memory-request": sidecar["memory"],
            "gke-gcsfuse/ephemeral-storage-request": sidecar["ephemeralStorage"],
        }
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
                **({"initContainers": [mirror.wait_container]} if mirror is not None else {}),
                "containers": [container],
                "volumes": volumes,
                "nodeSelector": {
                    "cloud.google.com/gke-accelerator": place.accelerator,
                    "cloud.google.com/gke-nodepool": place.pool,
                },
                "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                "topologySpreadConstraints": [
                    {
                        "maxSkew": 1,
                        "topologyKey": key,
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": {"matchLabels": selector(name)},
                    }
                    for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
                ],
                "securityContext": pod_security,
                **({"serviceAccountName": service_account} if service_account else {}),
                # Servers never call the Kubernetes API; Workload Identity needs no token either.
                "automountServiceAccountToken": False,
                "terminationGracePeriodSeconds": PRESTOP_SECONDS + spec.shutdown_seconds + 10,
                # A Service named `vllm` would inject VLLM_PORT=tcp://..., which vLLM reads and rejects.
                "enableServiceLinks": False,
            },
        },
    }
