"""LoRA adapters in a serving pod: each adapter's mirror copy, read from a read-only Cloud Storage FUSE mount of
the mirror bucket at ADAPTER_ROOT, whatever the base model's own load path (the server reads an adapter from a
local folder: vLLM's LoRA loader opens adapter_config.json and the tensors by path), once its marker exists.

Adapters are small (tens to hundreds of MiB), read once at start: the mount keeps metadata only, no file cache
on the node's disk. A pod whose base model is mounted from the same bucket (load: gcsfuse) gets a second volume
of it; the driver's one sidecar serves both.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from loads.base import PodAdditions
from loads.gcsfuse import METADATA_OPTIONS, GcsFuse, bucket_volume, sidecar_requests
from loads.mirror import Copy, job_seconds, wait_container
from naming import short_hash
from settings.mirror import ADAPTER_ROOT, WeightSource

# The load path adapter copies are read by, for the mirror's bookkeeping (WeightSource.load).
ADAPTER_LOAD = GcsFuse.name
VOLUME = "lora-adapters"


@dataclass(frozen=True)
class AdapterCopy:
    """The mirror copy of one adapter a service serves."""

    copy: Copy

    @property
    def source(self) -> WeightSource:
        return self.copy.source

    @property
    def wait_seconds(self) -> int:
        """How long a pod may wait for it: its own Job's budget (a pod's copies are filled side by side)."""
        return job_seconds(self.copy.gib)


def adapter_pod(adapters: tuple[AdapterCopy, ...]) -> PodAdditions:
    """The volume, mount, annotations and one wait per adapter copy a pod that serves `adapters` needs."""
    if not adapters:
        return PodAdditions()
    buckets = {a.source.bucket for a in adapters}
    if len(buckets) != 1:
        raise ValueError(f"adapter copies in several buckets {sorted(buckets)}: the environment has one mirror")
    annotations, sidecar = sidecar_requests()
    volume = bucket_volume(VOLUME, buckets.pop(), {"mountOptions": ",".join(METADATA_OPTIONS)})
    waits = tuple(
        wait_container(a.source, a.wait_seconds, name=f"wait-for-adapter-{short_hash(a.source.prefix)}")
        for a in sorted(adapters, key=lambda a: a.source.prefix)
    )
    return PodAdditions(
        volumes=(volume,),
        mounts=({"name": VOLUME, "mountPath": ADAPTER_ROOT, "readOnly": True},),
        init_containers=waits,
        annotations=annotations,
        sidecar=sidecar,
        reader=True,
    )


def combined(base: PodAdditions, adapters: PodAdditions) -> PodAdditions:
    """What the base model's load path and the adapters add to one pod together: one FUSE sidecar at most."""
    return replace(
        base,
        volumes=(*base.volumes, *adapters.volumes),
        mounts=(*base.mounts, *adapters.mounts),
        init_containers=(*base.init_containers, *adapters.init_containers),
        annotations={**base.annotations, **adapters.annotations},
        sidecar=base.sidecar or adapters.sidecar,
        weights_disk_gib=base.weights_disk_gib + adapters.weights_disk_gib,
        hf_token=base.hf_token or adapters.hf_token,
        reader=base.reader or adapters.reader,
    )
