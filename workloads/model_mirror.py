"""The environment's model mirror: a bucket, one Job per model@commit filling its prefix, and the identities
that write one prefix each or read the bucket. Manifest bodies are plain functions; the component registers.

Design:
- Bucket `<cluster>-models-<hash of project>` (or `modelMirror.bucket`), uniform bucket-level access (IAM
  conditions need it), public access prevention enforced, never force-destroyed.
- Writer: one Google service account per environment (`<cluster>-mirror`) for the Jobs, bound by Workload
  Identity to the KSA `model-mirror`, with roles/storage.objectUser on the bucket under an IAM condition per
  model@commit: resource.name starts with that prefix. The Job never lists (it GETs each object it checks),
  so an object-scoped condition is enough.
- Reader: one Google service account per environment (`<cluster>-models`), roles/storage.objectViewer on the
  bucket, bound to the KSA `model-reader` that every serving pod loading from the mirror runs as.
- A Job per model@commit (`mirror-<hash>`) on the system pool, the only pod with the HF token: it exits 0 at
  once when `<prefix>/.complete` exists, else downloads file by file with hf_xet, uploads, checks every
  object's size against the Hub's listing and writes the marker last (create-only).
- Serving pods wait for the marker in an init container (the Cloud Storage JSON API with the pod's Workload
  Identity token), not for the Job object.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

import naming
from config import Environment
from config.mirror import HUB, HYPERDISK_ML, WeightSource, bucket_name, job_name
from config.services import load_of
from infra.identity import bind_workload_identity, workload_identity_member
from infra.secrets import HF_TOKEN_KEY
from workloads import hyperdisk_ml as hdml
from workloads.probes import duration, weights_gib

# python:3.12 slim (Debian bookworm), a full version tag: the Job installs the pinned packages below at start
# rather than needing an image of our own; the init container uses the same image and the standard library.
IMAGE = "python:3.12.11-slim-bookworm"
# The same huggingface_hub and hf_xet the repository's `make model` runs (requirements-dev.txt); hf_xet is
# huggingface_hub's fast transfer backend for Xet-backed repositories, used when installed (huggingface_hub
# docs, "Download files": hf_xet). google-cloud-storage: the latest release in the package index here.
PACKAGES = ("huggingface-hub==2.4.0", "hf-xet==1.8.0", "google-cloud-storage==3.17.1")
FILL_PACKAGES = PACKAGES[2:]  # the Hyperdisk ML fill Job only reads the bucket
WRITER_KSA = naming.MIRROR_WRITER_KSA
READER_KSA = naming.MIRROR_READER_KSA
RUN_AS = 65534  # nobody: the image's root is not needed, every path written is an emptyDir
SCRATCH = "/scratch"
# [estimate] a Hub download through Cloud NAT at ~40 MiB/s (the hub load path), the upload at ~100 MiB/s
# from a system node, pip at start; x3 before the Job is given up on.
JOB_SECONDS_PER_GIB = 40
JOB_FIXED_SECONDS = 300
JOB_MARGIN = 3
WAIT_POLL_SECONDS = 15
JOB_TTL_SECONDS = 7 * 24 * 3600  # a finished Job stays a week for its logs; a later run finds the marker
# The largest single file the Job downloads before uploading it and deleting it: the scratch volume.
# [estimate] safetensors shards are 2-10 GB; a single-file 8B checkpoint is 16 GB.
MAX_FILE_GIB = 20

MIRROR_SCRIPT = r"""
import json, os, pathlib, sys
from google.cloud import storage
from huggingface_hub import HfApi, hf_hub_download

model, commit, prefix = os.environ["MODEL"], os.environ["COMMIT"], os.environ["PREFIX"]
bucket = storage.Client().bucket(os.environ["BUCKET"])
marker = bucket.blob(prefix + "/.complete")
if marker.exists():
    print(f"gs://{bucket.name}/{prefix} is complete: nothing to do")
    sys.exit(0)
info = HfApi().model_info(model, revision=commit, files_metadata=True)
if info.sha != commit:
    sys.exit(f"{model}@{commit}: the Hub answered for {info.sha}")
