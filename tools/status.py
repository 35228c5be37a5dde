"""Is a deployed environment serving? Rollouts, the reason each model-server pod is not ready, GPU nodes.

    python -m tools.status <env> [--json] [--wait 30m] [--kubeconfig FILE] [--outputs FILE] [--stack NAME]

Reads the stack's outputs (`pulumi stack output --json`, or `--outputs FILE`: cluster, namespace) and
reaches the cluster with the kubeconfig the program's Kubernetes provider uses (infra/kubeconfig.py: a
user that execs gke-gcloud-auth-plugin, so no credential is stored; the endpoint from `gcloud container
clusters describe`), or with `--kubeconfig`. Per service (the
Deployments labelled app.kubernetes.io/component=model-server): desired / updated / ready / available
replicas and the rollout's Progressing condition; for every pod that is not ready, the reason in words
and the fix — Pending with the cluster autoscaler's event (GPU stockout, quota, a full pool, no node
shape that fits), image pull errors, OOMKilled, crash loops with the last log lines and, for LLM
runtimes, the offline preview's memory-fit estimate (build/<env>/plan.json) and the setting to lower.
Then the model mirror's Jobs (the copy of each model@commit into the bucket, and Hyperdisk ML fills): complete,
copying, waiting for a node, or failed with the Job's reason and its pod's last log line. Then, for the pods of
a service on a compute class, the option of the class each landed on (read off its node's labels against the
class's priorities) and, when it is not the first, why (the cluster autoscaler's stockout or quota event on the
pod). Then the GPU nodes per node pool (a pool GKE created for a class named with it).

Exit status: 0 every service ready; 1 still progressing (with --wait: the timeout passed); 2 failing
(with --wait: a failure that waiting cannot fix — a crash loop past --max-restarts, an image that
cannot be pulled, no node shape that fits, exhausted quota); 3 cannot tell: no stack output, a bad
kubeconfig, an unreachable API server or refused credentials, printed as one line.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from config.compute_classes import COMPUTE_CLASS_LABEL as CLASS_LABEL  # also on the class's nodes (GKE labels them)
from runtimes import REGISTRY
from tools.stack import EXIT_CANNOT_TELL, ROOT, CannotTell, duration, environment, plan_rows, redact, stack_outputs

EXIT_READY, EXIT_PROGRESSING, EXIT_FAILING = 0, 1, 2
SELECTOR = "app.kubernetes.io/component=model-server"  # workloads/deployment.py labels()
JOB_SELECTOR = "app.kubernetes.io/component=model-mirror"  # loads/mirror.py labels(): mirror and fill Jobs
MODEL_ANNOTATION = "gke-serving/model"  # model@commit, on each mirror and fill Job
NAME_LABEL = "app.kubernetes.io/name"  # = the service name
RUNTIME_LABEL = "gke-serving/runtime"
POOL_LABEL = "cloud.google.com/gke-nodepool"
ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
ZONE_LABEL = "topology.kubernetes.io/zone"
INSTANCE_LABEL = "node.kubernetes.io/instance-type"
SPOT_LABEL = "cloud.google.com/gke-spot"  # "true" on Spot VMs
FLEX_LABEL = "cloud.google.com/gke-flex-start"  # "true" on flex-start VMs (GKE's flex-start guide; not re-read)
CLASSES = ("cloud.google.com", "v1", "computeclasses")  # group, version, plural of the ComputeClass CRD
CONTAINER = "server"  # the model server's container in every pod
LOG_LINES = 20
ZONE = re.compile(r"\b[a-z]+-[a-z]+\d+-[a-z]\b")
# The cluster autoscaler's pod events (GKE: "Node scale up in zones ... associated with this pod
# failed: GCE out of resources. Pod is at risk of not being scheduled."), and the scheduler's.
SCALE_EVENTS = ("FailedScaleUp", "NotTriggerScaleUp", "TriggeredScaleUp", "FailedScheduling")
STOCKOUT = re.compile(r"GCE out of resources|GCE_STOCKOUT|ZONE_RESOURCE_POOL_EXHAUSTED|stockout", re.IGNORECASE)
QUOTA = re.compile(r"quota exceeded|QUOTA_EXCEEDED", re.IGNORECASE)
NO_SHAPE = re.compile(r"Insufficient (?:nvidia\.com/gpu|cpu|memory|ephemeral-storage)|didn't match Pod's node affinity")
# What the servers print when the model and its KV cache do not fit in GPU memory (PyTorch, vLLM, TGI).
GPU_MEMORY = re.compile(
    r"CUDA out of memory|OutOfMemoryError|not enough memory|cache blocks|stored in KV cache|memory to handle",
    re.IGNORECASE,
)
IMAGE_PULL_PERMANENT = ("ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
CONFIG_ERRORS = ("CreateContainerConfigError", "CreateContainerError", "RunContainerError")

State = Literal["ready", "progressing", "failing"]
T = TypeVar("T")


@dataclass(frozen=True)
class PodReport:
    name: str
    phase: str
    state: State
    reason: str  # a short word: Pending, OOMKilled, CrashLoopBackOff, ImagePullBackOff ...
    message: str  # what is wrong, in words
    fix: str | None = None
    final: bool = False  # waiting will not fix it (--wait stops)
    restarts: int = 0
    logs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ServiceReport:
    name: str
    runtime: str
    state: State
    desired: int
    updated: int
    ready: int
    available: int
    rollout: str  # the Progressing condition, in words
    pods: list[PodReport]


@dataclass(frozen=True)
class JobReport:
    """One Job that puts weights where the servers read them (loads/mirror.py, loads/hyperdisk_ml.py)."""

    name: str
    model: str  # model@commit
    state: State
    message: str
    last_line: str | None = None  # the newest pod's last log line, secrets redacted

    @property
    def final(self) -> bool:
        return self.state == "failing"  # a failed Job is not retried: `pulumi up` replaces it


@dataclass(frozen=True)
class PoolReport:
    pool: str
    accelerator: str
    nodes: int
    ready: int
    gpus: int  # nvidia.com/gpu allocatable: 0 until the device plugin reports the node's GPUs
    zones: list[str]
    compute_class: str | None = None  # a pool GKE created for a class's option


@dataclass(frozen=True)
class LandedReport:
    """Where a pod of a compute class runs: which option of the class (its place in the list), and why not the
    first."""

    pod: str
    service: str
    compute_class: str
    option: int | None  # None: no option of the class matches the node (the class changed since)
    shape: str  # "g2-standard-12 on-demand in us-central1-b"
    node: str
    why: str | None  # why it is not on option 0; None when it is


@dataclass(frozen=True)
class Report:
    environment: str
    namespace: str
    services: list[ServiceReport]
    pools: list[PoolReport]
    jobs: list[JobReport] = field(default_factory=list)
    landed: list[LandedReport] = field(default_factory=list)

    @property
    def state(self) -> State:
        states = {s.state for s in self.services} | {j.state for j in self.jobs}
        return "failing" if "failing" in states else "progressing" if "progressing" in states else "ready"

    @property
    def final(self) -> bool:
        return any(p.final for s in self.services for p in s.pods) or any(j.final for j in self.jobs)

    @property
    def exit_code(self) -> int:
        return {"ready": EXIT_READY, "progressing": EXIT_PROGRESSING, "failing": EXIT_FAILING}[self.state]

    def as_json(self, exit_code: int) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "namespace": self.namespace,
            "state": self.state,
            "exitCode": exit_code,
            "services": [_camel(asdict(s)) for s in self.services],
            "mirrorJobs": [_camel(asdict(j)) for j in self.jobs],
            "gpuNodes": [_camel(asdict(p)) for p in self.pools],
            "classPlacements": [_camel(asdict(p)) for p in self.landed],
        }


@dataclass(frozen=True)
class Context:
    """What the diagnosis reads besides the pod: the environment's name and the offline preview's rows."""

    env: str
    memory: Mapping[str, dict[str, Any]] = field(default_factory=dict)  # plan.json "memory" by service
    node_fit: Mapping[str, dict[str, Any]] = field(default_factory=dict)  # plan.json "nodeFit" by workload
    max_restarts: int = 3


# --- diagnosis (pure: Kubernetes objects in, words out) -------------------------------------------


def _when(event: client.CoreV1Event) -> datetime:
    series = event.series.last_observed_time if event.series else None
    stamp = series or event.last_timestamp or event.event_time or event.first_timestamp
    return stamp or _meta(event).creation_timestamp or datetime.min.replace(tzinfo=UTC)


def _meta(
    obj: client.V1Pod | client.V1Deployment | client.V1Node | client.CoreV1Event | client.V1Job,
) -> client.V1ObjectMeta:
    return obj.metadata or client.V1ObjectMeta()


def _is_ready(pod: client.V1Pod) -> bool:
    conditions = pod.status.conditions if pod.status and pod.status.conditions else []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def _pool(pod: client.V1Pod) -> str:
    selector = (pod.spec.node_selector if pod.spec else None) or {}
    return selector.get(POOL_LABEL, "its pool")


def _accelerator(pod: client.V1Pod) -> str:
    selector = (pod.spec.node_selector if pod.spec else None) or {}
    return selector.get(ACCELERATOR_LABEL, "GPU")


def _requests(pod: client.V1Pod) -> str:
    resources = pod.spec.containers[0].resources if pod.spec and pod.spec.containers else None
    requests = (resources.requests if resources else None) or {}
    return ", ".join(f"{k} {v}" for k, v in requests.items()) or "nothing"


def _zones(message: str) -> str:
    zones = sorted(set(ZONE.findall(message)))
    return ", ".join(zones) if zones else "its zones"


def _pending(pod: client.V1Pod, service: str, events: Sequence[client.CoreV1Event], ctx: Context) -> PodReport:
    """Not scheduled: the cluster autoscaler's latest word on the pod says why, and whether it will pass."""
    name, pool = _meta(pod).name or "?", _pool(pod)
    scale = sorted((e for e in events if e.reason in SCALE_EVENTS), key=_when)
    failed = [e for e in scale if e.reason == "FailedScaleUp"]
    # The scheduler repeats FailedScheduling while the pod waits: the autoscaler's word is the one that counts.
    autoscaler = [e for e in scale if e.reason != "FailedScheduling"]
    latest = (autoscaler or scale)[-1] if scale else None
    message = (latest.message or "") if latest else ""

    def report(message: str, fix: str | None, *, state: State = "failing", final: bool = False) -> PodReport:
        return PodReport(name, "Pending", state, "Pending", message, fix, final)

    # A NotTriggerScaleUp "in backoff after failed scale-up" points back at the FailedScaleUp event.
    if latest is not None and (latest.reason == "FailedScaleUp" or "backoff" in message) and failed:
        cause = failed[-1].message or ""
        chosen = ((pod.spec.node_selector if pod.spec else None) or {}).get(CLASS_LABEL)
        if STOCKOUT.search(cause) and chosen:
            return report(
                f"GPU stockout in {_zones(cause)}: no option of compute class {chosen} could be had for a new node "
                "(the cluster autoscaler's FailedScaleUp); it keeps retrying every option",
                f"add an option to computeClasses.{chosen} (another GPU or machine type, flex-start, a reservation)",
            )
        if STOCKOUT.search(cause):
            return report(
                f"GPU stockout in {_zones(cause)}: GCE has no {_accelerator(pod)} capacity for a new node of pool "
                f"{pool} (the cluster autoscaler's FailedScaleUp); it keeps retrying",
                f"add zones to the pool (nodePools.{pool}.zones) or use spot/flex-start capacity",
            )
        if QUOTA.search(cause):
            return report(
                f"GPU quota exceeded in {_zones(cause)}: the cluster autoscaler could not add a node to pool {pool}",
                "request more quota for the pool's GPU in the region (IAM & Admin > Quotas: the NVIDIA_*_GPUS "
                f"metric and GPUS_ALL_REGIONS), or lower nodePools.{pool}.maxNodes",
                final=True,
            )
        return report(f"scale-up of pool {pool} failed: {cause}", "read the message; the autoscaler retries")
    if latest is not None and latest.reason == "NotTriggerScaleUp":
        if "max node group size reached" in message:
            return report(
                f"pool {pool} is at its maxNodes: {message}",
                f"raise nodePools.{pool}.maxNodes (or lower the service's replicas)",
            )
        if NO_SHAPE.search(message):
            fit = ctx.node_fit.get(service)
            free = fit.get("free") or {} if fit else {}
            shape = (
                f"; the pod requests {_requests(pod)}; a {fit.get('machine')} node gives pods cpu "
                f"{free.get('cpuM')}m, memory {free.get('memoryMi')}Mi, ephemeral-storage {free.get('ephemeralGi')}Gi"
                if fit
                else f"; the pod requests {_requests(pod)}"
            )
            return report(
                f"no node shape fits: a new node of pool {pool} would not run it ({message}){shape}",
                f"compare the pod's requests with a node of pool {pool} in the preview's pod-fits-node table "
                f"(`make preview ENV={ctx.env}`): lower services.{service}.resources or use a larger machine type",
                final=True,
            )
        return report(f"the cluster autoscaler will not add a node: {message}", None)
    if latest is not None and latest.reason == "TriggeredScaleUp":
        return report(
            f"waiting for a new node of pool {pool} ({message}); a GPU node takes a few minutes to boot",
            None,
            state="progressing",
        )
    return report(f"not scheduled yet{': ' + message if message else ''}", None, state="progressing")


