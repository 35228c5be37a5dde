"""The environment's Cloud Monitoring dashboard as typed data, rendered to the Dashboard API's JSON.

Pure: the queries come from each service's runtime facts (catalog/servers.yaml), so a runtime that
exports no time-to-first-token histogram gets no such panel. `Observability` only registers the JSON.
API shape: monitoring/api/ref_v3/rest/v1/projects.dashboards (mosaicLayout of at most 48 columns).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MOSAIC_COLUMNS = 48
CHART_WIDTH = 16  # three charts a row
CHART_HEIGHT = 12
HEADER_HEIGHT = 4
QUANTILE = 0.95
WINDOW = "5m"  # rate() window: a few Managed Prometheus scrapes (15 s) and LB samples (60 s)

# GKE's managed DCGM exporter labels a GPU with the pod that holds it as exported_namespace /
# exported_pod (the scrape target's own namespace and pod are the exporter's).
DCGM_GPU_UTIL = "DCGM_FI_DEV_GPU_UTIL"
DCGM_FB_USED = "DCGM_FI_DEV_FB_USED"
DCGM_FB_FREE = "DCGM_FI_DEV_FB_FREE"
# A k8s_node's metadata user labels are its Kubernetes labels (Cloud Monitoring's k8s_node resource; not re-read
# here): the class GKE labels its nodes with, and what tells one option from another.
NODE_METRIC = "kubernetes.io/node/cpu/allocatable_cores"
OPTION_LABELS = (
    'metadata.user_labels."node.kubernetes.io/instance-type"',
    'metadata.user_labels."cloud.google.com/gke-spot"',
    'metadata.user_labels."cloud.google.com/gke-flex-start"',
)


@dataclass(frozen=True)
class LoadBalancerMetrics:
    """Cloud Monitoring metrics of one kind of Application Load Balancer (load-balancing/docs/metrics:
    `https/external/regional` for the regional external, `https/internal` for the internal one)."""

    prefix: str
    resource_type: str


LOAD_BALANCERS: dict[str, LoadBalancerMetrics] = {
    "gke-l7-regional-external-managed": LoadBalancerMetrics(
        "loadbalancing.googleapis.com/https/external/regional", "http_external_regional_lb_rule"
    ),
    "gke-l7-rilb": LoadBalancerMetrics("loadbalancing.googleapis.com/https/internal", "internal_http_lb_rule"),
}


@dataclass(frozen=True)
class ServiceMetrics:
    """What the dashboard and the alerts need to know of one service: its names and its server's metrics."""

    name: str
    runtime: str
    port: int  # the Service port the HTTPRoute sends to: part of the backend service's name
    queue_metric: str | None
    ttft_histogram: str | None
    tpot_histogram: str | None
    kv_cache_usage: str | None
    compute_class: str | None = None  # the compute class its pods select, if any


@dataclass(frozen=True)
class Scope:
    """Where the environment's servers run and which load balancer fronts them."""

    namespace: str
    gateway_class: str

    @property
    def load_balancer(self) -> LoadBalancerMetrics:
        return LOAD_BALANCERS[self.gateway_class]


def pods_regex(services: list[str] | tuple[str, ...]) -> str:
    """The pods of the services' Deployments: <deployment>-<replica set hash>-<suffix>. Full-match,
    so service `gemma` does not take the pods of `gemma-2`."""
    names = "|".join(services)
    return f"({names})-[a-z0-9]+-[a-z0-9]+" if len(services) > 1 else f"{names}-[a-z0-9]+-[a-z0-9]+"


def backend_regex(namespace: str, services: list[str] | tuple[str, ...], port: str = "[0-9]+") -> str:
    """The backend services GKE Gateway creates for a route's backendRefs:
    gkegw1-<id>-<namespace>-<service>-<port>-<hash>. GKE does not publish the scheme and truncates long
    names; it cannot be read offline, so this matches the observed form and the port keeps `gemma`
    apart from `gemma-2`."""
    names = "|".join(services)
    return f"gkegw1-.*-{namespace}-({names})-{port}-.*"