files = {s.rfilename: (s.lfs.size if s.lfs else s.size) for s in info.siblings or ()}
scratch = pathlib.Path(os.environ["SCRATCH"])
for name, size in sorted(files.items()):
    earlier = bucket.get_blob(f"{prefix}/{name}")
    if earlier is not None and earlier.size == size:
        continue  # uploaded by an earlier attempt
    local = pathlib.Path(hf_hub_download(model, name, revision=commit, local_dir=scratch / "dl"))
    if local.stat().st_size != size:
        sys.exit(f"{name}: downloaded {local.stat().st_size} bytes, the Hub lists {size}")
    bucket.blob(f"{prefix}/{name}").upload_from_filename(str(local))
    local.unlink()
    print(f"{name}: {size} bytes", flush=True)
for name, size in files.items():
    uploaded = bucket.get_blob(f"{prefix}/{name}")
    if uploaded is None or uploaded.size != size:
        sys.exit(f"{name}: gs://{bucket.name}/{prefix}/{name} is not the {size} bytes the Hub lists")
body = {"model": model, "commit": commit, "files": len(files), "bytes": sum(files.values())}
marker.upload_from_string(json.dumps(body), content_type="application/json", if_generation_match=0)
print(f"gs://{bucket.name}/{prefix}: {len(files)} files, complete")
"""

WAIT_SCRIPT = r"""
import json, os, sys, time, urllib.error, urllib.parse, urllib.request
bucket, marker = os.environ["BUCKET"], os.environ["MARKER"]
deadline = time.monotonic() + int(os.environ["WAIT_SECONDS"])
token_url = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
url = f"https://storage.googleapis.com/storage/v1/b/{bucket}/o/{urllib.parse.quote(marker, safe='')}"
while True:
    try:
        request = urllib.request.Request(token_url, headers={"Metadata-Flavor": "Google"})
        token = json.load(urllib.request.urlopen(request, timeout=10))["access_token"]
        check = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        urllib.request.urlopen(check, timeout=10)
        print(f"gs://{bucket}/{marker} found")
        sys.exit(0)
    except urllib.error.HTTPError as e:
        if e.code != 404:
            print(f"gs://{bucket}/{marker}: HTTP {e.code}", file=sys.stderr)
    except OSError as e:
        print(f"gs://{bucket}/{marker}: {e}", file=sys.stderr)
    if time.monotonic() > deadline:
        sys.exit(f"gs://{bucket}/{marker} is still missing: see the mirror Job's logs")
    time.sleep(int(os.environ["POLL_SECONDS"]))