def _oom_fix(service: str, runtime: str, ctx: Context) -> str:
    fit = ctx.node_fit.get(service)
    free = f" (a {fit['machine']} node gives pods {fit['free'].get('memoryMi')} MiB)" if fit else ""
    return f"raise services.{service}.resources.memory{free}, or use a machine type with more memory" + (
        " for the model's weights while they load" if _is_llm(runtime) else ""
    )


def _is_llm(runtime: str) -> bool:
    r = REGISTRY.get(runtime)
    return bool(r and r.generates and r.length_key)


def _gpu_memory(service: str, runtime: str, ctx: Context) -> tuple[str, str]:
    """(the preview's memory-fit estimate, the setting to lower) for an LLM that ran out of GPU memory."""
    r = REGISTRY[runtime]
    row = ctx.memory.get(service)
    estimate = (
        f"; the preview estimated {row.get('weightsGib')} GiB of weights and {row.get('kvNeededGib')} GiB of KV "
        f"cache against {row.get('usableGib')} GiB usable on {row.get('gpu')} (headroom {row.get('headroomGib')} GiB)"
        if row
        else ""
    )
    key = r.length_key or ""
    # A nested key (the custom runtime's architecture) describes the model; the image's own flag sets it.
    setting = f"services.{service}.{key}" if "." not in key else "the context length in the image's args"
    return estimate, f"lower {setting} (the KV cache grows with it), or quantize, or use a GPU with more memory"


