"""The environment's alert policies as typed data: one policy per kind of failure, each condition grouped
by service (or pod), so an incident names what is wrong. Pure; `Observability` registers them.

Prometheus metrics (kube state, DCGM, the servers' own) are PromQL conditions; the load balancer's
metrics are a ratio threshold on Cloud Monitoring filters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.monitoring import AlertThresholds
from workloads.dashboard import (
    Scope,
    ServiceMetrics,
    backend_regex,
    gpu_memory_ratio,
    gpu_selector,
    pods_regex,
)

EVALUATION_INTERVAL = "60s"
STATUS = "Run `make status ENV={env}` for each service's replicas and, for every pod that is not ready, the reason and the fix."


def _seconds(minutes: int) -> str:
    return f"{minutes * 60}s"


@dataclass(frozen=True)
class PromCondition:
    display_name: str
    query: str
    minutes: int

    def args(self) -> dict[str, Any]:
        return {
            "display_name": self.display_name,
            "condition_prometheus_query_language": {
                "query": self.query,
                "duration": _seconds(self.minutes),
                "evaluation_interval": EVALUATION_INTERVAL,
            },
        }


@dataclass(frozen=True)
class RatioCondition:
    """numerator / denominator per group above `threshold` for `minutes` (conditionThreshold)."""

    display_name: str
    numerator: str
    denominator: str
    group_by: tuple[str, ...]
    threshold: float
    minutes: int

    def _aggregations(self) -> list[dict[str, Any]]:
        return [
            {
                "alignment_period": "60s",
                "per_series_aligner": "ALIGN_RATE",
                "cross_series_reducer": "REDUCE_SUM",
                "group_by_fields": list(self.group_by),
            }
        ]

    def args(self) -> dict[str, Any]:
        return {
            "display_name": self.display_name,
            "condition_threshold": {
                "filter": self.numerator,
                "aggregations": self._aggregations(),
                "denominator_filter": self.denominator,
                "denominator_aggregations": self._aggregations(),
                "comparison": "COMPARISON_GT",
                "threshold_value": self.threshold,
                "duration": _seconds(self.minutes),
            },
        }


@dataclass(frozen=True)
class Alert:
    key: str  # stable: names the resource
    display_name: str
    conditions: tuple[PromCondition | RatioCondition, ...]
    documentation: str
    severity: str

    def args(self, channels: list[Any], labels: dict[str, str]) -> dict[str, Any]:
        return {
            "display_name": self.display_name,
            "combiner": "OR",
            "conditions": [c.args() for c in self.conditions],
            "documentation": {"content": self.documentation, "mime_type": "text/markdown"},
            "notification_channels": channels,
            "severity": self.severity,
            "user_labels": labels,
            # An incident closes itself a day after its condition stops firing, as Cloud Monitoring's default.
            "alert_strategy": {"auto_close": "86400s"},
        }


def alerts(env: str, scope: Scope, services: list[ServiceMetrics], t: AlertThresholds) -> list[Alert]:
    """The environment's alerts; none for a kind of metric no service exports (a queue, say)."""
    names = sorted(s.name for s in services)
    if not names:
        return []
    ns = scope.namespace
    status = STATUS.format(env=env)
    deployments = "|".join(names)
    found = [
        Alert(
            "no-ready-replica",
            f"{env}: a model server has no ready replica",
            (
                PromCondition(
                    f"no ready replica for {t.no_ready_replica_minutes} min",
                    f'max by (deployment) (kube_deployment_status_replicas_available{{namespace="{ns}",'
                    f'deployment=~"{deployments}"}}) < 1',
                    t.no_ready_replica_minutes,
                ),
            ),
            f"## A service in `{env}` has no ready replica\n\nThe incident's `deployment` label names the service: "
            "every request to it fails at the gateway. Pods that never become ready are Pending (no GPU node), "
            f"failing to pull their image, or crashing while they load the model.\n\n{status}",
            "CRITICAL",
        ),
        Alert(
            "gpu-pods-pending",
            f"{env}: model-server pods pending",
            (
                PromCondition(
                    f"pod Pending for {t.gpu_pods_pending_minutes} min",
                    f'max by (pod) (kube_pod_status_phase{{namespace="{ns}",phase="Pending",'
                    f'pod=~"{pods_regex(names)}"}}) > 0',
                    t.gpu_pods_pending_minutes,
                ),
            ),
            f"## A GPU pod in `{env}` stays Pending\n\nThe cluster autoscaler found no node for it: the GPU is out "
            "of stock in the pool's zones, the project's GPU quota is used up, or no node shape of the pool fits "
            "the pod. The cluster autoscaler's event on the pod says which.\n\n"
            f"{status} Then add zones to the pool, raise the quota, or lower the pod's requests.",
            "ERROR",
        ),
    ]
    queued = [s for s in services if s.queue_metric]
    if queued:
        by_metric: dict[str, list[str]] = {}
        for s in queued:
            by_metric.setdefault(str(s.queue_metric), []).append(s.name)
        parts = [
            f'max by (job) ({metric}{{namespace="{ns}",job=~"{"|".join(sorted(jobs))}"}}) > {t.queue_above_threshold:g}'
            for metric, jobs in sorted(by_metric.items())
        ]
        found.append(
            Alert(
                "queue-above-threshold",
                f"{env}: requests queue in a model server",
                (
                    PromCondition(
                        f"queue above {t.queue_above_threshold:g} for {t.queue_minutes} min",
                        " or ".join(parts),
                        t.queue_minutes,
                    ),
                ),
                f"## Requests wait in a server of `{env}`\n\nMore than {t.queue_above_threshold:g} requests have waited in one "
                f"replica for {t.queue_minutes} minutes (the `job` label names the service): clients see slow first "
                "tokens and timeouts. The autoscaler is at its maximum, or its new pods do not start.\n\n"
                f"{status} Then raise `autoscaling.maxReplicas` (and the pool's `maxNodes`) or add `autoscaling`.",
                "WARNING",
            )
        )
    lb = scope.load_balancer
    backends = (
        f'resource.type="{lb.resource_type}" AND metric.type="{lb.prefix}/request_count" AND '
        f'resource.label.backend_target_name=monitoring.regex.full_match("{backend_regex(ns, names)}")'
    )
    found.append(
        Alert(
            "lb-5xx-ratio",
            f"{env}: 5xx answers at the load balancer",
            (
                RatioCondition(
                    f"5xx above {t.lb_error_ratio:.0%} for {t.lb_error_minutes} min",
                    f"{backends} AND metric.label.response_code_class=500",
                    backends,
                    ("resource.label.backend_target_name",),
                    t.lb_error_ratio,
                    t.lb_error_minutes,
                ),
            ),
            f"## The load balancer of `{env}` answers 5xx\n\nMore than {t.lb_error_ratio:.0%} of the requests to a "
            f"backend (`backend_target_name` names the service) failed over {t.lb_error_minutes} minutes: 502/503 "
            "when no pod is ready or pods restart, 504 when answers outlast the gateway's timeout "
            "(`gateway.requestTimeoutSeconds`).\n\n" + status,
            "ERROR",
        )
    )
    found.append(
        Alert(
            "gpu-memory-near-full",
            f"{env}: GPU memory near full",
            (
                PromCondition(
                    f"GPU memory above {t.gpu_memory_used_ratio:.0%} for {t.gpu_memory_minutes} min",
                    f"max by (exported_pod) ({gpu_memory_ratio(gpu_selector(scope, names))}) > {t.gpu_memory_used_ratio:g}",
                    t.gpu_memory_minutes,
                ),
            ),
            f"## GPU memory of a pod in `{env}` is near full\n\nThe `exported_pod` label names the pod. A server "
            "that runs out of GPU memory fails requests or crashes (CUDA out of memory).\n\n"
            f"{status} Then lower the context length or batch size, set an fp8 KV cache, or move the service to a "
            "pool with more GPU memory. vLLM and SGLang reserve a fixed share at start: set "
            "`monitoring.alerts.gpuMemoryUsedRatio` above it.",
            "WARNING",
        )
    )
    return found