"""


def job_seconds(weights_gib: float | None) -> int:
    """activeDeadlineSeconds of a mirror Job: its download and upload at the estimated rates, with a margin."""
    gib = weights_gib if weights_gib is not None else 100.0  # unknown size: as a 50B model in bf16
    return int(JOB_MARGIN * (JOB_FIXED_SECONDS + JOB_SECONDS_PER_GIB * gib))


def _hardened(read_only: bool = True) -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": read_only,
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
    }


def mirror_job_spec(source: WeightSource, hf_token_secret: str, weights_gib: float | None) -> dict[str, Any]:
    """The Job filling `source.prefix` of the bucket; CPU only, on the system pool."""
    scratch_gib = min(math.ceil(weights_gib or MAX_FILE_GIB), MAX_FILE_GIB) + 2  # one file at a time, + pip
    requests = {"cpu": "2", "memory": "4Gi", "ephemeral-storage": f"{scratch_gib + 1}Gi"}
    env = {
        "MODEL": source.model,
        "COMMIT": source.commit,
        "BUCKET": source.bucket,
        "PREFIX": source.prefix,
        "SCRATCH": SCRATCH,
        "HOME": SCRATCH,
        "PYTHONPATH": f"{SCRATCH}/lib",
        "HF_HOME": f"{SCRATCH}/hf",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_XET_HIGH_PERFORMANCE": "1",  # hf_xet: more parallel range downloads (huggingface_hub env docs)
    }
    install = f"pip install --quiet --no-cache-dir --target={SCRATCH}/lib {' '.join(PACKAGES)}"
    return {
        # Retries start again from the marker check and skip files already uploaded whole.
        "backoffLimit": 3,
        "activeDeadlineSeconds": job_seconds(weights_gib),
        "ttlSecondsAfterFinished": JOB_TTL_SECONDS,
        "template": {
            "metadata": {"labels": _labels(source)},
            "spec": {
                "restartPolicy": "Never",
                "serviceAccountName": WRITER_KSA,
                "automountServiceAccountToken": False,  # Workload Identity needs no Kubernetes token
                "nodeSelector": {"cloud.google.com/gke-nodepool": naming.SYSTEM_POOL},  # CPU only: no GPU toleration
                "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}, "fsGroup": RUN_AS},
                "containers": [
                    {
                        "name": "mirror",
                        "image": IMAGE,
                        "command": ["sh", "-c", f'{install} && exec python -c "$MIRROR_SCRIPT"'],
                        "env": [
                            *({"name": k, "value": v} for k, v in env.items()),
                            {"name": "MIRROR_SCRIPT", "value": MIRROR_SCRIPT.strip()},
                            # The only pod that gets the token: serving pods read the mirror.
                            {
                                "name": "HF_TOKEN",
                                "valueFrom": {"secretKeyRef": {"name": hf_token_secret, "key": HF_TOKEN_KEY}},
                            },
                        ],
                        "resources": {"requests": requests, "limits": dict(requests)},
                        "securityContext": _hardened(),
                        "volumeMounts": [{"name": "scratch", "mountPath": SCRATCH}],
                    }
                ],
                "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": f"{scratch_gib}Gi"}}],
            },
        },
    }


def fill_job_spec(disk: hdml.Disk, wait: dict[str, Any], wait_seconds: int) -> dict[str, Any]:
    """The Job that copies the bucket prefix onto the fill volume, after the mirror copy's marker (its init
    container `wait`); CPU only, on the system pool, as the mirror's reader (objectViewer on the bucket)."""
    source = disk.source
    requests = {"cpu": "2", "memory": "2Gi", "ephemeral-storage": "2Gi"}
    env = {
        "BUCKET": source.bucket,
        "PREFIX": source.prefix,
        "VOLUME": hdml.FILL_MOUNT,
        "HOME": SCRATCH,
        "PYTHONPATH": f"{SCRATCH}/lib",
    }
    install = f"pip install --quiet --no-cache-dir --target={SCRATCH}/lib {' '.join(FILL_PACKAGES)}"
    return {
        "backoffLimit": 3,  # a retry skips the files already copied whole; the marker is written last
        "activeDeadlineSeconds": wait_seconds + hdml.fill_seconds(disk.weights_gib),
        "ttlSecondsAfterFinished": JOB_TTL_SECONDS,
        "template": {
            "metadata": {"labels": hdml.labels(source)},
            "spec": {
                "restartPolicy": "Never",
                "serviceAccountName": READER_KSA,
                "automountServiceAccountToken": False,  # Workload Identity needs no Kubernetes token
                "nodeSelector": {"cloud.google.com/gke-nodepool": naming.SYSTEM_POOL},
                "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}, "fsGroup": RUN_AS},
                "initContainers": [wait],
                "containers": [
                    {
                        "name": "fill",
                        "image": IMAGE,
                        "command": ["sh", "-c", f'{install} && exec python -c "$FILL_SCRIPT"'],
                        "env": [
                            *({"name": k, "value": v} for k, v in env.items()),
                            {"name": "FILL_SCRIPT", "value": hdml.FILL_SCRIPT.strip()},
                        ],
                        "resources": {"requests": requests, "limits": dict(requests)},
                        "securityContext": _hardened(),
                        "volumeMounts": [
                            {"name": "scratch", "mountPath": SCRATCH},
                            {"name": "volume", "mountPath": hdml.FILL_MOUNT},
                        ],
                    }
                ],
                "volumes": [
                    {"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}},
                    {
                        "name": "volume",
                        "persistentVolumeClaim": {"claimName": f"{disk.name}{naming.HYPERDISK_FILL_SUFFIX}"},
                    },
                ],
            },
        },
    }


def _labels(source: WeightSource) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "model-mirror",
        "app.kubernetes.io/component": "model-mirror",
        "app.kubernetes.io/part-of": "gke-serving",
        "app.kubernetes.io/managed-by": "pulumi",
        "gke-serving/mirror-commit": source.commit,
    }