def _container_problem(
    pod: client.V1Pod, service: str, runtime: str, events: Sequence[client.CoreV1Event], ctx: Context
) -> PodReport | None:
    statuses = (pod.status.container_statuses if pod.status else None) or []
    name, phase = _meta(pod).name or "?", (pod.status.phase if pod.status else None) or "Unknown"
    for status in statuses:
        restarts = status.restart_count or 0
        waiting = status.state.waiting if status.state else None
        terminated = (status.state.terminated if status.state else None) or (
            status.last_state.terminated if status.last_state else None
        )
        reason = waiting.reason if waiting else None
        if reason in (*IMAGE_PULL_PERMANENT, "ErrImagePull"):
            pulls = sorted((e for e in events if e.reason == "Failed" and "pull" in (e.message or "")), key=_when)
            said = (pulls[-1].message if pulls else None) or (waiting.message if waiting else None) or reason
            return PodReport(
                name,
                phase,
                "failing",
                reason or "ErrImagePull",
                f"cannot pull image {status.image}: {said}",
                f"check the image name and tag (services.{service}.image, or the runtime's pinned image) and that "
                "the nodes' service account may read the registry",
                final=reason in IMAGE_PULL_PERMANENT,
                restarts=restarts,
            )
        if reason in CONFIG_ERRORS:
            return PodReport(
                name,
                phase,
                "failing",
                reason or "",
                f"the container cannot start: {waiting.message if waiting else reason}",
                "a Secret or setting the pod refers to is missing: run `pulumi up` again and read its errors",
                final=True,
                restarts=restarts,
            )
        crashing = reason == "CrashLoopBackOff" or (terminated is not None and not status.ready and restarts > 0)
        if not crashing:
            continue
        final = restarts >= ctx.max_restarts
        if terminated is not None and terminated.reason == "OOMKilled":
            limits = pod.spec.containers[0].resources.limits if pod.spec and pod.spec.containers[0].resources else None
            limit = (limits or {}).get("memory", "?")
            return PodReport(
                name,
                phase,
                "failing",
                "OOMKilled",
                f"the server was killed for using more than its memory limit of {limit} (OOMKilled, "
                f"{restarts} restarts)",
                _oom_fix(service, runtime, ctx),
                final=final,
                restarts=restarts,
            )
        code = f", last exit code {terminated.exit_code}" if terminated is not None else ""
        return PodReport(
            name,
            phase,
            "failing",
            reason or "CrashLoopBackOff",
            f"the server keeps crashing ({restarts} restarts{code})",
            None,
            final=final,
            restarts=restarts,
        )
    return None


