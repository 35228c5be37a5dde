"""The environment's dashboard, alert policies and their notification channels (GCP resources).

The dashboard and the alerts are built as typed data by workloads/dashboard.py and workloads/alerts.py;
this component only registers them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from config import Environment
from config.monitoring import MonitoringConfig
from infra.platform import NAMESPACE, resource_labels
from runtimes import runtime_of
from workloads.alerts import alerts
from workloads.dashboard import Scope, ServiceMetrics, dashboard
from workloads.server import ServerSpec


@dataclass(frozen=True)
class ObservabilityArgs:
    env: str  # the stack: titles and documentation name it
    project: str
    scope: Scope
    services: tuple[ServiceMetrics, ...]
    monitoring: MonitoringConfig
    labels: dict[str, str]

    @classmethod
    def of(cls, env: Environment, specs: Mapping[str, ServerSpec], stack: str) -> ObservabilityArgs:
        """From the environment and the servers' specs; the metric names come from each runtime's facts."""
        services = []
        for name, spec in specs.items():
            facts = runtime_of(env.services[name]).facts_for(env.services[name])
            services.append(
                ServiceMetrics(
                    name=name,
                    runtime=spec.runtime,
                    port=spec.port,
                    queue_metric=spec.queue_metric or None,
                    ttft_histogram=facts.ttft_histogram,
                    tpot_histogram=facts.tpot_histogram,
                    kv_cache_usage=facts.kv_cache_usage,
                    compute_class=env.services[name].compute_class,
                )
            )
        return cls(
            env=stack,
            project=env.project,
            scope=Scope(namespace=NAMESPACE, gateway_class=env.gateway.class_name),
            services=tuple(services),
            monitoring=env.monitoring,
            labels=resource_labels(stack),
        )


class Observability(pulumi.ComponentResource):
    dashboard: gcp.monitoring.Dashboard
    channels: dict[str, gcp.monitoring.NotificationChannel]
    policies: dict[str, gcp.monitoring.AlertPolicy]

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gke-serving:workloads:Observability", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        board = dashboard(f"gke-serving {args.env}", args.scope, list(args.services))
        self.dashboard = gcp.monitoring.Dashboard(
            f"{name}-dashboard", project=args.project, dashboard_json=board.json(), opts=child
        )
        # Keyed by the address, not its position: adding one renames no other channel.
        self.channels = {
            email: gcp.monitoring.NotificationChannel(
                f"{name}-email-{email}",
                project=args.project,
                display_name=f"gke-serving {args.env}: {email}",
                type="email",
                labels={"email_address": email},
                user_labels=args.labels,
                opts=child,
            )
            for email in args.monitoring.emails
        }
        # A channel's id is its resource name, projects/<project>/notificationChannels/<n>, which
        # notificationChannels takes (terraform-provider-google imports it by that name).
        targets: list[pulumi.Input[str]] = [c.id for c in self.channels.values()]
        targets += args.monitoring.channels
        self.policies = {
            alert.key: gcp.monitoring.AlertPolicy(
                f"{name}-{alert.key}",
                project=args.project,
                **alert.args(targets, args.labels),
                opts=child,
            )
            for alert in alerts(args.env, args.scope, list(args.services), args.monitoring.alerts)
        }
        self.register_outputs({"dashboard": self.dashboard.id, "alertPolicies": sorted(self.policies)})
