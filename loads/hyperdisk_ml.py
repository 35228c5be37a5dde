"""`load: hyperdiskml`: a read-only-many Hyperdisk ML volume per model@commit, filled once from the mirror.

The flow of GKE's "Accelerate AI/ML data loading with Hyperdisk ML"
(cloud.google.com/kubernetes-engine/docs/how-to/persistent-volumes/hyperdisk-ml), multi-zone variant:
1. A ReadWriteOnce PVC (`hdml-<hash>-fill`) and a Job on the system pool that waits for the bucket copy's
   `.complete`, copies exactly the files that marker lists onto the volume and writes the volume's own marker.
2. A VolumeSnapshot of that PVC in a VolumeSnapshotClass with `snapshot-type: images`: a disk image, from
   which Hyperdisk ML volumes can be made in several zones.
3. A ReadOnlyMany PVC (`hdml-<hash>`) from the snapshot, in a StorageClass of type hyperdisk-ml with
   `enable-multi-zone-provisioning: "true"` and allowedTopologies = the zones of the pools that read it;
   every serving pod mounts it read-only at MOUNT_ROOT/<prefix>.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cache

import pulumi

import naming
from loads import mirror
from loads.base import DiskLine, LoadPath, MirrorContext, Placed, PodAdditions, PodContext
from loads.facts import data
from loads.mirror import Copy
from settings.mirror import WeightSource
from settings.problems import Problem

PD_CSI = "pd.csi.storage.gke.io"  # the Compute Engine Persistent Disk CSI driver, on by default in GKE
FILL_STORAGE_CLASS = "hdml-fill"
SNAPSHOT_CLASS = "hdml-images"
SNAPSHOT_API = "snapshot.storage.k8s.io/v1"  # the CSI external-snapshotter CRDs GKE installs
FILL_MOUNT = "/volume"
# The fill volume is only the source of the image: pd-balanced, which the system pool's N2 nodes can attach
# (Hyperdisk ML cannot be attached to N2), in whatever zone the Job's node is.
FILL_DISK_TYPE = "pd-balanced"
# [estimate] Cloud Storage to a pd-balanced disk at ~100 MiB/s from a 4-vCPU node; an image of the disk and a
# multi-zone Hyperdisk ML volume from it at ~200 MiB/s; x3 before `pulumi up` gives up on either.
FILL_SECONDS_PER_GIB = 10
IMAGE_SECONDS_PER_GIB = 5
FIXED_SECONDS = 300
MARGIN = 3


@dataclass(frozen=True)
class HyperdiskFacts:
    """catalog/load_paths.yaml `hyperdiskMl`."""

    attachable_series: tuple[str, ...]
    throughput_mib_per_second: int
    size_margin: float
    min_size_gib: int
    source: str

    def attachable(self, machine_type: str) -> bool:
        """Whether a node of `machine_type` can attach a Hyperdisk ML volume (by its series, a2-highgpu-2g: a2)."""
        return machine_type.split("-", 1)[0] in self.attachable_series

    def volume_gib(self, weights_gib: float | None) -> int:
        """The volume for `weights_gib` of files (unknown: as the mirror Job sizes an unknown model)."""
        gib = weights_gib if weights_gib is not None else mirror.UNKNOWN_GIB
        return max(math.ceil(gib * self.size_margin), self.min_size_gib)


@cache
def facts() -> HyperdiskFacts:
    raw = data().hyperdisk_ml
    found = HyperdiskFacts(
        tuple(raw.attachable_series), raw.throughput_mib_per_second, raw.size_margin, raw.min_size_gib, raw.source
    )
    if not found.attachable_series or found.size_margin < 1 or found.throughput_mib_per_second < 400:
        raise ValueError("catalog/load_paths.yaml hyperdiskMl: series, a margin >= 1 and >= 400 MiB/s are needed")
    return found


def size_gib(copy: Copy) -> int:
    return facts().volume_gib(copy.gib)


def volume_name(source: WeightSource) -> str:
    """`hdml-<hash>`: the ReadOnlyMany PVC, its StorageClass and snapshot; the same hash as the mirror Job."""
    return naming.hyperdisk_name(source.model, source.commit)


def fill_seconds(gib: float | None) -> int:
    """How long the fill Job copies, its wait for the bucket copy not included."""
    return int(MARGIN * (FIXED_SECONDS + FILL_SECONDS_PER_GIB * (gib if gib is not None else mirror.UNKNOWN_GIB)))


def image_seconds(gib: float | None) -> int:
    """How long an image of the filled disk, or a Hyperdisk ML volume from it, may take."""
    return int(MARGIN * (FIXED_SECONDS + IMAGE_SECONDS_PER_GIB * (gib if gib is not None else mirror.UNKNOWN_GIB)))


# --- manifest bodies ------------------------------------------------------------------------------------------


def fill_storage_class() -> dict[str, object]:
    return {
        "provisioner": PD_CSI,
        "parameters": {"type": FILL_DISK_TYPE},
        # The disk is made in the zone of the node the fill Job lands on.
        "volumeBindingMode": "WaitForFirstConsumer",
        "reclaimPolicy": "Delete",  # the image, not the fill disk, is what the readers need
    }


def snapshot_class() -> dict[str, object]:
    # snapshot-type: images, a disk image, which multi-zone provisioning restores from (parameter names and
    # values: gcp-compute-persistent-disk-csi-driver pkg/common/parameters.go, DiskImageType).
    return {"driver": PD_CSI, "deletionPolicy": "Delete", "parameters": {"snapshot-type": "images"}}


def storage_class(placed: Placed) -> dict[str, object]:
    """The hyperdisk-ml class of one copy: one volume per zone of its readers, each from the image."""
    return {
        "provisioner": PD_CSI,
        "parameters": {
            "type": "hyperdisk-ml",
            "provisioned-throughput-on-create": f"{facts().throughput_mib_per_second}Mi",
            "enable-multi-zone-provisioning": "true",  # ParameterKeyEnableMultiZoneProvisioning, same file
        },
        # Multi-zone provisioning makes the volumes at once, in every allowed zone (GKE Hyperdisk ML guide, as
        # recalled: not re-read, and the preview warns so).
        "volumeBindingMode": "Immediate",
        "reclaimPolicy": "Delete",
        "allowVolumeExpansion": False,
        "allowedTopologies": [
            {"matchLabelExpressions": [{"key": "topology.gke.io/zone", "values": list(placed.zones)}]}
        ],
    }


def fill_claim(placed: Placed) -> dict[str, object]:
    return {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": FILL_STORAGE_CLASS,
        "resources": {"requests": {"storage": f"{size_gib(placed.copy)}Gi"}},
    }


def snapshot(placed: Placed) -> dict[str, object]:
    return {
        "volumeSnapshotClassName": SNAPSHOT_CLASS,
        "source": {"persistentVolumeClaimName": f"{volume_name(placed.copy.source)}{naming.HYPERDISK_FILL_SUFFIX}"},
    }


def read_only_claim(placed: Placed) -> dict[str, object]:
    return {
        "accessModes": ["ReadOnlyMany"],
        "storageClassName": volume_name(placed.copy.source),
        "dataSource": {
            "apiGroup": SNAPSHOT_API.split("/")[0],
            "kind": "VolumeSnapshot",
            "name": volume_name(placed.copy.source),
        },
        "resources": {"requests": {"storage": f"{size_gib(placed.copy)}Gi"}},
    }


def fill_job_spec(placed: Placed, reader_ksa: str) -> dict[str, object]:
    """The Job that copies the bucket copy onto the fill volume after its marker (init container); CPU only,
    on the system pool, as the mirror's reader (objectViewer on the bucket)."""
    source, wait = placed.copy.source, mirror.job_seconds(placed.copy.gib)  # the mirror Job may still be running
    scratch_gib = mirror.PACKAGES_GIB + 1
    requests = {"cpu": "2", "memory": "2Gi", "ephemeral-storage": f"{scratch_gib + mirror.HEADROOM_GIB}Gi"}
    container: dict[str, object] = {
        "name": "fill",
        "image": mirror.IMAGE,
        "command": mirror.job_command("requirements-fill.txt", "fill_volume.py"),
        "env": mirror.job_env({"BUCKET": source.bucket, "PREFIX": source.prefix, "VOLUME": FILL_MOUNT}),
        "resources": {"requests": requests, "limits": dict(requests)},
        "securityContext": mirror.hardened(),
        "volumeMounts": [
            {"name": "scratch", "mountPath": mirror.SCRATCH},
            {"name": "scripts", "mountPath": mirror.SCRIPTS_MOUNT, "readOnly": True},
            {"name": "volume", "mountPath": FILL_MOUNT},
        ],
    }
    return mirror.job_pod(
        labels=mirror.labels(source, "hyperdisk-ml"),
        service_account=reader_ksa,
        container=container,
        volumes=[
            {"name": "scratch", "emptyDir": {"sizeLimit": f"{scratch_gib}Gi"}},
            {
                "name": "volume",
                "persistentVolumeClaim": {
                    "claimName": f"{volume_name(placed.copy.source)}{naming.HYPERDISK_FILL_SUFFIX}"
                },
            },
        ],
        init=[mirror.wait_container(source, wait)],
        deadline=wait + fill_seconds(placed.copy.gib),
    )


