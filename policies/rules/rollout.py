"""Rollouts that keep serving, and `pulumi up` waits as long as a rollout can take.

kubernetes Deployment docs: maxUnavailable defaults to 25 % (rounded down) and maxSurge to 25 %
(rounded up); Recreate stops every pod first. pulumi-kubernetes (Deployment and Service docstrings of
the installed SDK): it waits for a Deployment to be Available and a Service to have ready endpoints,
10 minutes unless customTimeouts say otherwise, then fails the update.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs, StackValidationPolicy

from policies.rules.base import DEFAULT_ENFORCEMENT, gpus
from policies.rules.placement import matching_pools
from policies.rules.pods import Pod, mapping, pod_of, whole_number
from policies.rules.pools import gpu_pools

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PULUMI_DEFAULT_WAIT_SECONDS = 600  # pulumi-kubernetes: "after 10 minutes, it will time out"
DEFAULT_PROGRESS_DEADLINE_SECONDS = 600  # apps/v1 DeploymentSpec.progressDeadlineSeconds


@dataclass(frozen=True)
class Rollout:
    urn: str
    name: str
    pod: Pod
    min_replicas: int
    max_replicas: int
    max_surge: int  # extra pods during a rollout, at max_replicas
    max_unavailable: int  # pods a rollout may stop first, at min_replicas
    recreate: bool
    progress_deadline: int
    timeouts: Any  # PolicyCustomTimeouts


def _resolve(value: Any, replicas: int, default: str, *, round_up: bool) -> int:
    """An int-or-percent of the rolling update, as the Deployment controller resolves it."""
    value = default if value is None else value
    number = whole_number(value)
    if number is not None:
        return number
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        share = replicas * int(value[:-1]) / 100
        return math.ceil(share) if round_up else math.floor(share)
    return 0


def _hpa_bounds(resources: list[PolicyResource]) -> dict[str, tuple[int, int]]:
    bounds = {}
    for r in resources:
        if r.resource_type != HPA:
            continue
        spec = mapping(r.props.get("spec"))
        target = mapping(spec.get("scaleTargetRef"))
        if target.get("kind") == "Deployment" and isinstance(target.get("name"), str):
            low = whole_number(spec.get("minReplicas")) or 1
            bounds[target["name"]] = (low, whole_number(spec.get("maxReplicas")) or low)
    return bounds


def rollouts(resources: list[PolicyResource]) -> Iterator[Rollout]:
    hpas = _hpa_bounds(resources)
    for r in resources:
        if r.resource_type != DEPLOYMENT:
            continue
        pod = pod_of(r.resource_type, r.props)
        if pod is None:
            continue
        spec = mapping(r.props.get("spec"))
        fixed = whole_number(spec.get("replicas"))
        low, high = hpas.get(pod.name, (1 if fixed is None else fixed, 1 if fixed is None else fixed))
        strategy = mapping(spec.get("strategy"))
        rolling = mapping(strategy.get("rollingUpdate"))
        yield Rollout(
            urn=r.urn,
            name=pod.name,
            pod=pod,
            min_replicas=low,
            max_replicas=high,
            max_surge=_resolve(rolling.get("maxSurge"), high, "25%", round_up=True),
            max_unavailable=_resolve(rolling.get("maxUnavailable"), low, "25%", round_up=False),
            recreate=strategy.get("type") == "Recreate",
            progress_deadline=whole_number(spec.get("progressDeadlineSeconds")) or DEFAULT_PROGRESS_DEADLINE_SECONDS,
            timeouts=r.opts.custom_timeouts,
        )


def _keeps_serving(args: StackValidationArgs, report: ReportViolation) -> None:
    found = list(rollouts(args.resources))
    for ro in found:
        if ro.min_replicas == 1 and (ro.recreate or ro.max_unavailable >= 1):
            how = "Recreate stops it first" if ro.recreate else f"maxUnavailable {ro.max_unavailable} stops it first"
            report(
                f"Deployment {ro.name} may run a single replica and {how}: every rollout removes all capacity "
                "for a full cold start — use RollingUpdate with maxSurge 1 and maxUnavailable 0",
                ro.urn,
            )
    pools = gpu_pools(args.resources)
    demand: dict[str, list[Rollout]] = defaultdict(list)
    for ro in found:
        if ro.pod.gpus and (matches := matching_pools(ro.pod, pools)):
            demand[matches[0].name].append(ro)
    for pool in pools:
        on_pool = demand.get(pool.name, [])
        need = sum((ro.max_replicas + ro.max_surge) * ro.pod.gpus for ro in on_pool)
        have = pool.max_nodes * pool.gpus_per_node
        surging = [ro for ro in on_pool if ro.max_surge]
        if need > have and surging:
            parts = ", ".join(f"{ro.name} {ro.max_replicas}+{ro.max_surge} x {gpus(ro.pod.gpus)}" for ro in on_pool)
            nodes = math.ceil(need / pool.gpus_per_node)
            report(
                f"pool {pool.name} has {gpus(have)} at maxNodes {pool.max_nodes}, but its services at their "
                f"maximum replicas plus each rollout's surge pod need {need} ({parts}): the surge pod of a "
                f"rollout at full scale would wait for a GPU — raise maxNodes to {nodes} or lower the services' "
                "maximum replicas",
                pool.urn,
            )


rollout_keeps_serving = StackValidationPolicy(
    name="rollout-keeps-serving",
    description="A rollout never stops the last serving replica (surge one instead), and the pool's maxNodes "
    "leaves room for every service's surge pod at its maximum replicas.",
    validate=_keeps_serving,
    enforcement_level=DEFAULT_ENFORCEMENT,
)


def _minutes(seconds: float) -> str:
    return f"{math.ceil(seconds / 60)}m"


def _selects(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _waits(args: StackValidationArgs, report: ReportViolation) -> None:
    found = list(rollouts(args.resources))
    for ro in found:
        startup = _startup_window(ro.pod)
        if startup > ro.progress_deadline:
            report(
                f"Deployment {ro.name}: its startup probe allows {_minutes(startup)} but progressDeadlineSeconds "
                f"is {ro.progress_deadline} — the Deployment fails before a slow start is given up on; raise it",
                ro.urn,
            )
        for kind, waited in (("create", ro.timeouts.create_seconds), ("update", ro.timeouts.update_seconds)):
            wait = waited or PULUMI_DEFAULT_WAIT_SECONDS
            if wait < ro.progress_deadline:
                report(
                    f"Deployment {ro.name}: `pulumi up` waits {_minutes(wait)} on {kind}"
                    f"{' (the default)' if not waited else ''} but a new replica may take "
                    f"{_minutes(ro.progress_deadline)} (progressDeadlineSeconds) — set customTimeouts.{kind} "
                    f"to at least {_minutes(ro.progress_deadline)}",
                    ro.urn,
                )
    for r in args.resources:
        if r.resource_type != SERVICE:
            continue
        selector = mapping(mapping(r.props.get("spec")).get("selector"))
        backing = [ro for ro in found if _selects(selector, ro.pod.labels)]
        if not backing:
            continue
        deadline = max(ro.progress_deadline for ro in backing)
        wait = r.opts.custom_timeouts.create_seconds or PULUMI_DEFAULT_WAIT_SECONDS
        if wait < deadline:
            name = mapping(r.props.get("metadata")).get("name", r.name)
            report(
                f"Service {name}: `pulumi up` waits {_minutes(wait)} for a ready endpoint but its pods may take "
                f"{_minutes(deadline)} to become ready — set customTimeouts.create to at least {_minutes(deadline)}",
                r.urn,
            )


def _startup_window(pod: Pod) -> int:
    server = pod.server()
    probe = mapping(server.spec.get("startupProbe")) if server else {}
    if not probe:
        return 0
    period = whole_number(probe.get("periodSeconds")) or 10
    threshold = whole_number(probe.get("failureThreshold")) or 3
    return (whole_number(probe.get("initialDelaySeconds")) or 0) + period * threshold


await_covers_rollout = StackValidationPolicy(
    name="await-covers-rollout",
    description="`pulumi up` waits for each Deployment and Service at least as long as a new replica may take "
    "to start (progressDeadlineSeconds, which in turn covers the startup probe's window).",
    validate=_waits,
    enforcement_level=DEFAULT_ENFORCEMENT,
)
