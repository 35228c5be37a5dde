"""Queue metrics of every server scraped by Managed Prometheus, and an HPA on them where asked.

Manifest bodies are built by the plain functions below; the component only registers them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from config.services import Autoscaling as AutoscalingConfig
from workloads.deployment import labels, selector
from workloads.metrics_adapter import CustomMetricsAdapter, CustomMetricsAdapterArgs
from workloads.server import ServerSpec

MONITORING_API = "monitoring.googleapis.com/v1"
SCRAPE_INTERVAL = "15s"  # as GKE's LLM-autoscaling samples: the HPA reacts within about a minute
SCALE_UP_PERIOD_SECONDS = 60
SCALE_UP_PODS = 2  # at least two pods a minute, or double, whichever is more
SCALE_DOWN_PODS = 1  # replicas leave one at a time: a GPU pod takes minutes to come back
MAX_PERIOD_SECONDS = 1800  # HPAScalingPolicy.periodSeconds: 0 < p <= 1800 (autoscaling/v2)


def scale_up_period(cold_start_seconds: int | None) -> int:
    """The scale-up policies' period: one cold start. The queue stays long until the replicas just added
    serve, so a shorter period would add a second batch for the same burst before the first could help
    (and hold GPUs the burst never needed); the first batch still comes at once (no stabilization)."""
    if cold_start_seconds is None:
        return SCALE_UP_PERIOD_SECONDS
    return max(SCALE_UP_PERIOD_SECONDS, min(cold_start_seconds, MAX_PERIOD_SECONDS))


def metrics_port_name(spec: ServerSpec) -> str:
    """The container port serving /metrics: Triton has its own, the others use the API port."""
    return "metrics" if spec.metrics_port != spec.port else "http"


def pod_monitoring_spec(service: str, spec: ServerSpec) -> dict[str, Any]:
    return {
        "selector": {"matchLabels": selector(service)},
        "endpoints": [{"port": metrics_port_name(spec), "path": spec.metrics_path, "interval": SCRAPE_INTERVAL}],
    }


def hpa_metric_name(queue_metric: str) -> str:
    """How the Custom Metrics Stackdriver Adapter names a Managed Prometheus gauge (`:` kept as is)."""
    return f"prometheus.googleapis.com|{queue_metric}|gauge"


def _quantity(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{int(value * 1000)}m"


def hpa_spec(
    service: str, queue_metric: str, autoscaling: AutoscalingConfig, cold_start_seconds: int | None = None
) -> dict[str, Any]:
    period = scale_up_period(cold_start_seconds)
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": service},
        "minReplicas": autoscaling.min_replicas,
        "maxReplicas": autoscaling.max_replicas,
        "metrics": [
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": hpa_metric_name(queue_metric)},
                    # Requests waiting per replica, averaged over the replicas.
                    "target": {"type": "AverageValue", "averageValue": _quantity(autoscaling.target_queue_size)},
                },
            }
        ],
        "behavior": {
            # A queue means users are already waiting: add capacity at once.
            "scaleUp": {
                "stabilizationWindowSeconds": 0,
                "selectPolicy": "Max",
                "policies": [
                    {"type": "Percent", "value": 100, "periodSeconds": period},
                    {"type": "Pods", "value": SCALE_UP_PODS, "periodSeconds": period},
                ],
            },
            "scaleDown": {
                "stabilizationWindowSeconds": autoscaling.scale_down_stabilization_seconds,
                "selectPolicy": "Min",
                "policies": [{"type": "Pods", "value": SCALE_DOWN_PODS, "periodSeconds": SCALE_UP_PERIOD_SECONDS}],
            },
        },
    }


@dataclass(frozen=True)
class Scaled:
    spec: ServerSpec
    autoscaling: AutoscalingConfig | None
    cold_start_seconds: int | None = None  # estimated node-ready-to-serving time (sizing/cold_start.py)


@dataclass(frozen=True)
class AutoscalingArgs:
    namespace: pulumi.Input[str]
    services: Mapping[str, Scaled]
    project: str
    name_prefix: str  # GCP names start with it: the cluster's name


class Autoscaling(pulumi.ComponentResource):
    adapter: CustomMetricsAdapter | None

    def __init__(self, name: str, args: AutoscalingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gke-serving:workloads:Autoscaling", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        scaled = {s: v for s, v in args.services.items() if v.autoscaling is not None}
        # The adapter only runs where an HPA needs it.
        self.adapter = (
            CustomMetricsAdapter(
                f"{name}-metrics-adapter", CustomMetricsAdapterArgs(args.project, args.name_prefix), opts=child
            )
            if scaled
            else None
        )
        api_services = self.adapter.api_services if self.adapter else []
        after_adapter = pulumi.ResourceOptions(parent=self, depends_on=list(api_services))
        for service, v in args.services.items():
            meta = {"name": service, "namespace": args.namespace, "labels": labels(service, v.spec.runtime)}
            k8s.apiextensions.CustomResource(
                f"{name}-{service}-monitoring",
                api_version=MONITORING_API,
                kind="PodMonitoring",
                metadata=meta,
                spec=pod_monitoring_spec(service, v.spec),
                opts=child,
            )
            if v.autoscaling is not None:
                k8s.autoscaling.v2.HorizontalPodAutoscaler(
                    f"{name}-{service}-hpa",
                    metadata=meta,
                    spec=hpa_spec(service, v.spec.queue_metric, v.autoscaling, v.cold_start_seconds),
                    opts=after_adapter,
                )
        self.register_outputs({"autoscaled": sorted(scaled)})