def wait_container(source: WeightSource, wait_seconds: int) -> dict[str, Any]:
    """The serving pod's init container: exits 0 once the mirror copy's marker exists."""
    requests = {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "64Mi"}
    env = {
        "BUCKET": source.bucket,
        "MARKER": source.marker,
        "WAIT_SECONDS": str(wait_seconds),
        "POLL_SECONDS": str(WAIT_POLL_SECONDS),
    }
    return {
        "name": "wait-for-weights",
        "image": IMAGE,
        "command": ["python", "-c", WAIT_SCRIPT.strip()],
        "env": [{"name": k, "value": v} for k, v in env.items()],
        "resources": {"requests": requests, "limits": dict(requests)},
        "securityContext": _hardened(),
    }


def prefix_condition(bucket: str, prefix: str) -> dict[str, str]:
    """The IAM condition of a writer binding: objects under one model@commit only."""
    return {
        "title": f"mirror {prefix}"[:100],
        "description": f"The mirror Job of {prefix} writes only under that prefix",
        "expression": f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{prefix}/")',
    }


def weight_sources(env: Environment) -> dict[str, WeightSource]:
    """Service -> the mirror copy its pods load, for every service whose load reads the mirror."""
    if env.model_mirror is None:
        return {}
    bucket = bucket_name(env.model_mirror, env.cluster.name, env.project)
    found = {}
    for name, service in env.services.items():
        load = load_of(service, mirror=True)
        if load is None or load == HUB or service.revision is None:
            continue  # config refuses a mirror load without a commit
        found[name] = WeightSource(load, bucket, service.model, service.revision)
    return found


@dataclass(frozen=True)
class Mirrored:
    source: WeightSource
    weights_gib: float | None


@dataclass(frozen=True)
class ModelMirrorArgs:
    project: str
    region: str
    bucket: str
    existing: bool
    cluster: str  # the cluster's name: the Google service accounts' ids start with it
    namespace: pulumi.Input[str]
    hf_token_secret: str
    gcp_labels: dict[str, str]
    copies: tuple[Mirrored, ...]  # one per model@commit, however many services load it
    sources: dict[str, WeightSource]  # service -> the copy it loads
    disks: tuple[hdml.Disk, ...] = ()  # one Hyperdisk ML copy per model@commit some service loads that way

    @classmethod
    def of(
        cls, env: Environment, namespace: pulumi.Input[str], hf_token_secret: str, labels: dict[str, str]
    ) -> ModelMirrorArgs:
        if env.model_mirror is None:
            raise ValueError("the environment has no modelMirror")
        sources = weight_sources(env)
        copies: dict[str, Mirrored] = {}
        for name, source in sorted(sources.items()):
            copies.setdefault(source.prefix, Mirrored(source, weights_gib(env.services[name])))
        zones: dict[str, set[str]] = {}
        for name, source in sources.items():
            if source.load == HYPERDISK_ML:
                zones.setdefault(source.prefix, set()).update(env.pool_zones(env.node_pools[env.services[name].pool]))
        disks = tuple(
            hdml.Disk(copies[prefix].source, copies[prefix].weights_gib, tuple(sorted(found)))
            for prefix, found in sorted(zones.items())
        )
        return cls(
            project=env.project,
            region=env.region,
            bucket=bucket_name(env.model_mirror, env.cluster.name, env.project),
            existing=env.model_mirror.existing,
            cluster=env.cluster.name,
            namespace=namespace,
            hf_token_secret=hf_token_secret,
            gcp_labels=labels,
            copies=tuple(copies.values()),
            sources=sources,
            disks=disks,
        )