def _selector(scope: Scope, service: str) -> str:
    # Managed Prometheus labels every sample with the scrape target's namespace and job; the job is the
    # PodMonitoring's name, which workloads/autoscaling.py gives the service's.
    return f'namespace="{scope.namespace}",job="{service}"'


def _quantile(histogram: str, selector: str) -> str:
    return f"histogram_quantile({QUANTILE}, sum by (le) (rate({histogram}_bucket{{{selector}}}[{WINDOW}])))"


def gpu_selector(scope: Scope, services: list[str] | tuple[str, ...]) -> str:
    return f'exported_namespace="{scope.namespace}",exported_pod=~"{pods_regex(services)}"'


def gpu_memory_ratio(selector: str) -> str:
    return f"{DCGM_FB_USED}{{{selector}}} / ({DCGM_FB_USED}{{{selector}}} + {DCGM_FB_FREE}{{{selector}}})"


# --- the API's shapes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromQuery:
    """A PromQL query (timeSeriesQuery.prometheusQuery)."""

    query: str
    legend: str | None = None

    def api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"timeSeriesQuery": {"prometheusQuery": self.query}, "plotType": "LINE"}
        if self.legend:
            data["legendTemplate"] = self.legend
        return data


@dataclass(frozen=True)
class FilterQuery:
    """A Cloud Monitoring filter with its aggregation (timeSeriesQuery.timeSeriesFilter)."""

    filter: str
    aligner: str
    reducer: str
    group_by: tuple[str, ...] = ()

    def api(self) -> dict[str, Any]:
        aggregation: dict[str, Any] = {
            "alignmentPeriod": "60s",
            "perSeriesAligner": self.aligner,
            "crossSeriesReducer": self.reducer,
        }
        if self.group_by:
            aggregation["groupByFields"] = list(self.group_by)
        return {
            "timeSeriesQuery": {"timeSeriesFilter": {"filter": self.filter, "aggregation": aggregation}},
            "plotType": "LINE",
        }


@dataclass(frozen=True)
class Chart:
    title: str
    queries: tuple[PromQuery | FilterQuery, ...]
    y_label: str

    def widget(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "xyChart": {
                "dataSets": [q.api() for q in self.queries],
                "yAxis": {"label": self.y_label, "scale": "LINEAR"},
            },
        }


@dataclass(frozen=True)
class Header:
    title: str
    subtitle: str

    def widget(self) -> dict[str, Any]:
        return {"title": self.title, "sectionHeader": {"subtitle": self.subtitle, "dividerBelow": True}}


@dataclass(frozen=True)
class Tile:
    x: int
    y: int
    width: int
    height: int
    content: Chart | Header

    def api(self) -> dict[str, Any]:
        return {
            "xPos": self.x,
            "yPos": self.y,
            "width": self.width,
            "height": self.height,
            "widget": self.content.widget(),
        }


@dataclass(frozen=True)
class Dashboard:
    display_name: str
    tiles: tuple[Tile, ...]
    labels: tuple[str, ...] = ()

    def api(self) -> dict[str, Any]:
        return {
            "displayName": self.display_name,
            "mosaicLayout": {"columns": MOSAIC_COLUMNS, "tiles": [t.api() for t in self.tiles]},
            "labels": dict.fromkeys(self.labels, ""),
        }

    def json(self) -> str:
        return json.dumps(self.api(), indent=2, sort_keys=True)


# --- the panels -----------------------------------------------------------------------------------


