"""Do a service's weights fit where its load path puts them, and arrive within its startup budget?

Refused before anything is registered (exit 2), with both numbers and the fix: files larger than the volume
that receives them (the Hub download's emptyDir, the FUSE file cache, the Hyperdisk ML volume), a pod whose
share of the node's ephemeral storage cannot hold what its load path keeps there (the FUSE file cache, /tmp,
the logs), or the part of
the cold-start estimate the startup probe sees (weights at the path's rate + warm-up: the image is pulled
before the container, and its probes, start) beyond what the probe allows.
"""

from __future__ import annotations

from config import Environment, Problem
from config.service_checks import P
from config.services import ServiceConfig
from config.shapes import Shape
from loads.adapters import AdapterCopy
from loads.hub import HEADROOM_GIB, TMP_GIB
from runtimes import runtime_of
from settings.mirror import WeightSource
from workloads.model_mirror import adapter_copies, weight_sources
from workloads.model_server import cold_start_of, pod_weights
from workloads.probes import startup_budget_seconds, startup_window_seconds, weights_gib


def weights_problems(env: Environment) -> list[Problem]:
    sources, adapters = weight_sources(env), adapter_copies(env)
    problems = []
    for name, service in sorted(env.services.items()):
        gib = weights_gib(service)
        shapes = env.shapes(service)
        if gib is None or not shapes:
            continue  # an unknown size is the model-architecture-known policy's finding
        where = f"{P}:services.{name}"
        # Each option of a class as if it were the only one: a fallback without room is refused before a stockout.
        for shape in shapes:
            problems += _disk_problems(where, service, shape, sources.get(name), gib, adapters.get(name, ()))
        path = pod_weights(service, [shapes[0].pool], sources.get(name), gib)[0]
        cold = cold_start_of(service, sources.get(name))
        spec = runtime_of(service).facts_for(service)
        budget = startup_window_seconds(
            startup_budget_seconds(gib, path.name), spec.startup_delay_seconds, spec.startup_retries
        )
        estimate = None if cold.weights_seconds is None else cold.weights_seconds + cold.warmup_seconds
        if estimate is not None and estimate > budget:
            problems.append(
                Problem(
                    f"{where}.load",
                    f"its start is estimated at {estimate} s ({gib:.1f} GiB by {path.name}, then warm-up), beyond the "
                    f"{budget} s its startup probe allows",
                    "load it from the model mirror (gke-serving:modelMirror and a faster load), or serve a smaller "
                    "or quantized checkpoint",
                )
            )
    return problems


def _disk_problems(
    where: str,
    service: ServiceConfig,
    shape: Shape,
    source: WeightSource | None,
    gib: float,
    adapters: tuple[AdapterCopy, ...],
) -> list[Problem]:
    """The weights on a node of `shape`: the load path's volume holds them, the pod's disk share holds its files."""
    path, ctx, additions = pod_weights(service, [shape.pool], source, gib, adapters)
    problems = []
    volume = path.volume_gib(ctx)
    if volume is not None and gib > volume:
        problems.append(
            Problem(
                f"{where}.model",
                f"its files take {gib:.1f} GiB, more than the {volume:.0f} GiB the {path.name} load gives them on "
                f"{shape.where}",
                "use a pool with a larger disk (diskSizeGb, local SSDs) or fewer GPUs per node, a quantized "
                "checkpoint, or a load that streams from the model mirror",
            )
        )
    disk = TMP_GIB + additions.weights_disk_gib + HEADROOM_GIB
    if additions.reader and disk > ctx.ephemeral_gib:
        problems.append(
            Problem(
                f"{where}.load",
                f"its pods need {disk} GiB of the node's ephemeral storage ({additions.weights_disk_gib} GiB for "
                f"the {path.name} load's files, /tmp and the logs), more than the {ctx.ephemeral_gib} GiB a node "
                f"of {shape.where} gives one pod",
                "use a pool with a larger disk (diskSizeGb, local SSDs) or fewer GPUs per node, or a load that "
                "keeps no copy on the node (streamer, hyperdiskml)",
            )
        )
    return problems
