"""The bucket copy every mirror load path reads: the mirror Job that fills `<bucket>/<model>/<commit>/` with
exactly the files the servers read, the scripts it runs and their pinned packages, and the init container a
serving pod waits in. Plain manifest data; workloads/model_mirror.py registers it.

The Job runs as nobody (65534) under a read-only root filesystem: every path it writes (its packages, HOME,
TMPDIR, the download) is on its scratch emptyDir, and its code comes from a ConfigMap: the three scripts of
loads/scripts/ and the hash-pinned requirements pip installs with --require-hashes (no unpinned step).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import naming
from settings.mirror import WeightSource

SCRIPTS = Path(__file__).parent / "scripts"
# python:3.12 slim (Debian bookworm), a full version tag; the Job installs its hash-pinned packages at start.
IMAGE = "python:3.12.11-slim-bookworm"
SCRIPTS_CONFIGMAP = naming.MIRROR_SCRIPTS
SCRIPTS_MOUNT = "/job"
SCRIPT_FILES = ("repo_files.py", "mirror_copy.py", "fill_volume.py", "requirements-mirror.txt", "requirements-fill.txt")
RUN_AS = 65534  # nobody: the image's root is not needed, every path written is an emptyDir
SCRATCH = "/scratch"
# [estimate] a Hub download through Cloud NAT at ~40 MiB/s (the hub load path), the upload at ~100 MiB/s
# from a system node, the packages at start; x3 before an attempt is given up on.
JOB_SECONDS_PER_GIB = 40
JOB_FIXED_SECONDS = 300
JOB_MARGIN = 3
JOB_RETRIES = 3
WAIT_POLL_SECONDS = 15
JOB_TTL_SECONDS = 7 * 24 * 3600  # a finished Job stays a week for its logs; a later run finds the marker
# The scratch volume holds one file at a time (downloaded, uploaded, deleted) and the installed packages.
PACKAGES_GIB = 1  # [measured] the mirror's packages take ~120 MiB installed; the fill's ~40 MiB
HEADROOM_GIB = 1  # the container's logs and writable layer, beyond its emptyDir limits
UNKNOWN_GIB = 100.0  # a model of unknown size is sized as a 50B model in bf16


@dataclass(frozen=True)
class Copy:
    """One model@commit in the bucket and the files it holds (path -> bytes)."""

    source: WeightSource
    files: dict[str, int] | None  # None: unknown until the Job lists the Hub (no lock for the model)
    patterns: dict[str, list[str]]  # what the servers read: the Job selects by them from the Hub's listing
    estimated_gib: float | None  # from the architecture, when there is no list
    enforced: bool = False  # the list was read from the Hub (`make model`): the Job refuses any difference

    @property
    def gib(self) -> float | None:
        return sum(self.files.values()) / 2**30 if self.files is not None else self.estimated_gib

    @property
    def largest_file_gib(self) -> float | None:
        return max(self.files.values(), default=0) / 2**30 if self.files is not None else None


@cache
def script(name: str) -> str:
    return (SCRIPTS / name).read_text()


def scripts_configmap_data() -> dict[str, str]:
    return {name: script(name) for name in SCRIPT_FILES}


def attempt_seconds(gib: float | None) -> int:
    """One attempt's deadline (the pod's activeDeadlineSeconds, counted once the kubelet has the pod)."""
    return int(JOB_MARGIN * (JOB_FIXED_SECONDS + JOB_SECONDS_PER_GIB * (gib if gib is not None else UNKNOWN_GIB)))


def job_seconds(gib: float | None) -> int:
    """How long the mirror Job may take in all: every attempt to its deadline (what waits on it allow)."""
    return (JOB_RETRIES + 1) * attempt_seconds(gib)


def queue_seconds(copies: tuple[Copy, ...], nodes: int) -> int:
    """How long a Job may wait for a system node while the others copy: each asks 2 of a 4-vCPU node's CPUs,
    so one runs per node; every attempt of the others ahead of it, spread over the pool's minimum nodes."""
    return -(-sum(attempt_seconds(c.gib) for c in copies) // max(nodes, 1))


def scratch_gib(copy: Copy) -> int:
    largest = copy.largest_file_gib
    if largest is None:  # unknown files: the largest shard people publish is ~10 GB, a single 8B file 16 GB
        largest = min(copy.gib or UNKNOWN_GIB, 20.0)
    return math.ceil(largest) + PACKAGES_GIB + 1


def hardened() -> dict[str, object]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
    }


def job_env(extra: dict[str, str]) -> list[dict[str, object]]:
    """HOME, TMPDIR and every cache on the scratch volume: pip and the clients write nowhere else."""
    env = {
        "SCRATCH": SCRATCH,
        "HOME": f"{SCRATCH}/home",
        "TMPDIR": f"{SCRATCH}/tmp",  # noqa: S108 (on the scratch volume: no other folder is writable)
        "PYTHONPATH": f"{SCRATCH}/lib",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
        **extra,
    }
    return [{"name": k, "value": v} for k, v in env.items()]


def job_command(requirements: str, program: str) -> list[str]:
    """Install the hash-pinned packages onto the scratch volume, then run the script."""
    install = (
        f'python -m pip install --quiet --no-cache-dir --require-hashes --no-deps --target="$SCRATCH/lib" '
        f"-r {SCRIPTS_MOUNT}/{requirements}"
    )
    return [
        "sh",
        "-c",
        f'mkdir -p "$SCRATCH/home" "$SCRATCH/tmp" && {install} && exec python {SCRIPTS_MOUNT}/{program}',
    ]