# --- the load path --------------------------------------------------------------------------------------------


class HyperdiskMl(LoadPath):
    name = "hyperdiskml"
    mounted = True

    def check(self, path: str, pool: tuple[str, str] | None, others: tuple[str, ...]) -> Iterator[Problem]:
        hdml = facts()
        if pool is not None and not hdml.attachable(pool[1]):
            yield Problem(
                path,
                f"a Hyperdisk ML volume cannot be attached to {pool[1]} (pool {pool[0]}): only the "
                f"{', '.join(hdml.attachable_series)} machine series can attach one",
                f"move the service to a pool of one of those series, or use one of {', '.join(others)}",
            )

    def warnings(self, path: str) -> list[str]:
        return [
            f"{path}: hyperdiskml — the attaching machine series ({', '.join(facts().attachable_series)}) and the "
            "image-to-volume time are from GKE's guide as recalled, not re-read: not checked until a real "
            "`pulumi preview`"
        ]

    def pod(self, ctx: PodContext) -> PodAdditions:
        base = super().pod(ctx)
        assert ctx.source is not None  # super().pod refuses a pod without its copy
        # One volume per model@commit, attached READ_ONLY_MANY to every replica's node; mounted where a gcsfuse
        # pod sees the same prefix, so the server's arguments name that folder.
        claim: dict[str, object] = {
            "name": "model-mirror",
            "persistentVolumeClaim": {"claimName": volume_name(ctx.source), "readOnly": True},
        }
        return replace(
            base,
            volumes=(*base.volumes, claim),
            mounts=(*base.mounts, {"name": "model-mirror", "mountPath": ctx.source.path, "readOnly": True}),
        )

    def volume_gib(self, ctx: PodContext) -> float | None:
        return float(facts().volume_gib(ctx.weights_gib))

    def cost_lines(self, placed: Placed) -> list[DiskLine]:
        size = size_gib(placed.copy)
        model = f"{placed.copy.source.model}@{placed.copy.source.commit[:12]}"
        zones = len(placed.zones)
        return [
            DiskLine(f"Hyperdisk ML {model}, {zones} zone(s)", "hyperdiskMlGbMonth", size, zones),
            DiskLine(f"disk image of {model}", "imageGbMonth", size),
            DiskLine(f"fill disk of {model} (pd-balanced, kept with its claim)", "pdBalancedGbMonth", size),
        ]

    def register(self, ctx: MirrorContext, copies: tuple[Placed, ...]) -> dict[str, pulumi.Resource]:
        """The two classes every copy shares, then per copy: fill claim and Job, image snapshot, StorageClass and
        the ReadOnlyMany claim the serving pods wait for."""
        if not copies:
            return {}
        classes = _register_classes(ctx)
        return {placed.copy.source.prefix: _register_copy(ctx, classes, placed) for placed in copies}


