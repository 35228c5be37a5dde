"""The dashboard and alert policies: built from each runtime's metric facts, thresholds and channels from
the environment's `monitoring` section, rendered by the preview; GKE's managed DCGM metrics on."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from catalog.node_model import cluster_features, daemonsets_on
from catalog.servers import server_facts
from config import InvalidEnvironment, parse_environment
from config.monitoring import AlertThresholds, MonitoringConfig
from infra.cluster import NODE_FEATURES
from preview.run import EXIT_OK, EXIT_POLICY, preview_environment
from tests.conftest import ENVIRONMENTS, Preview
from tests.test_config import VALID
from workloads.alerts import alerts
from workloads.dashboard import MOSAIC_COLUMNS, Scope, ServiceMetrics, dashboard, service_charts

SCOPE = Scope(namespace="serving", gateway_class="gke-l7-regional-external-managed")


def metrics_of(name: str, runtime: str, port: int = 8000) -> ServiceMetrics:
    facts = server_facts()[runtime]
    return ServiceMetrics(
        name, runtime, port, facts.queue_metric, facts.ttft_histogram, facts.tpot_histogram, facts.kv_cache_usage
    )


def queries(chart_widget: dict[str, Any]) -> list[str]:
    found = []
    for data_set in chart_widget["xyChart"]["dataSets"]:
        query = data_set["timeSeriesQuery"]
        found.append(query.get("prometheusQuery") or query["timeSeriesFilter"]["filter"])
    return found


_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\{([^}]*)\}")
_MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)(=~|!=|!~|=)"([^"]*)"')


def selectors(promql: str) -> dict[str, dict[str, str]]:
    """metric -> its label matchers in a PromQL query, `label` for `=` and `label=~` (etc.) otherwise."""
    return {
        metric: {f"{label}{'' if op == '=' else op}": value for label, op, value in _MATCHER.findall(body)}
        for metric, body in _SELECTOR.findall(promql)
    }


def clauses(monitoring_filter: str) -> set[str]:
    """The clauses of a Cloud Monitoring filter joined by AND."""
    return set(monitoring_filter.split(" AND "))


def charts_by_title(service: ServiceMetrics) -> dict[str, list[str]]:
    return {c.title: queries(c.widget()) for c in service_charts(SCOPE, service)}


# --- the dashboard ---------------------------------------------------------------------------------


def test_vllm_panels_read_the_pinned_versions_metrics() -> None:
    charts = charts_by_title(metrics_of("gemma", "vllm"))
    # 0.33 exports inter-token latency and kv_cache_usage_perc; the older names were removed in 0.13.
    (ttft,) = charts["Time to first token p95"]
    assert selectors(ttft) == {"vllm:time_to_first_token_seconds_bucket": {"namespace": "serving", "job": "gemma"}}
    assert ttft.startswith("histogram_quantile(0.95, sum by (le)")
    assert set(selectors(charts["Time per output token p95"][0])) == {"vllm:inter_token_latency_seconds_bucket"}
    assert set(selectors(charts["KV-cache usage (per replica)"][0])) == {"vllm:kv_cache_usage_perc"}
    assert set(selectors(charts["Requests waiting (per replica)"][0])) == {"vllm:num_requests_waiting"}
    assert not any(
        "gpu_cache_usage_perc" in q or "time_per_output_token_seconds" in q for qs in charts.values() for q in qs
    )


def test_a_runtime_without_a_metric_gets_no_panel_for_it() -> None:
    tei = charts_by_title(metrics_of("embed", "tei", 8080))
    tgi = charts_by_title(metrics_of("llama", "tgi", 8080))
    for title in ("Time to first token p95", "Time per output token p95", "KV-cache usage (per replica)"):
        assert title not in tei
    assert "Time to first token p95" not in tgi and "KV-cache usage (per replica)" not in tgi
    assert set(selectors(tgi["Time per output token p95"][0])) == {"tgi_request_mean_time_per_token_duration_bucket"}
    sglang = charts_by_title(metrics_of("qwen", "sglang", 30000))
    assert set(selectors(sglang["KV-cache usage (per replica)"][0])) == {"sglang:token_usage"}
    assert set(selectors(sglang["Time per output token p95"][0])) == {"sglang:inter_token_latency_seconds_bucket"}


def test_every_service_has_load_balancer_gpu_and_replica_panels_of_its_own() -> None:
    charts = charts_by_title(metrics_of("gemma", "vllm", 8000))
    (requests,) = charts["Requests by response class (load balancer)"]
    assert {
        'metric.type="loadbalancing.googleapis.com/https/external/regional/request_count"',
        'resource.label.backend_target_name=monitoring.regex.full_match("gkegw1-.*-serving-(gemma)-8000-.*")',
    } <= clauses(requests)
    five_xx = charts["5xx answers (load balancer)"][0]
    assert clauses(five_xx) == clauses(requests) | {"metric.label.response_code_class=500"}
    (gpu,) = selectors(charts["GPU utilisation (DCGM)"][0]).values()
    assert gpu == {"exported_namespace": "serving", "exported_pod=~": "gemma-[a-z0-9]+-[a-z0-9]+"}
    assert "DCGM_FI_DEV_FB_FREE" in selectors(charts["GPU memory used (DCGM)"][0])
    replicas = charts["Replicas and pending pods"]
    assert any(
        'kube_deployment_status_replicas_available{namespace="serving",deployment="gemma"}' in q for q in replicas
    )
    assert any('phase="Pending"' in q for q in replicas)


def test_an_internal_gateway_reads_the_internal_load_balancers_metrics() -> None:
    internal = Scope("serving", "gke-l7-rilb")
    (chart, *_) = service_charts(internal, metrics_of("gemma", "vllm"))
    (query,) = queries(chart.widget())
    assert {
        'metric.type="loadbalancing.googleapis.com/https/internal/request_count"',
        'resource.type="internal_http_lb_rule"',
    } <= clauses(query)


def check_dashboard_shape(board: dict[str, Any]) -> None:
    """The Dashboard API's required fields and mosaicLayout's rules (projects.dashboards reference)."""
    assert board["displayName"]
    layout = board["mosaicLayout"]
    assert layout["columns"] == MOSAIC_COLUMNS
    cells: set[tuple[int, int]] = set()
    for tile in layout["tiles"]:
        assert set(tile) == {"xPos", "yPos", "width", "height", "widget"}
        assert tile["xPos"] >= 0 and tile["xPos"] + tile["width"] <= MOSAIC_COLUMNS and tile["height"] > 0
        covered = {
            (x, y)
            for x in range(tile["xPos"], tile["xPos"] + tile["width"])
            for y in range(tile["yPos"], tile["yPos"] + tile["height"])
        }
        assert not covered & cells, f"tile {tile['widget']['title']} overlaps another"
        cells |= covered
        widget = tile["widget"]
        kinds = set(widget) - {"title"}
        assert widget["title"] and len(kinds) == 1 and kinds <= {"xyChart", "sectionHeader"}
        for data_set in widget.get("xyChart", {}).get("dataSets", []):
            (kind,) = data_set["timeSeriesQuery"]
            assert kind in ("prometheusQuery", "timeSeriesFilter")
            assert data_set["plotType"] == "LINE"


def test_dashboard_json_has_the_api_shape_and_a_section_per_service() -> None:
    services = [metrics_of("gemma", "vllm"), metrics_of("embed", "tei", 8080), metrics_of("qwen", "sglang", 30000)]
    board = json.loads(dashboard("gke-serving test", SCOPE, services).json())
    check_dashboard_shape(board)
    headers = [t["widget"]["title"] for t in board["mosaicLayout"]["tiles"] if "sectionHeader" in t["widget"]]
    assert headers == ["embed", "gemma", "qwen"]


# --- the alerts ------------------------------------------------------------------------------------


def test_alert_conditions_take_their_thresholds_from_config() -> None:
    t = AlertThresholds.model_validate(
        {"noReadyReplicaMinutes": 7, "queueAboveThreshold": 25, "queueMinutes": 3, "lbErrorRatio": 0.1}
    )
    found = {
        a.key: a for a in alerts("prod", SCOPE, [metrics_of("gemma", "vllm"), metrics_of("embed", "tei", 8080)], t)
    }
    assert sorted(found) == [
        "gpu-memory-near-full",
        "gpu-pods-pending",
        "lb-5xx-ratio",
        "no-ready-replica",
        "queue-above-threshold",
    ]
    ready = found["no-ready-replica"].args([], {})["conditions"][0]["condition_prometheus_query_language"]
    assert ready["duration"] == "420s"
    assert selectors(ready["query"]) == {
        "kube_deployment_status_replicas_available": {"namespace": "serving", "deployment=~": "embed|gemma"}
    }
    queue = found["queue-above-threshold"].args([], {})["conditions"][0]["condition_prometheus_query_language"]
    assert queue["duration"] == "180s"
    assert selectors(queue["query"]) == {
        "vllm:num_requests_waiting": {"namespace": "serving", "job=~": "gemma"},
        "te_queue_size": {"namespace": "serving", "job=~": "embed"},
    }
    assert [part.rsplit(" > ", 1)[1] for part in queue["query"].split(" or ")] == ["25", "25"]
    ratio = found["lb-5xx-ratio"].args([], {})["conditions"][0]["condition_threshold"]
    assert ratio["threshold_value"] == 0.1 and ratio["duration"] == "300s"
    assert ratio["filter"] == ratio["denominator_filter"] + " AND metric.label.response_code_class=500"


def test_every_alert_names_its_fix_and_its_channels() -> None:
    for alert in alerts("prod", SCOPE, [metrics_of("gemma", "vllm")], AlertThresholds()):
        args = alert.args(["projects/acme-ml-prod/notificationChannels/1"], {"environment": "prod"})
        assert "make status ENV=prod" in args["documentation"]["content"]
        assert args["notification_channels"] == ["projects/acme-ml-prod/notificationChannels/1"]
        assert args["combiner"] == "OR" and args["display_name"].startswith("prod: ")


def test_no_queue_alert_without_a_queue_metric() -> None:
    custom = ServiceMetrics("llamacpp", "custom", 8080, None, None, None, None)
    assert "queue-above-threshold" not in {a.key for a in alerts("dev", SCOPE, [custom], AlertThresholds())}


# --- config ----------------------------------------------------------------------------------------


def test_monitoring_defaults_and_channels() -> None:
    default = parse_environment(VALID).monitoring
    assert default == MonitoringConfig() and default.emails == [] and default.alerts.lb_error_ratio == 0.05
    raw = copy.deepcopy(VALID)
    raw["gke-serving:monitoring"] = {
        "emails": ["oncall@acme.example"],
        "channels": ["projects/acme-ml-dev/notificationChannels/42"],
        "alerts": {"queueAboveThreshold": 4},
    }
    parsed = parse_environment(raw).monitoring
    assert parsed.emails == ["oncall@acme.example"] and parsed.alerts.queue_above_threshold == 4


@pytest.mark.parametrize(
    ("monitoring", "path", "fragment"),
    [
        ({"alerts": {"lbErrorRatio": 5}}, "gke-serving:monitoring.alerts.lbErrorRatio", "less than 1"),
        ({"alerts": {"queueMinutes": 0}}, "gke-serving:monitoring.alerts.queueMinutes", "greater than or equal to 1"),
        ({"emails": ["oncall"]}, "gke-serving:monitoring.emails", "'oncall' is not an email address"),
        ({"channels": ["123"]}, "gke-serving:monitoring.channels", "projects/my-project/notificationChannels/123"),
    ],
)
def test_a_bad_monitoring_setting_is_one_problem_with_its_path(
    monitoring: dict[str, Any], path: str, fragment: str
) -> None:
    raw = copy.deepcopy(VALID)
    raw["gke-serving:monitoring"] = monitoring
    with pytest.raises(InvalidEnvironment) as caught:
        parse_environment(raw)
    (problem,) = caught.value.problems
    assert problem.path == path
    assert fragment in f"{problem.what} {problem.fix}"


def test_a_misspelt_threshold_gets_a_suggestion() -> None:
    raw = copy.deepcopy(VALID)
    raw["gke-serving:monitoring"] = {"alerts": {"queueMinute": 3}}
    with pytest.raises(InvalidEnvironment) as caught:
        parse_environment(raw)
    (problem,) = caught.value.problems
    assert problem.path.startswith("gke-serving:monitoring.alerts") and "queueMinutes" in str(problem)


# --- the rendered environments ---------------------------------------------------------------------


def test_prod_renders_the_dashboard_alerts_and_the_oncall_channel(previews: object) -> None:
    preview: Preview = previews("prod")  # type: ignore[operator]
    assert not [p for p in preview.plan["policies"] if "Observability" in p["urn"]]
    (channel,) = preview.resources("gcp:monitoring/notificationChannel:NotificationChannel")
    assert channel["inputs"]["type"] == "email"
    assert channel["inputs"]["labels"] == {"email_address": "ml-platform-oncall@acme.example"}
    policies = preview.resources("gcp:monitoring/alertPolicy:AlertPolicy")
    # One policy per kind of failure prod's services can have (its vLLM and TGI servers export a queue).
    assert {p["name"].removeprefix("observability-") for p in policies} == {
        "no-ready-replica",
        "gpu-pods-pending",
        "queue-above-threshold",
        "lb-5xx-ratio",
        "gpu-memory-near-full",
    }
    memory = next(p for p in policies if p["name"].endswith("gpu-memory-near-full"))
    query = memory["inputs"]["conditions"][0]["conditionPrometheusQueryLanguage"]["query"]
    assert query.rsplit(" > ", 1)[1] == "0.97"  # prod's monitoring.alerts.gpuMemoryUsedRatio
    for policy in policies:
        (target,) = policy["inputs"]["notificationChannels"]
        assert target.startswith("observability-email-ml-platform-oncall")  # the channel's id (mock)
    (board,) = preview.resources("gcp:monitoring/dashboard:Dashboard")
    check_dashboard_shape(json.loads(board["inputs"]["dashboardJson"]))


def test_the_preview_writes_the_dashboard_json(tmp_path: Any) -> None:
    out = tmp_path / "prod"
    # A policy finding elsewhere (exit 1) still writes the whole output; only 2 and 3 write none.
    assert preview_environment("prod", str(out), quiet=True) in (EXIT_OK, EXIT_POLICY)
    board = json.loads((out / "dashboard.json").read_text())
    plan = json.loads((out / "plan.json").read_text())
    (registered,) = [r for r in plan["resources"] if r["type"] == "gcp:monitoring/dashboard:Dashboard"]
    assert board == json.loads(registered["inputs"]["dashboardJson"])
    headers = {t["widget"]["title"] for t in board["mosaicLayout"]["tiles"] if "sectionHeader" in t["widget"]}
    assert headers == set(plan["outputs"]["serviceUrls"])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_managed_dcgm_metrics_are_on_and_modelled_on_gpu_nodes(previews: object, env: str) -> None:
    preview: Preview = previews(env)  # type: ignore[operator]
    (cluster,) = preview.resources("gcp:container/cluster:Cluster")
    components = cluster["inputs"]["monitoringConfig"]["enableComponents"]
    assert {"DCGM", "DEPLOYMENT", "POD"} <= set(components)  # the dashboard's GPU and kube state metrics
    assert "dcgm" in cluster_features(cluster["inputs"], {}) and "dcgm" in NODE_FEATURES
    on_gpu = {d.name for d in daemonsets_on(gpu=True, features=NODE_FEATURES)}
    on_cpu = {d.name for d in daemonsets_on(gpu=False, features=NODE_FEATURES)}
    assert "dcgm-exporter" in on_gpu and "dcgm-exporter" not in on_cpu


@pytest.mark.parametrize("field", sorted(AlertThresholds.model_fields))
def test_every_alert_threshold_changes_the_rendered_policies(field: str) -> None:
    """A threshold the environment may set that no row of workloads/alerts.yaml reads would be a setting
    with no effect."""
    services = [
        ServiceMetrics("gemma", "vllm", 8000, "vllm:num_requests_waiting", None, None, None),
        ServiceMetrics("embed", "tei", 80, None, None, None, None),
    ]
    default = AlertThresholds()
    value = getattr(default, field)
    changed = default.model_copy(update={field: value + 1 if isinstance(value, int) else value * 0.9})

    def rendered(t: AlertThresholds) -> list[dict[str, Any]]:
        return [a.args([], {}) for a in alerts("prod", SCOPE, services, t)]

    assert rendered(changed) != rendered(default)