def job_pod(
    *,
    labels: dict[str, str],
    service_account: str,
    container: dict[str, object],
    volumes: list[dict[str, object]],
    deadline: int,
    init: list[dict[str, object]] | None = None,
) -> dict[str, object]:
    """A Job spec on the system pool. The deadline is the pod's own (counted from when the kubelet has it, so
    time spent Pending for a node does not count, unlike the Job's activeDeadlineSeconds); evictions and
    preemptions do not count against the retries (podFailurePolicy, DisruptionTarget)."""
    return {
        "backoffLimit": JOB_RETRIES,  # a retry starts from the marker check and skips files done whole
        "podFailurePolicy": {
            "rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]
        },
        "ttlSecondsAfterFinished": JOB_TTL_SECONDS,
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "restartPolicy": "Never",
                "activeDeadlineSeconds": deadline,
                "serviceAccountName": service_account,
                "automountServiceAccountToken": False,  # Workload Identity needs no Kubernetes token
                "nodeSelector": {"cloud.google.com/gke-nodepool": naming.SYSTEM_POOL},  # CPU only: no GPU toleration
                "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}, "fsGroup": RUN_AS},
                **({"initContainers": init} if init else {}),
                "containers": [container],
                "volumes": [
                    *volumes,
                    {"name": "scripts", "configMap": {"name": SCRIPTS_CONFIGMAP, "defaultMode": 0o444}},
                ],
            },
        },
    }


def mirror_job_spec(copy: Copy, hf_token: tuple[str, str], service_account: str) -> dict[str, object]:
    """The Job filling `copy`'s prefix of the bucket; CPU only, on the system pool. `hf_token`: the Secret
    holding the token and its key."""
    source = copy.source
    scratch = scratch_gib(copy)
    requests = {"cpu": "2", "memory": "4Gi", "ephemeral-storage": f"{scratch + HEADROOM_GIB}Gi"}
    listed = {"FILES": json.dumps(copy.files)} if copy.files is not None and copy.enforced else {}
    env = job_env(
        {
            "MODEL": source.model,
            "COMMIT": source.commit,
            "BUCKET": source.bucket,
            "PREFIX": source.prefix,
            **listed,
            "PATTERNS": json.dumps(copy.patterns, sort_keys=True),
            "HF_HOME": f"{SCRATCH}/hf",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_XET_HIGH_PERFORMANCE": "1",  # hf_xet: more parallel range downloads (huggingface_hub env docs)
            # hf_xet keeps a chunk cache of 10 GB by default (xet-runtime src/config/groups/chunk_cache.rs:
            # DEFAULT_CHUNK_CACHE_CAPACITY, set by HF_XET_CHUNK_CACHE_SIZE_BYTES); the scratch volume holds one file.
            "HF_XET_CHUNK_CACHE_SIZE_BYTES": "0",
        }
    )
    container: dict[str, object] = {
        "name": "mirror",
        "image": IMAGE,
        "command": job_command("requirements-mirror.txt", "mirror_copy.py"),
        "env": [
            *env,
            # The only pod that gets the token: serving pods read the mirror.
            {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": hf_token[0], "key": hf_token[1]}}},
        ],
        "resources": {"requests": requests, "limits": dict(requests)},
        "securityContext": hardened(),
        "volumeMounts": [
            {"name": "scratch", "mountPath": SCRATCH},
            {"name": "scripts", "mountPath": SCRIPTS_MOUNT, "readOnly": True},
        ],
    }
    return job_pod(
        labels=labels(source),
        service_account=service_account,
        container=container,
        volumes=[{"name": "scratch", "emptyDir": {"sizeLimit": f"{scratch}Gi"}}],
        deadline=attempt_seconds(copy.gib),
    )


def job_annotations(source: WeightSource) -> dict[str, str]:
    """A mirror or fill Job's annotations: its model@commit, and a failed Job replaced by the next `pulumi up`
    (pulumi-kubernetes waits on an unready Job again otherwise: the Job docs, `pulumi.com/replaceUnready`)."""
    return {"gke-serving/model": f"{source.model}@{source.commit}", "pulumi.com/replaceUnready": "true"}


def labels(source: WeightSource, name: str = "model-mirror") -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": "model-mirror",
        "app.kubernetes.io/part-of": "gke-serving",
        "app.kubernetes.io/managed-by": "pulumi",
        "gke-serving/mirror-commit": source.commit,
    }


def wait_container(source: WeightSource, wait_seconds: int, name: str = "wait-for-weights") -> dict[str, object]:
    """The serving pod's init container: exits 0 once the mirror copy's marker exists (standard library only)."""
    requests = {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "64Mi"}
    env = {
        "BUCKET": source.bucket,
        "MARKER": source.marker,
        "WAIT_SECONDS": str(wait_seconds),
        "POLL_SECONDS": str(WAIT_POLL_SECONDS),
    }
    return {
        "name": name,
        "image": IMAGE,
        "command": ["python", "-c", script("wait_for_marker.py")],
        "env": [{"name": k, "value": v} for k, v in env.items()],
        "resources": {"requests": requests, "limits": dict(requests)},
        "securityContext": hardened(),
    }


def prefix_condition(bucket: str, prefix: str) -> dict[str, str]:
    """The IAM condition of a writer binding: objects under one model@commit only."""
    return {
        "title": f"mirror {prefix}"[:100],
        "description": f"The mirror Job of {prefix} writes only under that prefix",
        "expression": f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{prefix}/")',
    }