def diagnose(
    pod: client.V1Pod,
    service: str,
    runtime: str,
    events: Sequence[client.CoreV1Event],
    ctx: Context,
    logs: Callable[[str], list[str]],
) -> PodReport:
    """Why one pod is not ready, in words, with the fix; `logs(pod)` reads the previous run's last lines."""
    name = _meta(pod).name or "?"
    phase = (pod.status.phase if pod.status else None) or "Unknown"
    scheduled = pod.spec is not None and pod.spec.node_name
    if phase == "Pending" and not scheduled:
        return _pending(pod, service, events, ctx)
    problem = _container_problem(pod, service, runtime, events, ctx)
    if problem is not None and problem.reason in ("OOMKilled", "CrashLoopBackOff"):
        lines = logs(name)
        problem = replace(problem, logs=lines)
        if problem.reason != "OOMKilled" and _is_llm(runtime) and GPU_MEMORY.search("\n".join(lines)):
            estimate, fix = _gpu_memory(service, runtime, ctx)
            problem = replace(problem, message=f"{problem.message}: out of GPU memory{estimate}", fix=fix)
    if problem is not None:
        return problem
    if phase == "Failed":
        reason = (pod.status.reason if pod.status else None) or "Failed"
        message = (pod.status.message if pod.status else None) or "the pod failed"
        return PodReport(name, phase, "failing", reason, message, "its Deployment replaces it; read the message")
    statuses = (pod.status.container_statuses if pod.status else None) or []
    waiting = [s.state.waiting.reason for s in statuses if s.state and s.state.waiting and s.state.waiting.reason]
    if waiting:
        return PodReport(name, phase, "progressing", waiting[0], f"starting ({waiting[0]})")
    restarts = sum(s.restart_count or 0 for s in statuses)
    return PodReport(
        name,
        phase,
        "progressing",
        "NotReady",
        "running, not ready yet: the server is loading the model (its startup probe has not passed)",
        restarts=restarts,
    )


def _last_ran(status: client.V1PodStatus) -> str | None:
    """The container whose log says how the pod ended: a main container that started, else the init container
    that did not finish (the wait for the mirror copy's marker)."""
    started = [c.name for c in status.container_statuses or () if c.state and (c.state.running or c.state.terminated)]
    if started:
        return str(started[0])
    unfinished = [
        c.name
        for c in status.init_container_statuses or ()
        if not (c.state and c.state.terminated and c.state.terminated.exit_code == 0)
    ]
    return str(unfinished[0]) if unfinished else None


def job_report(job: client.V1Job, last_line: str | None, pod_reason: str | None = None) -> JobReport:
    """A mirror or fill Job in words: complete, copying, waiting for a node, or failed with its reason."""
    meta, status = _meta(job), job.status or client.V1JobStatus()
    model = (meta.annotations or {}).get(MODEL_ANNOTATION, "?")
    true = {c.type: c for c in status.conditions or () if c.status == "True"}
    name = meta.name or "?"
    if "Complete" in true:
        return JobReport(name, model, "ready", "complete")
    if "Failed" in true:
        failed = true["Failed"]
        # The deadline is each attempt's pod's (activeDeadlineSeconds): the Job itself ends BackoffLimitExceeded.
        outlived = (
            " — its last attempt outlived its deadline (a slow Hub or NAT)" if pod_reason == "DeadlineExceeded" else ""
        )
        fix = (
            f"read the line below (kubectl logs job/{name}), fix the cause, then `pulumi up` replaces the Job "
            "(pulumi.com/replaceUnready)"
        )
        return JobReport(
            name, model, "failing", f"failed ({failed.reason}: {failed.message}){outlived} — {fix}", last_line
        )
    if status.active:
        retried = f", {status.failed} failed attempt(s) before" if status.failed else ""
        return JobReport(name, model, "progressing", f"copying{retried}", last_line)
    return JobReport(name, model, "progressing", "waiting for a system-pool node (time Pending is not counted)")


