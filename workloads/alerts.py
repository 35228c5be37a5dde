"""The environment's alert policies: a table (workloads/alerts.yaml, one row per kind of failure, each
condition grouped by service or pod, so an incident names what is wrong) and the small function that
renders it for an environment into typed policies. Pure; `Observability` registers them.

Prometheus metrics (kube state, DCGM, the servers' own) are PromQL conditions; the load balancer's
metrics are a ratio threshold on Cloud Monitoring filters.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template
from typing import Any

import yaml

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


_TABLE = Path(__file__).with_name("alerts.yaml")


@cache
def alert_table() -> tuple[dict[str, Any], ...]:
    """workloads/alerts.yaml: one row per alert policy, its texts as string.Template."""
    rows: list[dict[str, Any]] = yaml.safe_load(_TABLE.read_text())
    return tuple(rows)


def _fill(text: str, values: dict[str, str]) -> str:
    return Template(text).substitute(values)  # a name the table uses and `alerts` does not give: KeyError


def _condition(
    row: dict[str, Any], values: dict[str, str], queues: dict[str, list[str]], t: AlertThresholds
) -> PromCondition | RatioCondition:
    minutes = int(getattr(t, (row.get("promql") or row["ratio"])["minutes"]))
    if "ratio" in row:
        r = row["ratio"]
        return RatioCondition(
            _fill(r["name"], values),
            _fill(r["numerator"], values),
            _fill(r["denominator"], values),
            tuple(r["group_by"]),
            float(getattr(t, r["threshold"])),
            minutes,
        )
    q = row["promql"]
    if "each_queue_metric" in q:
        parts = [
            _fill(q["each_queue_metric"], values | {"metric": metric, "jobs": "|".join(sorted(jobs))})
            for metric, jobs in sorted(queues.items())
        ]
        query = " or ".join(parts)
    else:
        query = _fill(q["query"], values)
    return PromCondition(_fill(q["name"], values), query, minutes)


def alerts(env: str, scope: Scope, services: list[ServiceMetrics], t: AlertThresholds) -> list[Alert]:
    """The environment's alerts, one per row of workloads/alerts.yaml; none for a kind of metric no service
    exports (a queue, say)."""
    names = sorted(s.name for s in services)
    if not names:
        return []
    queues: dict[str, list[str]] = {}
    for s in services:
        if s.queue_metric:
            queues.setdefault(s.queue_metric, []).append(s.name)
    lb = scope.load_balancer
    values = {
        "env": env,
        "ns": scope.namespace,
        "deployments": "|".join(names),
        "pods": pods_regex(names),
        "backends": (
            f'resource.type="{lb.resource_type}" AND metric.type="{lb.prefix}/request_count" AND '
            f'resource.label.backend_target_name=monitoring.regex.full_match("{backend_regex(scope.namespace, names)}")'
        ),
        "gpu_memory": gpu_memory_ratio(gpu_selector(scope, names)),
        "status": STATUS.format(env=env),
        **{field: str(getattr(t, field)) for field in type(t).model_fields if field.endswith("_minutes")},
        "queue_above": f"{t.queue_above_threshold:g}",
        "lb_error_pct": f"{t.lb_error_ratio:.0%}",
        "gpu_memory_pct": f"{t.gpu_memory_used_ratio:.0%}",
        "gpu_memory_ratio": f"{t.gpu_memory_used_ratio:g}",
    }
    return [
        Alert(
            row["key"],
            _fill(row["name"], values),
            (_condition(row, values, queues, t),),
            _fill(row["documentation"], values),
            row["severity"],
        )
        for row in alert_table()
        if queues or "each_queue_metric" not in row.get("promql", {})
    ]
