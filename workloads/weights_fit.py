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
from loads.hub import HEADROOM_GIB, TMP_GIB
from runtimes import runtime_of
from workloads.model_mirror import adapter_copies, weight_sources
from workloads.model_server import cold_start_of, pod_weights
from workloads.probes import startup_budget_seconds, startup_window_seconds, weights_gib


def weights_problems(env: Environment) -> list[Problem]:
    sources, adapters = weight_sources(env), adapter_copies(env)
    problems = []
    for name, service in sorted(env.services.items()):
        gib = weights_gib(service)
        if gib is None or env.node_pools.get(service.pool) is None:
            continue  # an unknown size is the model-architecture-known policy's finding
        path, ctx, additions = pod_weights(
            service, env.node_pools[service.pool], sources.get(name), gib, adapters.get(name, ())
        )
        where = f"{P}:services.{name}"
        volume = path.volume_gib(ctx)
        if volume is not None and gib > volume:
            problems.append(
                Problem(
                    f"{where}.model",
                    f"its files take {gib:.1f} GiB, more than the {volume:.0f} GiB the {path.name} load gives them on "
                    f"pool {service.pool}",
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
                    f"of pool {service.pool} gives one pod",
                    "use a pool with a larger disk (diskSizeGb, local SSDs) or fewer GPUs per node, or a load that "
                    "keeps no copy on the node (streamer, hyperdiskml)",
                )
            )
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