def _rollout(deployment: client.V1Deployment) -> tuple[str, bool]:
    """(the Progressing condition in words, whether the rollout has failed)."""
    conditions = (deployment.status.conditions if deployment.status else None) or []
    progressing = next((c for c in conditions if c.type == "Progressing"), None)
    if progressing is None:
        return "not started", False
    if progressing.reason == "ProgressDeadlineExceeded":
        return f"failed: {progressing.message}", True
    if progressing.reason == "NewReplicaSetAvailable":
        return "complete", False
    return f"in progress ({progressing.reason})", False


def service_report(
    deployment: client.V1Deployment,
    pods: Sequence[client.V1Pod],
    events: Sequence[client.CoreV1Event],
    ctx: Context,
    logs: Callable[[str], list[str]],
) -> ServiceReport:
    labels = _meta(deployment).labels or {}
    name = labels.get(NAME_LABEL) or _meta(deployment).name or "?"
    runtime = labels.get(RUNTIME_LABEL, "?")
    status = deployment.status or client.V1DeploymentStatus()
    desired = deployment.spec.replicas if deployment.spec and deployment.spec.replicas is not None else 1
    updated, ready, available = status.updated_replicas or 0, status.ready_replicas or 0, status.available_replicas or 0
    rollout, deadline = _rollout(deployment)
    by_pod: dict[str, list[client.CoreV1Event]] = {}
    for event in events:
        if event.involved_object.kind == "Pod" and event.involved_object.name:
            by_pod.setdefault(event.involved_object.name, []).append(event)
    reports = [
        diagnose(pod, name, runtime, by_pod.get(_meta(pod).name or "", []), ctx, logs)
        for pod in sorted(pods, key=lambda p: _meta(p).name or "")
        if not _is_ready(pod) and _meta(pod).deletion_timestamp is None
    ]
    current = (status.observed_generation or 0) >= (_meta(deployment).generation or 0) and (
        status.replicas or 0
    ) == desired
    done = current and updated == desired and ready == desired and available == desired
    state: State = (
        "failing"
        if deadline or any(p.state == "failing" for p in reports)
        else "ready"
        if done and not reports
        else "progressing"
    )
    return ServiceReport(name, runtime, state, desired, updated, ready, available, rollout, reports)


def _provisioning(labels: Mapping[str, str]) -> str:
    """How a node was bought, from its labels: spot, flex-start, or on-demand (a reservation's VMs included)."""
    if labels.get(SPOT_LABEL) == "true":
        return "spot"
    return "flex-start" if labels.get(FLEX_LABEL) == "true" else "on-demand"


def _bought(rule: Mapping[str, Any]) -> str:
    """How a ComputeClass priority rule buys its nodes, in _provisioning's words."""
    flex = rule.get("flexStart") or {}
    if isinstance(flex, Mapping) and flex.get("enabled") is True:
        return "flex-start"
    return "spot" if rule.get("spot") is True else "on-demand"


def _option(rules: Sequence[Mapping[str, Any]], labels: Mapping[str, str]) -> int | None:
    """The first priority rule a node matches: its machine type, GPU and provisioning model."""
    for i, rule in enumerate(rules):
        gpu = rule.get("gpu") or {}
        if (
            rule.get("machineType") == labels.get(INSTANCE_LABEL)
            and gpu.get("type") == labels.get(ACCELERATOR_LABEL)
            and _bought(rule) == _provisioning(labels)
        ):
            return i
    return None


def _why_not_first(rules: Sequence[Mapping[str, Any]], events: Sequence[client.CoreV1Event]) -> str:
    """The cluster autoscaler's latest word on the pod, when it says why the first option could not be had."""
    first = rules[0] if rules else {}
    wanted = f"option 0 ({first.get('machineType', '?')} {_bought(first)})"
    scale = sorted((e for e in events if e.reason in ("FailedScaleUp", "NotTriggerScaleUp")), key=_when)
    for event in reversed(scale):
        message = event.message or ""
        if STOCKOUT.search(message):
            return f"{wanted} was out of stock in {_zones(message)} ({event.reason}: {message})"
        if QUOTA.search(message):
            return f"{wanted} hit the GPU quota in {_zones(message)} ({event.reason}: {message})"
    return (
        f"no event on the pod says why {wanted} was not had (events expire after an hour); GKE moves the pod "
        "up the list when that capacity returns (activeMigration)"
    )


