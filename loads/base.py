"""The protocol every way of getting weights into a server implements: one module per load path in loads/.

A load path owns what differs between them: whether it reads the environment's mirror, what the server's
model argument becomes, the pod additions it makes (volumes, mounts, init containers, env, annotations, the
FUSE sidecar's share), the disk the pod needs for weights, the resources it registers beside the mirror's
bucket copy (Hyperdisk ML's fill Job, image and volumes), its cold-start estimate and budget (from
catalog/load_paths.yaml), its cost lines and the checks only it knows. Config, workloads, sizing, the preview
and the policies ask the load path; none of them compares a load path's name.
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from loads.facts import LoadFacts, load_facts
from loads.mirror import Copy, wait_container
from settings.mirror import WeightSource
from settings.problems import Problem

if TYPE_CHECKING:
    import pulumi

# What a server that reads the mirror still writes under its Hugging Face cache path: that much, not weights.
METADATA_CACHE_GIB = 1


@dataclass(frozen=True)
class PodContext:
    """What a load path needs to add itself to one serving pod."""

    source: WeightSource | None  # the mirror copy the pod loads; None on a path that does not read the mirror
    weights_gib: float | None  # what the pod loads (the files the runtime reads); None: unknown
    cache_path: str | None  # the server's Hugging Face cache folder; None: the server reads no Hub
    ephemeral_gib: int  # the pod's ephemeral-storage share of its node (the Hub download lands in it)
    wait_seconds: int = 0  # how long the pod may wait for the mirror copy (its Job may still be running)


@dataclass(frozen=True)
class SidecarShare:
    """Requests of a container the cluster injects into the pod, taken out of the server's share."""

    cpu_milli: int
    memory_mib: int


@dataclass(frozen=True)
class PodAdditions:
    volumes: tuple[dict[str, object], ...] = ()
    mounts: tuple[dict[str, object], ...] = ()  # of the server container
    init_containers: tuple[dict[str, object], ...] = ()
    annotations: dict[str, str] = field(default_factory=dict)
    sidecar: SidecarShare | None = None
    # Disk the pod's own ephemeral storage holds for the weights, beyond /tmp: the Hub download, the FUSE
    # file cache, the small files a streaming server copies; the volume's size when it has one.
    weights_disk_gib: int = 0
    hf_token: bool = False  # the pod downloads from the Hub and gets the token
    reader: bool = False  # the pod reads the mirror bucket as its reader identity


class LoadPath(ABC):
    """Defaults of a path that reads the environment's mirror; each module overrides what differs."""

    name: ClassVar[str]
    reads_mirror: ClassVar[bool] = True  # pods read a bucket copy of model@commit (the mirror Job fills it)
    mounted: ClassVar[bool] = False  # the server reads a folder at `source.path`, not a gs:// URI
    streams: ClassVar[bool] = False  # the server streams gs:// itself (its runtime's streaming flags)

    @property
    def facts(self) -> LoadFacts:
        return load_facts()[self.name]

    # --- config -------------------------------------------------------------------------------------------

    def serves(self, runtime: RuntimeAbilities) -> bool:
        """Whether a server with these abilities can take its weights this way."""
        return runtime.reads_folder if self.mounted else runtime.streams_from_bucket if self.streams else True

    def check(self, path: str, pool: tuple[str, str] | None, others: tuple[str, ...]) -> Iterator[Problem]:
        """What the path refuses of a service's pool (name, machine type): the series that attach a volume; `others`
        are the paths the service's runtime could use instead, for the fix."""
        return iter(())

    def warnings(self, path: str) -> list[str]:
        """What the preview cannot know about the path: said as `not checked`."""
        return []

    # --- serving pods -------------------------------------------------------------------------------------

    def model_location(self, source: WeightSource) -> str:
        """What the server's model argument becomes: the mounted folder, else the gs:// URI."""
        return source.path if self.mounted else source.uri

    def pod(self, ctx: PodContext) -> PodAdditions:
        """Volumes, mounts, init containers and annotations the path adds to a serving pod. A mirror path's pod
        waits for the copy's marker, reads the bucket as the mirror's reader and keeps only the small files
        the server writes under its Hugging Face cache (the streamer's config and tokenizer copies, locks)."""
        if ctx.source is None:
            raise ValueError(f"load {self.name} reads the mirror: the pod needs its copy")
        volumes: tuple[dict[str, object], ...] = ()
        mounts: tuple[dict[str, object], ...] = ()
        if ctx.cache_path:
            volumes = ({"name": "model-cache", "emptyDir": {"sizeLimit": f"{METADATA_CACHE_GIB}Gi"}},)
            mounts = ({"name": "model-cache", "mountPath": ctx.cache_path},)
        return PodAdditions(
            volumes=volumes,
            mounts=mounts,
            init_containers=(wait_container(ctx.source, ctx.wait_seconds),),
            weights_disk_gib=METADATA_CACHE_GIB if ctx.cache_path else 0,
            reader=True,
        )

    # --- resources beside the bucket copy (workloads/model_mirror.py registers them) ----------------------

    def volume_gib(self, ctx: PodContext) -> float | None:
        """Where the weights land and how much it holds, for the fit check; None: nowhere on disk (a stream)."""
        return None

    def cost_lines(self, placed: Placed) -> list[DiskLine]:
        """Disks and images the path keeps per model@commit, for the cost table. Default: none."""
        return []

    def register(self, ctx: MirrorContext, copies: tuple[Placed, ...]) -> dict[str, pulumi.Resource]:
        """Resources the path owns per model@commit beside the bucket copy (Hyperdisk ML's volumes), by prefix:
        what the serving pods of that copy wait for. Default: none (they wait for the mirror Job)."""
        return {}


@dataclass(frozen=True)
class Placed:
    """One bucket copy and the zones of the pools whose pods read it by one load path."""

    copy: Copy
    zones: tuple[str, ...]


@dataclass(frozen=True)
class MirrorContext:
    """Where a load path registers its resources: under the mirror component, in the serving namespace."""

    parent: pulumi.ComponentResource
    name: str  # the component's name: children are named from it
    namespace: pulumi.Input[str]
    reader_ksa: str  # the Kubernetes service account that may read the bucket
    jobs: dict[str, pulumi.Resource]  # the mirror Job of each prefix
    queue_seconds: int = 0  # how long a Job may wait for a system node behind the others


@dataclass(frozen=True)
class RuntimeAbilities:
    """How a server can take weights, in its own terms (runtimes/ fills it; no load path is named)."""

    reads_folder: bool  # its model argument may be a local folder of the repository's files
    streams_from_bucket: bool  # it streams safetensors from gs:// itself (the Run:ai Model Streamer)


@dataclass(frozen=True)
class DiskLine:
    """A disk or image kept for weights: priced per GiB-month (sizing/prices.yaml `disks`)."""

    what: str
    kind: str  # the price key: hyperdiskMlGbMonth, imageGbMonth, pdBalancedGbMonth, ...
    gib: int
    count: int = 1