@dataclass(frozen=True)
class _Classes:
    fill: pulumi.Resource
    snapshot: pulumi.Resource


def _register_classes(ctx: MirrorContext) -> _Classes:
    part_of = {"app.kubernetes.io/part-of": "gke-serving", "app.kubernetes.io/component": "model-mirror"}
    child = pulumi.ResourceOptions(parent=ctx.parent)
    fill = _object(
        "storage.k8s.io/v1",
        "StorageClass",
        f"{ctx.name}-hdml-fill-class",
        {"metadata": {"name": FILL_STORAGE_CLASS, "labels": part_of}, **fill_storage_class()},
        child,
    )
    # VolumeSnapshotClass keeps its fields at the top level, which the SDK's CustomResource (spec only)
    # cannot send: registered under the provider's own type token, as CustomResource does.
    images = _object(
        SNAPSHOT_API,
        "VolumeSnapshotClass",
        f"{ctx.name}-hdml-snapshot-class",
        {"metadata": {"name": SNAPSHOT_CLASS, "labels": part_of}, **snapshot_class()},
        child,
    )
    return _Classes(fill, images)


def _register_copy(ctx: MirrorContext, classes: _Classes, placed: Placed) -> pulumi.Resource:
    source, key, name = placed.copy.source, naming.short_hash(placed.copy.source.prefix), ctx.name
    volume = volume_name(source)
    meta = {"namespace": ctx.namespace, "labels": mirror.labels(source, "hyperdisk-ml")}
    fill = _object(
        "v1",
        "PersistentVolumeClaim",
        f"{name}-hdml-fill-{key}",
        # WaitForFirstConsumer: the claim binds only when the fill Job's pod is scheduled, so an await for Bound
        # would wait on the Job, which is created after it; the Job's own await covers it.
        {
            "metadata": {
                **meta,
                "name": f"{volume}{naming.HYPERDISK_FILL_SUFFIX}",
                "annotations": {"pulumi.com/skipAwait": "true"},
            },
            "spec": fill_claim(placed),
        },
        pulumi.ResourceOptions(parent=ctx.parent, depends_on=[classes.fill]),
    )
    seconds = mirror.job_seconds(placed.copy.gib) + fill_seconds(placed.copy.gib) + ctx.queue_seconds
    after = [ctx.jobs[source.prefix]] if source.prefix in ctx.jobs else []
    job = _object(
        "batch/v1",
        "Job",
        f"{name}-hdml-job-{key}",
        {
            "metadata": {
                **meta,
                "name": volume,
                "annotations": mirror.job_annotations(source),
            },
            "spec": fill_job_spec(placed, ctx.reader_ksa),
        },
        # The Job's await (Complete) bounds the fill; the snapshot is taken only after it.
        pulumi.ResourceOptions(
            parent=ctx.parent,
            depends_on=[fill, *after],
            custom_timeouts=pulumi.CustomTimeouts(create=_minutes(seconds + 60), update=_minutes(seconds + 60)),
        ),
    )
    image = image_seconds(placed.copy.gib)
    snap = _object(
        SNAPSHOT_API,
        "VolumeSnapshot",
        f"{name}-hdml-snapshot-{key}",
        # A custom resource has no built-in await: waitFor makes `pulumi up` wait for the image, bounded by the
        # timeout below, so the claim is not created against a snapshot that is not ready.
        {
            "metadata": {
                **meta,
                "name": volume,
                "annotations": {"pulumi.com/waitFor": "jsonpath={.status.readyToUse}=true"},
            },
            "spec": snapshot(placed),
        },
        pulumi.ResourceOptions(
            parent=ctx.parent,
            depends_on=[job, classes.snapshot],
            custom_timeouts=pulumi.CustomTimeouts(create=_minutes(image), update=_minutes(image)),
        ),
    )
    klass = _object(
        "storage.k8s.io/v1",
        "StorageClass",
        f"{name}-hdml-class-{key}",
        {"metadata": {"name": volume, "labels": mirror.labels(source, "hyperdisk-ml")}, **storage_class(placed)},
        pulumi.ResourceOptions(parent=ctx.parent),
    )
    # Immediate binding: the claim binds once a volume per zone is made from the image; the await for Bound is
    # bounded by the image estimate (the servers' rollout depends on this claim).
    return _object(
        "v1",
        "PersistentVolumeClaim",
        f"{name}-hdml-{key}",
        {"metadata": {**meta, "name": volume}, "spec": read_only_claim(placed)},
        pulumi.ResourceOptions(
            parent=ctx.parent,
            depends_on=[snap, klass],
            custom_timeouts=pulumi.CustomTimeouts(create=_minutes(image), update=_minutes(image)),
        ),
    )


def _minutes(seconds: int) -> str:
    return f"{math.ceil(seconds / 60)}m"


def _object(
    api_version: str, kind: str, name: str, body: dict[str, object], opts: pulumi.ResourceOptions
) -> pulumi.Resource:
    """A Kubernetes object under the provider's own type token (`kubernetes:<group/version>:<Kind>`), as the typed
    SDK classes register it: the load paths stay free of the Kubernetes SDK (the policy pack imports them)."""
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return pulumi.CustomResource(
        f"kubernetes:{group_version}:{kind}", name, {"apiVersion": api_version, "kind": kind, **body}, opts=opts
    )
