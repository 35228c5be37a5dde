"""`load: gcsfuse`: the Cloud Storage FUSE CSI driver mounts the mirror bucket read-only at MOUNT_ROOT; the server
reads the copy's folder through a file cache on the node's ephemeral storage, filled by parallel downloads."""

from __future__ import annotations

import math
from dataclasses import replace

from catalog.node_model import gcsfuse_sidecar, gcsfuse_sidecar_resources
from loads.base import LoadPath, PodAdditions, PodContext, SidecarShare
from settings.mirror import MOUNT_ROOT

DRIVER = "gcsfuse.csi.storage.gke.io"
# The mirror prefix is immutable (a commit), so metadata never needs refreshing (ttl -1); parallel
# downloads fill the file cache with several ranges of each file at once (they need the file cache).
# GKE docs, "Optimize Cloud Storage FUSE CSI driver performance" / "Cloud Storage FUSE for serving".
METADATA_OPTIONS = (
    "implicit-dirs",  # `gcloud storage`/the client upload no folder objects
    "metadata-cache:ttl-secs:-1",
    "metadata-cache:stat-cache-max-size-mb:-1",
    "metadata-cache:type-cache-max-size-mb:-1",
)
MOUNT_OPTIONS = ",".join(
    (
        *METADATA_OPTIONS,
        "file-cache:enable-parallel-downloads:true",
        "file-cache:parallel-downloads-per-file:16",
        "file-cache:download-chunk-size-mb:10",
    )
)
CACHE_VOLUME = "gke-gcsfuse-cache"  # the name the driver takes as the file cache's volume
# The file cache holds the checkpoint once, with room for the files' rounding. [estimate]
FILE_CACHE_MARGIN = 1.1
UNKNOWN_GIB = 30.0  # a model of unknown size: as a 15B model in bf16


def file_cache_gib(weights_gib: float | None) -> int:
    """The gcsfuse file cache of a pod: the whole checkpoint (parallel downloads need the file cache)."""
    return math.ceil((weights_gib if weights_gib is not None else UNKNOWN_GIB) * FILE_CACHE_MARGIN) + 1


class GcsFuse(LoadPath):
    name = "gcsfuse"
    mounted = True

    def pod(self, ctx: PodContext) -> PodAdditions:
        base = super().pod(ctx)
        assert ctx.source is not None  # super().pod refuses a pod without its copy
        cache = file_cache_gib(ctx.weights_gib)
        annotations, sidecar = sidecar_requests()
        attributes = {
            "mountOptions": MOUNT_OPTIONS,
            "fileCacheCapacity": f"{cache}Gi",
            "fileCacheForRangeRead": "true",  # safetensors are read by ranges
        }
        # On the node's ephemeral storage: the local SSDs where the pool has them, else the boot disk.
        file_cache: dict[str, object] = {"name": CACHE_VOLUME, "emptyDir": {"sizeLimit": f"{cache}Gi"}}
        return replace(
            base,
            volumes=(*base.volumes, bucket_volume("model-mirror", ctx.source.bucket, attributes), file_cache),
            mounts=(*base.mounts, {"name": "model-mirror", "mountPath": MOUNT_ROOT, "readOnly": True}),
            annotations=annotations,
            sidecar=sidecar,
            weights_disk_gib=base.weights_disk_gib + cache,
        )

    def volume_gib(self, ctx: PodContext) -> float | None:
        return float(file_cache_gib(ctx.weights_gib))


def sidecar_requests() -> tuple[dict[str, str], SidecarShare]:
    """The pod annotations that turn on the CSI driver's sidecar with its requests, and the share it takes."""
    sidecar = gcsfuse_sidecar()
    annotations = {
        "gke-gcsfuse/volumes": "true",
        "gke-gcsfuse/cpu-request": sidecar["cpu"],
        "gke-gcsfuse/memory-request": sidecar["memory"],
        "gke-gcsfuse/ephemeral-storage-request": sidecar["ephemeralStorage"],
    }
    share = gcsfuse_sidecar_resources(annotations)
    return annotations, SidecarShare(share.cpu_milli, share.memory_mib)


def bucket_volume(name: str, bucket: str, attributes: dict[str, str]) -> dict[str, object]:
    """A read-only Cloud Storage FUSE CSI volume of `bucket` with the driver's `attributes`."""
    return {
        "name": name,
        "csi": {"driver": DRIVER, "readOnly": True, "volumeAttributes": {"bucketName": bucket, **attributes}},
    }
