"""`load: hyperdiskml`: a read-only-many Hyperdisk ML volume per model@commit, filled once from the mirror.

The flow of GKE's "Accelerate AI/ML data loading with Hyperdisk ML"
(cloud.google.com/kubernetes-engine/docs/how-to/persistent-volumes/hyperdisk-ml), multi-zone variant:
1. A ReadWriteOnce PVC (`hdml-<hash>-fill`) and a Job on the system pool that waits for the bucket copy's
   `.complete`, copies the prefix onto the volume and writes the volume's own `.complete` last.
2. A VolumeSnapshot of that PVC in a VolumeSnapshotClass with `snapshot-type: images`: a disk image, from
   which Hyperdisk ML volumes can be made in several zones.
3. A ReadOnlyMany PVC (`hdml-<hash>`) from the snapshot, in a StorageClass of type hyperdisk-ml with
   `enable-multi-zone-provisioning: "true"` and allowedTopologies = the zones of the pools that read it;
   every serving pod mounts it read-only at MOUNT_ROOT/<prefix>.
Manifest bodies are plain functions here; workloads/model_mirror.py registers them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import naming
from config.mirror import WeightSource
from sizing.cold_start import hyperdisk_ml

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

FILL_SCRIPT = r"""
import json, os, pathlib, sys
from google.cloud import storage

root, prefix = pathlib.Path(os.environ["VOLUME"]), os.environ["PREFIX"]
done = root / ".complete"
if done.exists():
    print(f"{root} is complete: nothing to do")
    sys.exit(0)
bucket = storage.Client().bucket(os.environ["BUCKET"])
blobs = [b for b in bucket.list_blobs(prefix=prefix + "/") if b.name != prefix + "/.complete"]
total = 0
for blob in blobs:
    target = root / blob.name[len(prefix) + 1 :]
    if target.exists() and target.stat().st_size == blob.size:
        continue  # copied whole by an earlier attempt
    target.parent.mkdir(parents=True, exist_ok=True)
    blob.download_to_filename(str(target))
    if target.stat().st_size != blob.size:
        sys.exit(f"{blob.name}: copied {target.stat().st_size} bytes, the bucket has {blob.size}")
    total += blob.size
    print(f"{blob.name}: {blob.size} bytes", flush=True)
os.sync()
body = {"bucket": bucket.name, "prefix": prefix, "files": len(blobs)}
done.write_text(json.dumps(body))
os.sync()
print(f"{root}: {len(blobs)} files from gs://{bucket.name}/{prefix}, complete")
"""


@dataclass(frozen=True)
class Disk:
    """The Hyperdisk ML copy of one model@commit and where its readers run."""

    source: WeightSource
    weights_gib: float | None
    zones: tuple[str, ...]  # the zones of every pool whose pods read it

    @property
    def name(self) -> str:
        return volume_name(self.source)

    @property
    def size_gib(self) -> int:
        return hyperdisk_ml().volume_gib(self.weights_gib)


def volume_name(source: WeightSource) -> str:
    """`hdml-<hash>`: the ReadOnlyMany PVC, its StorageClass and snapshot; the same hash as the mirror Job."""
    return naming.hyperdisk_name(source.model, source.commit)


def fill_seconds(weights_gib: float | None) -> int:
    """How long the fill Job copies, its wait for the bucket copy not included."""
    gib = weights_gib if weights_gib is not None else 100.0
    return int(MARGIN * (FIXED_SECONDS + FILL_SECONDS_PER_GIB * gib))


def image_seconds(weights_gib: float | None) -> int:
    """How long an image of the filled disk, or a Hyperdisk ML volume from it, may take."""
    gib = weights_gib if weights_gib is not None else 100.0
    return int(MARGIN * (FIXED_SECONDS + IMAGE_SECONDS_PER_GIB * gib))


def labels(source: WeightSource) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "hyperdisk-ml",
        "app.kubernetes.io/component": "model-mirror",
        "app.kubernetes.io/part-of": "gke-serving",
        "app.kubernetes.io/managed-by": "pulumi",
        "gke-serving/mirror-commit": source.commit,
    }


def fill_storage_class() -> dict[str, Any]:
    return {
        "provisioner": PD_CSI,
        "parameters": {"type": FILL_DISK_TYPE},
        # The disk is made in the zone of the node the fill Job lands on.
        "volumeBindingMode": "WaitForFirstConsumer",
        "reclaimPolicy": "Delete",  # the image, not the fill disk, is what the readers need
    }


def snapshot_class() -> dict[str, Any]:
    # snapshot-type: images, a disk image, which multi-zone provisioning restores from (parameter names and
    # values: gcp-compute-persistent-disk-csi-driver pkg/common/parameters.go, DiskImageType).
    return {"driver": PD_CSI, "deletionPolicy": "Delete", "parameters": {"snapshot-type": "images"}}


def storage_class(disk: Disk) -> dict[str, Any]:
    """The hyperdisk-ml class of one copy: one volume per zone of its readers, each from the image."""
    return {
        "provisioner": PD_CSI,
        "parameters": {
            "type": "hyperdisk-ml",
            "provisioned-throughput-on-create": f"{hyperdisk_ml().throughput_mib_per_second}Mi",
            "enable-multi-zone-provisioning": "true",  # ParameterKeyEnableMultiZoneProvisioning, same file
        },
        # Multi-zone provisioning makes the volumes at once, in every allowed zone (GKE Hyperdisk ML guide, as
        # recalled: not re-read, and the preview warns so).
        "volumeBindingMode": "Immediate",
        "reclaimPolicy": "Delete",
        "allowVolumeExpansion": False,
        "allowedTopologies": [{"matchLabelExpressions": [{"key": "topology.gke.io/zone", "values": list(disk.zones)}]}],
    }


def fill_claim(disk: Disk) -> dict[str, Any]:
    return {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": FILL_STORAGE_CLASS,
        "resources": {"requests": {"storage": f"{disk.size_gib}Gi"}},
    }


def snapshot(disk: Disk) -> dict[str, Any]:
    return {
        "volumeSnapshotClassName": SNAPSHOT_CLASS,
        "source": {"persistentVolumeClaimName": f"{disk.name}{naming.HYPERDISK_FILL_SUFFIX}"},
    }


def read_only_claim(disk: Disk) -> dict[str, Any]:
    return {
        "accessModes": ["ReadOnlyMany"],
        "storageClassName": disk.name,
        "dataSource": {"apiGroup": SNAPSHOT_API.split("/")[0], "kind": "VolumeSnapshot", "name": disk.name},
        "resources": {"requests": {"storage": f"{disk.size_gib}Gi"}},
    }