def landed_reports(
    pods: Iterable[client.V1Pod],
    nodes: Iterable[client.V1Node],
    classes: Mapping[str, Sequence[Mapping[str, Any]]],
    events: Sequence[client.CoreV1Event],
) -> list[LandedReport]:
    """For each scheduled pod that selects a compute class: the option its node is (node labels), and why it is
    not the first (the pod's events). `classes`: each ComputeClass's priorities, in order."""
    by_name = {_meta(n).name: _meta(n).labels or {} for n in nodes}
    reports = []
    for pod in sorted(pods, key=lambda p: _meta(p).name or ""):
        selector = (pod.spec.node_selector if pod.spec else None) or {}
        chosen, node = selector.get(CLASS_LABEL), pod.spec.node_name if pod.spec else None
        if chosen is None or not node:
            continue
        labels = by_name.get(node, {})
        rules = classes.get(chosen, [])
        option = _option(rules, labels)
        name = _meta(pod).name or "?"
        own = [e for e in events if e.involved_object.kind == "Pod" and e.involved_object.name == name]
        reports.append(
            LandedReport(
                pod=name,
                service=(_meta(pod).labels or {}).get(NAME_LABEL, "?"),
                compute_class=chosen,
                option=option,
                shape=f"{labels.get(INSTANCE_LABEL, '?')} {_provisioning(labels)} in {labels.get(ZONE_LABEL, '?')}",
                node=node,
                why=None if option == 0 else _why_not_first(rules, own),
            )
        )
    return reports


def pool_reports(nodes: Iterable[client.V1Node]) -> list[PoolReport]:
    pools: dict[str, list[client.V1Node]] = {}
    for node in nodes:
        pools.setdefault((_meta(node).labels or {}).get(POOL_LABEL, "?"), []).append(node)
    reports = []
    for pool, members in sorted(pools.items()):
        labels = [_meta(n).labels or {} for n in members]
        ready = sum(
            any(c.type == "Ready" and c.status == "True" for c in (n.status.conditions if n.status else None) or [])
            for n in members
        )
        gpus = sum(
            int(((n.status.allocatable if n.status else None) or {}).get("nvidia.com/gpu", "0")) for n in members
        )
        reports.append(
            PoolReport(
                pool,
                labels[0].get(ACCELERATOR_LABEL, "?"),
                len(members),
                ready,
                gpus,
                sorted({z for z in (lbl.get(ZONE_LABEL) for lbl in labels) if z}),
                labels[0].get(CLASS_LABEL),
            )
        )
    return reports


# --- reading the cluster ---------------------------------------------------------------------------


def _camel(value: Any) -> Any:
    if isinstance(value, dict):
        return {re.sub(r"_([a-z])", lambda m: m[1].upper(), k): _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def cluster_kubeconfig(env: str, cluster: str) -> dict[str, Any]:
    """The program's kubeconfig (infra/kubeconfig.py) for the stack's cluster, endpoint from gcloud."""
    from infra.kubeconfig import render_kubeconfig  # noqa: PLC0415 (pulls in the provider SDKs)

    e = environment(env)
    command = [
        "gcloud",
        "container",
        "clusters",
        "describe",
        cluster,
        f"--location={e.cluster.location}",
        f"--project={e.project}",
        "--format=json",
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    except FileNotFoundError:
        raise CannotTell("gcloud is not on PATH — install the Google Cloud CLI, or pass --kubeconfig") from None
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise CannotTell(f"gcloud cannot describe cluster {cluster}: {lines[-1] if lines else result.returncode}")
    described = json.loads(result.stdout)
    # The same choice as the provider's kubeconfig: the DNS endpoint (a public certificate) or the IP and CA.
    if e.cluster.control_plane.dns_endpoint:
        dns = ((described.get("controlPlaneEndpointsConfig") or {}).get("dnsEndpointConfig") or {}).get("endpoint")
        text = render_kubeconfig(cluster, f"https://{dns}", None)
    else:
        ca = (described.get("masterAuth") or {}).get("clusterCaCertificate")
        text = render_kubeconfig(cluster, f"https://{described.get('endpoint')}", ca)
    kubeconfig: dict[str, Any] = yaml.safe_load(text)
    return kubeconfig


def api_client(kubeconfig: Path | dict[str, Any]) -> client.ApiClient:
    where = str(kubeconfig) if isinstance(kubeconfig, Path) else "the cluster's kubeconfig"
    try:
        if isinstance(kubeconfig, Path):
            if not kubeconfig.is_file():
                raise CannotTell(f"no kubeconfig at {kubeconfig}")
            api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig), persist_config=False
            )
        else:
            api = config.new_client_from_config_dict(kubeconfig, persist_config=False)  # type: ignore[no-untyped-call]
        return api
    except ConfigException as e:
        raise CannotTell(f"bad kubeconfig {where}: {_one_line(e)}") from None
    except (yaml.YAMLError, ValueError, TypeError, AttributeError, KeyError) as e:
        raise CannotTell(f"bad kubeconfig {where}: {type(e).__name__}: {_one_line(e)}") from None


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return redact(text[:300] + ("…" if len(text) > 300 else ""))


