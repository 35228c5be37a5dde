"""`load: hub`: the server downloads the weights from the Hugging Face Hub at every start, into an emptyDir on
the node's ephemeral storage, with the HF token. The path of an environment without a mirror."""

from __future__ import annotations

from loads.base import LoadPath, PodAdditions, PodContext

TMP_GIB = 4  # the server's /tmp (compile caches, downloads in flight)
# The container's logs and writable layer count against its ephemeral-storage request too: the cache leaves
# them this much. [estimate] kubelet rotates a container's logs at 10 MiB x 5 files; the writable layer of a
# read-only or cache-mounted server holds little.
HEADROOM_GIB = 1


class Hub(LoadPath):
    name = "hub"
    reads_mirror = False

    def pod(self, ctx: PodContext) -> PodAdditions:
        if ctx.cache_path is None:
            return PodAdditions()  # a server that fetches its own weights (a custom image): nothing to add
        cache = self._cache_gib(ctx)
        return PodAdditions(
            volumes=({"name": "model-cache", "emptyDir": {"sizeLimit": f"{cache}Gi"}},),
            mounts=({"name": "model-cache", "mountPath": ctx.cache_path},),
            weights_disk_gib=cache,
            hf_token=True,
        )

    def volume_gib(self, ctx: PodContext) -> float | None:
        # A server without a Hub cache of ours (a custom image) downloads into its own writable layer: the same
        # share of the node's ephemeral storage.
        return float(self._cache_gib(ctx))

    @staticmethod
    def _cache_gib(ctx: PodContext) -> int:
        """The node share less /tmp and the headroom: what the download may fill."""
        return max(ctx.ephemeral_gib - TMP_GIB - HEADROOM_GIB, 1)