def service_charts(scope: Scope, s: ServiceMetrics) -> list[Chart]:
    """A service's charts, in reading order; a metric its server does not export gets no chart."""
    lb = scope.load_balancer
    backend = (
        f'resource.type="{lb.resource_type}" AND '
        f'resource.label.backend_target_name=monitoring.regex.full_match("{backend_regex(scope.namespace, [s.name], str(s.port))}")'
    )
    selector = _selector(scope, s.name)
    gpu = gpu_selector(scope, [s.name])
    charts = [
        Chart(
            "Requests by response class (load balancer)",
            (
                FilterQuery(
                    f'metric.type="{lb.prefix}/request_count" AND {backend}',
                    "ALIGN_RATE",
                    "REDUCE_SUM",
                    ("metric.label.response_code_class",),
                ),
            ),
            "requests/s",
        ),
        Chart(
            "5xx answers (load balancer)",
            (
                FilterQuery(
                    f'metric.type="{lb.prefix}/request_count" AND {backend} AND metric.label.response_code_class=500',
                    "ALIGN_RATE",
                    "REDUCE_SUM",
                ),
            ),
            "requests/s",
        ),
        Chart(
            "Backend latency p95 (load balancer)",
            (
                FilterQuery(
                    f'metric.type="{lb.prefix}/backend_latencies" AND {backend}', "ALIGN_DELTA", "REDUCE_PERCENTILE_95"
                ),
            ),
            "ms",
        ),
    ]
    if s.ttft_histogram:
        charts.append(Chart("Time to first token p95", (PromQuery(_quantile(s.ttft_histogram, selector)),), "s"))
    if s.tpot_histogram:
        charts.append(Chart("Time per output token p95", (PromQuery(_quantile(s.tpot_histogram, selector)),), "s"))
    per_replica = (  # a gauge of the server's own, a line per replica: (title, metric, unit)
        ("Requests waiting (per replica)", s.queue_metric, "requests"),
        ("KV-cache usage (per replica)", s.kv_cache_usage, "share (0-1)"),
    )
    charts += [
        Chart(title, (PromQuery(f"max by (pod) ({metric}{{{selector}}})", "{{pod}}"),), unit)
        for title, metric, unit in per_replica
        if metric
    ]
    charts += [
        Chart(
            "GPU utilisation (DCGM)",
            (PromQuery(f"avg by (exported_pod) ({DCGM_GPU_UTIL}{{{gpu}}})", "{{exported_pod}}"),),
            "%",
        ),
        Chart(
            "GPU memory used (DCGM)",
            (PromQuery(f"max by (exported_pod) ({gpu_memory_ratio(gpu)})", "{{exported_pod}}"),),
            "share (0-1)",
        ),
        Chart(
            "Replicas and pending pods",
            (
                PromQuery(
                    f'sum(kube_deployment_spec_replicas{{namespace="{scope.namespace}",deployment="{s.name}"}})',
                    "desired",
                ),
                PromQuery(
                    f'sum(kube_deployment_status_replicas_available{{namespace="{scope.namespace}",deployment="{s.name}"}})',
                    "available",
                ),
                PromQuery(
                    f'sum(kube_pod_status_phase{{namespace="{scope.namespace}",phase="Pending",'
                    f'pod=~"{pods_regex([s.name])}"}})',
                    "pending",
                ),
            ),
            "pods",
        ),
    ]
    if s.compute_class:
        charts.append(class_nodes_chart(s.compute_class))
    return charts


def class_nodes_chart(compute_class: str) -> Chart:
    """Nodes of a compute class per option (machine type, spot, flex-start): where the class found capacity."""
    return Chart(
        f"Nodes per option of class {compute_class}",
        (
            FilterQuery(
                f'metric.type="{NODE_METRIC}" AND resource.type="k8s_node" AND '
                f'metadata.user_labels."cloud.google.com/compute-class"="{compute_class}"',
                "ALIGN_MEAN",
                "REDUCE_COUNT",
                OPTION_LABELS,
            ),
        ),
        "nodes",
    )


def dashboard(title: str, scope: Scope, services: list[ServiceMetrics]) -> Dashboard:
    """One section per service (in name order, so adding a service moves only those after it)."""
    tiles: list[Tile] = []
    y = 0
    for s in sorted(services, key=lambda s: s.name):
        tiles.append(Tile(0, y, MOSAIC_COLUMNS, HEADER_HEIGHT, Header(s.name, f"{s.runtime} in {scope.namespace}")))
        y += HEADER_HEIGHT
        charts = service_charts(scope, s)
        per_row = MOSAIC_COLUMNS // CHART_WIDTH
        for i, chart in enumerate(charts):
            tiles.append(
                Tile((i % per_row) * CHART_WIDTH, y + (i // per_row) * CHART_HEIGHT, CHART_WIDTH, CHART_HEIGHT, chart)
            )
        y += -(-len(charts) // per_row) * CHART_HEIGHT
    return Dashboard(title, tuple(tiles), ("gke-serving",))