class Cluster:
    """The four reads status makes, each failure turned into one line."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.core, self.apps, self.namespace = client.CoreV1Api(api), client.AppsV1Api(api), namespace
        self.batch = client.BatchV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.host = api.configuration.host

    def _call(self, what: str, read: Callable[[], T], absent: T | None = None) -> T:
        """`read()`, its failure as one line; `absent` when the API has no such resource (404) and one is given."""
        try:
            return read()
        except ApiException as e:
            if e.status == 404 and absent is not None:
                return absent
            if e.status == 401:
                raise CannotTell(
                    f"the Kubernetes API at {self.host} refused the credentials (401 Unauthorized): they are "
                    "expired or not for this cluster — run `gcloud auth login` (CI: the Workload Identity step) "
                    "and check gke-gcloud-auth-plugin"
                ) from None
            if e.status == 403:
                raise CannotTell(
                    f"the Kubernetes API at {self.host} forbids reading {what} (403 Forbidden): grant the account "
                    "roles/container.viewer on the project"
                ) from None
            raise CannotTell(f"the Kubernetes API at {self.host} answered {e.status} {e.reason} to {what}") from None
        except urllib3.exceptions.HTTPError as e:
            cause = getattr(e, "reason", None) or e
            words = "connection refused" if "refused" in str(cause).lower() else _one_line(cause)
            raise CannotTell(f"cannot reach the Kubernetes API at {self.host}: {words}") from None
        except ConfigException as e:  # the exec plugin, run again when its token expires
            raise CannotTell(f"no credentials for the Kubernetes API: {_one_line(e)}") from None

    def deployments(self) -> list[client.V1Deployment]:
        items = self._call(
            "deployments",
            lambda: self.apps.list_namespaced_deployment(self.namespace, label_selector=SELECTOR).items,
        )
        return list(items or [])

    def pods(self) -> list[client.V1Pod]:
        items = self._call("pods", lambda: self.core.list_namespaced_pod(self.namespace, label_selector=SELECTOR).items)
        return list(items or [])

    def events(self) -> list[client.CoreV1Event]:
        return list(self._call("events", lambda: self.core.list_namespaced_event(self.namespace).items) or [])

    def gpu_nodes(self) -> list[client.V1Node]:
        return list(self._call("nodes", lambda: self.core.list_node(label_selector=ACCELERATOR_LABEL).items) or [])

    def compute_classes(self) -> dict[str, list[dict[str, Any]]]:
        """Each ComputeClass's priorities in order; none on a cluster without the CRD."""
        empty: dict[str, Any] = {}
        listed = self._call(
            "compute classes", lambda: _objects(self.custom.list_cluster_custom_object(*CLASSES)), empty
        )
        return {
            item["metadata"]["name"]: list((item.get("spec") or {}).get("priorities") or [])
            for item in listed.get("items") or []
        }

    def jobs(self) -> list[client.V1Job]:
        items = self._call(
            "jobs", lambda: self.batch.list_namespaced_job(self.namespace, label_selector=JOB_SELECTOR).items
        )
        return list(items or [])

    def job_pod_end(self, job: client.V1Job) -> tuple[str | None, str | None]:
        """(the last log line of the container that ran last in the Job's newest pod — its init container when
        it never got further —, that pod's status reason such as DeadlineExceeded); Nones where unknown."""
        name = _meta(job).name or ""
        try:
            pods = self.core.list_namespaced_pod(self.namespace, label_selector=f"job-name={name}").items or []
            if not pods:
                return None, None
            newest = max(pods, key=lambda p: _meta(p).creation_timestamp or datetime.min.replace(tzinfo=UTC))
            status = newest.status or client.V1PodStatus()
            container = _last_ran(status)
            pod = str(_meta(newest).name)
            text = self.core.read_namespaced_pod_log(pod, self.namespace, container=container, tail_lines=1)
        except (ApiException, urllib3.exceptions.HTTPError):
            return None, None
        lines = str(text).splitlines()
        return (redact(lines[-1]) if lines else None), status.reason

    def previous_logs(self, pod: str) -> list[str]:
        """The last lines of the container's previous run; [] when it has none or they cannot be read."""
        try:
            text = self.core.read_namespaced_pod_log(
                pod, self.namespace, container=CONTAINER, tail_lines=LOG_LINES, previous=True
            )
        except (ApiException, urllib3.exceptions.HTTPError):
            return []
        return [redact(line) for line in str(text).splitlines()[-LOG_LINES:]]


def snapshot(cluster: Cluster, env: str, ctx: Context) -> Report:
    deployments, pods, events = cluster.deployments(), cluster.pods(), cluster.events()
    services = []
    for deployment in sorted(deployments, key=lambda d: _meta(d).name or ""):
        name = (_meta(deployment).labels or {}).get(NAME_LABEL) or _meta(deployment).name
        own = [p for p in pods if (_meta(p).labels or {}).get(NAME_LABEL) == name]
        services.append(service_report(deployment, own, events, ctx, cluster.previous_logs))
    jobs = [
        job_report(job, *((None, None) if (job.status and job.status.succeeded) else cluster.job_pod_end(job)))
        for job in sorted(cluster.jobs(), key=lambda j: _meta(j).name or "")
    ]
    nodes = cluster.gpu_nodes()
    classes = cluster.compute_classes() if any(_selects_class(p) for p in pods) else {}
    landed = landed_reports(pods, nodes, classes, events)
    return Report(env, cluster.namespace, services, pool_reports(nodes), jobs, landed)


def _objects(listed: object) -> dict[str, Any]:
    """A custom-object list as the client returns it (a plain dict of the API's JSON)."""
    return listed if isinstance(listed, dict) else {}


def _selects_class(pod: client.V1Pod) -> bool:
    return CLASS_LABEL in ((pod.spec.node_selector if pod.spec else None) or {})


# --- output ----------------------------------------------------------------------------------------