class ModelMirror(pulumi.ComponentResource):
    jobs: dict[str, k8s.batch.v1.Job]  # by prefix
    reader_ksa: str
    sources: dict[str, WeightSource]  # service -> the copy it loads

    volumes: dict[str, k8s.core.v1.PersistentVolumeClaim]  # the ReadOnlyMany Hyperdisk ML claims, by prefix

    def ready_for(self, service: str) -> pulumi.Resource | None:
        """What a service's first rollout waits for: its Hyperdisk ML claim, else the Job filling its bucket copy."""
        source = self.sources.get(service)
        if source is None:
            return None
        found: pulumi.Resource | None = (
            self.volumes[source.prefix] if source.load == HYPERDISK_ML else self.jobs.get(source.prefix)
        )
        return found

    def __init__(self, name: str, args: ModelMirrorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gke-serving:workloads:ModelMirror", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        bucket: pulumi.Input[str] = args.bucket
        after_bucket = child
        if not args.existing:
            created = gcp.storage.Bucket(
                f"{name}-bucket",
                project=args.project,
                name=args.bucket,
                location=args.region.upper(),  # same region as the nodes: no egress, lowest latency
                uniform_bucket_level_access=True,  # IAM only (no ACLs): IAM conditions need it
                public_access_prevention="enforced",
                force_destroy=False,  # `pulumi destroy` fails on a non-empty mirror rather than emptying it
                labels=args.gcp_labels,
                opts=child,
            )
            bucket = created.name
            after_bucket = pulumi.ResourceOptions(parent=self, depends_on=[created])
        writer = self._identity(name, "writer", naming.mirror_writer_account_id(args.cluster), WRITER_KSA, args)
        reader = self._identity(name, "reader", naming.mirror_reader_account_id(args.cluster), READER_KSA, args)
        gcp.storage.BucketIAMMember(
            f"{name}-reader-objects",
            bucket=bucket,
            role="roles/storage.objectViewer",
            member=reader.member,
            opts=after_bucket,
        )
        self.reader_ksa = READER_KSA
        self.sources = args.sources
        self.jobs = {}
        for copy in args.copies:
            source = copy.source
            key = naming.short_hash(source.prefix)
            binding = gcp.storage.BucketIAMMember(
                f"{name}-writer-{key}",
                bucket=bucket,
                role="roles/storage.objectUser",  # create, overwrite (a retried upload) and read, no IAM
                member=writer.member,
                condition=prefix_condition(args.bucket, source.prefix),
                opts=after_bucket,
            )
            seconds = job_seconds(copy.weights_gib)
            self.jobs[source.prefix] = k8s.batch.v1.Job(
                f"{name}-job-{key}",
                metadata={
                    "name": job_name(source.model, source.commit),
                    "namespace": args.namespace,
                    "labels": _labels(source),
                    "annotations": {"gke-serving/model": f"{source.model}@{source.commit}"},
                },
                spec=cast(Any, mirror_job_spec(source, args.hf_token_secret, copy.weights_gib)),
                # pulumi-kubernetes waits for a Job to complete (Job docstring), 10 minutes by default: as long
                # as the Job may run. A Job's template is immutable: a change replaces it, and the new Job
                # finds the marker and exits 0.
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[binding],
                    custom_timeouts=pulumi.CustomTimeouts(create=duration(seconds + 60), update=duration(seconds + 60)),
                ),
            )
        self.volumes = self._hyperdisks(name, args) if args.disks else {}
        self.register_outputs({"bucket": bucket, "copies": sorted(self.jobs), "hyperdisks": sorted(self.volumes)})

    def _hyperdisks(self, name: str, args: ModelMirrorArgs) -> dict[str, k8s.core.v1.PersistentVolumeClaim]:
        """Per model@commit: fill volume and Job, a disk-image snapshot, a ReadOnlyMany Hyperdisk ML claim."""
        child = pulumi.ResourceOptions(parent=self)
        part_of = {"app.kubernetes.io/part-of": "gke-serving", "app.kubernetes.io/component": "model-mirror"}
        fill_class = k8s.storage.v1.StorageClass(
            f"{name}-hdml-fill-class",
            metadata={"name": hdml.FILL_STORAGE_CLASS, "labels": part_of},
            **_snake(hdml.fill_storage_class()),
            opts=child,
        )
        # VolumeSnapshotClass keeps its fields at the top level, which k8s.apiextensions.CustomResource (spec
        # only) cannot send: registered under the provider's own type token, as CustomResource does.
        snapshot_class = pulumi.CustomResource(
            f"kubernetes:{hdml.SNAPSHOT_API}:VolumeSnapshotClass",
            f"{name}-hdml-snapshot-class",
            {
                "apiVersion": hdml.SNAPSHOT_API,
                "kind": "VolumeSnapshotClass",
                "metadata": {"name": hdml.SNAPSHOT_CLASS, "labels": part_of},
                **hdml.snapshot_class(),
            },
            opts=child,
        )
        volumes = {}
        for disk in args.disks:
            source, key = disk.source, naming.short_hash(disk.source.prefix)
            meta = {"namespace": args.namespace, "labels": hdml.labels(source)}
            fill = k8s.core.v1.PersistentVolumeClaim(
                f"{name}-hdml-fill-{key}",
                # WaitForFirstConsumer: the claim binds only when the fill Job's pod is scheduled, so an await
                # for Bound would wait on the Job, which is created after it; the Job's own await covers it.
                metadata={
                    **meta,
                    "name": f"{disk.name}{naming.HYPERDISK_FILL_SUFFIX}",
                    "annotations": {"pulumi.com/skipAwait": "true"},
                },
                spec=cast(Any, hdml.fill_claim(disk)),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[fill_class]),
            )
            wait = job_seconds(disk.weights_gib)  # the mirror Job may still be running
            seconds = wait + hdml.fill_seconds(disk.weights_gib)
            job = k8s.batch.v1.Job(
                f"{name}-hdml-job-{key}",
                metadata={
                    **meta,
                    "name": disk.name,
                    "annotations": {"gke-serving/model": f"{source.model}@{source.commit}"},
                },
                spec=cast(Any, fill_job_spec(disk, wait_container(source, wait), wait)),
                # The Job's await (Complete) bounds the fill; the snapshot is taken only after it.
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[fill, *([self.jobs[source.prefix]] if source.prefix in self.jobs else [])],
                    custom_timeouts=pulumi.CustomTimeouts(create=duration(seconds + 60), update=duration(seconds + 60)),
                ),
            )
            image = hdml.image_seconds(disk.weights_gib)
            snap = k8s.apiextensions.CustomResource(
                f"{name}-hdml-snapshot-{key}",
                api_version=hdml.SNAPSHOT_API,
                kind="VolumeSnapshot",
                # A custom resource has no built-in await: waitFor makes `pulumi up` wait for the image, bounded
                # by the timeout below, so the claim is not created against a snapshot that is not ready.
                metadata={
                    **meta,
                    "name": disk.name,
                    "annotations": {"pulumi.com/waitFor": "jsonpath={.status.readyToUse}=true"},
                },
                spec=hdml.snapshot(disk),
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[job, snapshot_class],
                    custom_timeouts=pulumi.CustomTimeouts(create=duration(image), update=duration(image)),
                ),
            )
            klass = k8s.storage.v1.StorageClass(
                f"{name}-hdml-class-{key}",
                metadata={"name": disk.name, "labels": hdml.labels(source)},
                **_snake(hdml.storage_class(disk)),
                opts=child,
            )
            # Immediate binding: the claim binds once a volume per zone is made from the image; the await for
            # Bound is bounded by the image estimate (the servers' rollout depends on this claim).
            volumes[source.prefix] = k8s.core.v1.PersistentVolumeClaim(
                f"{name}-hdml-{key}",
                metadata={**meta, "name": disk.name},
                spec=cast(Any, hdml.read_only_claim(disk)),
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[snap, klass],
                    custom_timeouts=pulumi.CustomTimeouts(create=duration(image), update=duration(image)),
                ),
            )
        return volumes

    def _identity(self, name: str, role: str, account_id: str, ksa: str, args: ModelMirrorArgs) -> _Identity:
        child = pulumi.ResourceOptions(parent=self)
        account = gcp.serviceaccount.Account(
            f"{name}-{role}-gsa",
            project=args.project,
            account_id=account_id,
            display_name=f"model mirror {role} of gs://{args.bucket}",
            opts=child,
        )
        principal = pulumi.Output.from_input(args.namespace).apply(
            lambda ns: workload_identity_member(args.project, ns, ksa)
        )
        bind_workload_identity(f"{name}-{role}", account, principal, child)
        k8s.core.v1.ServiceAccount(
            f"{name}-{role}-ksa",
            metadata={
                "name": ksa,
                "namespace": args.namespace,
                "labels": {"app.kubernetes.io/part-of": "gke-serving", "app.kubernetes.io/component": "model-mirror"},
                "annotations": {"iam.gke.io/gcp-service-account": account.email},
            },
            automount_service_account_token=False,
            opts=child,
        )
        return _Identity(account.email.apply(lambda e: f"serviceAccount:{e}"))


def _snake(fields: dict[str, Any]) -> dict[str, Any]:
    """A manifest's top-level fields as the typed resource's keyword arguments (volumeBindingMode -> volume_binding_mode)."""
    return {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): v for k, v in fields.items()}


@dataclass(frozen=True)
class _Identity:
    member: pulumi.Output[str]