def render(report: Report, exit_code: int) -> str:
    ready = sum(s.state == "ready" for s in report.services)
    lines = [
        f"{report.environment} (namespace {report.namespace}): {ready} of {len(report.services)} services ready"
        f" — {report.state}"
    ]
    width = max((len(s.name) for s in report.services), default=0)
    for s in report.services:
        lines.append(
            f"  {s.name:<{width}}  {s.runtime:<6}  {s.state:<11}  desired {s.desired}  updated {s.updated}  "
            f"ready {s.ready}  available {s.available}  rollout {s.rollout}"
        )
        for p in s.pods:
            lines.append(f"    {p.name}  {p.reason}: {p.message}")
            if p.fix:
                lines.append(f"      fix: {p.fix}")
            if p.logs:
                lines.append(f"      last {len(p.logs)} log lines of the previous run:")
                lines.extend(f"        | {line}" for line in p.logs)
    if not report.services:
        lines.append("  no model-server Deployment in the namespace: has `pulumi up` run?")
    if report.jobs:
        lines.append("Weights (model mirror Jobs):")
    for job in report.jobs:
        lines.append(f"  {job.name}  {job.model}  {job.state}: {job.message}")
        if job.last_line:
            lines.append(f"      last log line: | {job.last_line}")
    if report.landed:
        lines.append("Compute classes (where each pod landed):")
    for landed in report.landed:
        where = "no option of the class" if landed.option is None else f"option {landed.option}"
        lines.append(f"  {landed.pod}  class {landed.compute_class} {where}: {landed.shape} (node {landed.node})")
        if landed.why:
            lines.append(f"      not on option 0: {landed.why}")
    lines.append("GPU nodes:" if report.pools else "GPU nodes: none (pools scale from zero until a pod needs one)")
    for pool in report.pools:
        owner = f" (class {pool.compute_class})" if pool.compute_class else ""
        lines.append(
            f"  {pool.pool}{owner}  {pool.accelerator}  {pool.nodes} node(s), {pool.ready} Ready, {pool.gpus} GPU(s) "
            f"allocatable  zones {', '.join(pool.zones) or '?'}"
        )
    lines.append(f"exit {exit_code}: {report.state}")
    return "\n".join(lines)


def watch(
    read: Callable[[], Report], wait: float | None, interval: float, say: Callable[[str], None]
) -> tuple[Report, int]:
    """One snapshot, or (with `wait`) snapshots until all ready, a final failure, or the timeout."""
    report = read()
    if wait is None:
        return report, report.exit_code
    deadline = time.monotonic() + wait
    while True:
        if report.state == "ready":
            return report, EXIT_READY
        if report.final:
            return report, EXIT_FAILING
        if time.monotonic() + interval > deadline:
            say(f"timed out after {wait:g} s: not every service is ready")
            return report, EXIT_PROGRESSING
        ready = sum(s.state == "ready" for s in report.services)
        say(f"waiting: {ready} of {len(report.services)} services ready ({report.state})")
        time.sleep(interval)
        report = read()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.status", description=__doc__.split("\n\n")[0])
    parser.add_argument("env", help="environment (environments/Pulumi.<env>.yaml) and stack name")
    parser.add_argument("--stack", help="stack name when it is not the environment's (e.g. acme/prod)")
    parser.add_argument("--kubeconfig", type=Path, help="use this kubeconfig instead of the stack's cluster")
    parser.add_argument(
        "--outputs", type=Path, help="stack outputs as JSON instead of `pulumi stack output` (CI: /dev/stdin)"
    )
    parser.add_argument("--plan", type=Path, help="the offline preview's plan.json (default build/<env>/plan.json)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--wait", type=duration, metavar="TIMEOUT", help="poll until ready, e.g. 30m")
    parser.add_argument("--interval", type=duration, default=15.0, help="seconds between polls (default 15)")
    parser.add_argument(
        "--max-restarts", type=int, default=3, help="restarts after which a crash loop is final (default 3)"
    )
    args = parser.parse_args(argv)
    # urllib3 logs each connection retry as a warning; a refused connection is reported once, below.
    logging.getLogger("urllib3").setLevel(logging.CRITICAL)
    try:
        outputs = stack_outputs(args.stack or args.env, ["cluster", "namespace"], outputs_file=args.outputs)
        kubeconfig = args.kubeconfig or cluster_kubeconfig(args.env, str(outputs["cluster"]))
        cluster = Cluster(api_client(kubeconfig), str(outputs["namespace"]))
        plan = args.plan or ROOT / "build" / args.env / "plan.json"
        ctx = Context(
            args.env, plan_rows(plan, "memory", "service"), plan_rows(plan, "nodeFit", "workload"), args.max_restarts
        )
        report, code = watch(
            lambda: snapshot(cluster, args.env, ctx), args.wait, args.interval, lambda s: print(s, file=sys.stderr)
        )
    except CannotTell as e:
        if args.json:
            print(
                json.dumps({"environment": args.env, "state": "unknown", "exitCode": EXIT_CANNOT_TELL, "error": str(e)})
            )
        print(f"status: cannot tell: {e}", file=sys.stderr)
        return EXIT_CANNOT_TELL
    print(json.dumps(report.as_json(code), indent=2) if args.json else render(report, code))
    return code


if __name__ == "__main__":
    sys.exit(main())
