"""Model-aware routing: per picker-routed service an InferencePool and its endpoint picker, and the shared `/v1`
endpoint's body-based router with a route per pool. Builders in workloads/inference_pool.py and
workloads/body_routing.py; this component only registers them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

import naming
from config.services import ServiceConfig
from runtimes import runtime_of
from settings.routing import Routing
from workloads import body_routing as bbr
from workloads import inference_pool as pool
from workloads.autoscaling import MONITORING_API
from workloads.deployment import grace_seconds
from workloads.deployment import labels as service_labels
from workloads.gateway import GATEWAY_API, GKE_POLICY_API
from workloads.probes import await_timeouts
from workloads.server import ServerSpec

RBAC_API = "rbac.authorization.k8s.io/v1"


@dataclass(frozen=True)
class Picked:
    spec: ServerSpec  # the service's server: its port, health and metrics paths, adapters
    routing: Routing
    engine: str  # the picker's name for the server's metrics
    base_model: str  # the name clients send as `model` for the base model

    @classmethod
    def of(cls, spec: ServerSpec, routing: Routing | None) -> Picked | None:
        """The service as its picker sees it; None when it is not picker-routed."""
        if routing is None or spec.picker_engine is None or spec.served_name is None:
            return None
        return cls(spec, routing, spec.picker_engine, spec.served_name)


@dataclass(frozen=True)
class InferenceRoutingArgs:
    namespace: pulumi.Input[str]
    services: Mapping[str, Picked]  # the picker-routed services (at least one)


def config_hash(data: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def picked_services(services: Mapping[str, ServiceConfig], specs: Mapping[str, ServerSpec]) -> dict[str, Picked]:
    """The picker-routed services among `services`, with their servers."""
    found = {name: Picked.of(spec, runtime_of(services[name]).routing(services[name])) for name, spec in specs.items()}
    return {name: p for name, p in found.items() if p is not None}


def model_names(services: Mapping[str, ServerSpec]) -> dict[str, str]:
    """Each name a client may send as `model` on the shared endpoint -> the service serving it."""
    names = {}
    for service, spec in services.items():
        for model in (spec.served_name, *spec.adapters):
            if model is not None:
                names[model] = service
    return names


class InferenceRouting(pulumi.ComponentResource):
    def __init__(self, name: str, args: InferenceRoutingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gke-serving:workloads:InferenceRouting", name, None, opts)
        self._namespace = args.namespace
        for service, picked in args.services.items():
            self._pool(f"{name}-{service}", service, picked)
        self._router(f"{name}-router")
        self.register_outputs({"pools": sorted(args.services)})

    def _awaited(self, startup_seconds: int, replicas: int) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(
            parent=self, custom_timeouts=pulumi.CustomTimeouts(**await_timeouts(startup_seconds, replicas))
        )

    def _object(self, resource: str, api: str, kind: str, obj: str, labels: dict[str, str], spec: Any) -> None:
        k8s.apiextensions.CustomResource(
            resource,
            api_version=api,
            kind=kind,
            metadata={"name": obj, "namespace": self._namespace, "labels": labels},
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _identity(
        self, name: str, meta: dict[str, Any], rules: list[dict[str, Any]], binding: pulumi.Output[dict[str, Any]]
    ) -> None:
        """A pod's ServiceAccount, the Role of what it may read and the binding of one to the other (children
        `<name>-account`, `-role`, `-binding`)."""
        child = pulumi.ResourceOptions(parent=self)
        k8s.core.v1.ServiceAccount(f"{name}-account", metadata=meta, opts=child)
        k8s.rbac.v1.Role(f"{name}-role", metadata=meta, rules=cast(Any, rules), opts=child)
        k8s.rbac.v1.RoleBinding(
            f"{name}-binding",
            metadata=meta,
            role_ref=binding.apply(lambda b: b["roleRef"]),
            subjects=binding.apply(lambda b: b["subjects"]),
            opts=child,
        )

    def _pool(self, name: str, service: str, picked: Picked) -> None:
        spec, routing = picked.spec, picked.routing
        child = pulumi.ResourceOptions(parent=self)
        picker = naming.picker_name(service)
        labels = pool.picker_labels(service)
        meta = {"name": picker, "namespace": self._namespace, "labels": labels}
        own = service_labels(service, spec.runtime)  # the pool and its shared route are the service's
        self._object(
            f"{name}-pool",
            pool.POOL_API,
            "InferencePool",
            service,
            own,
            pool.inference_pool_spec(service, spec, routing),
        )
        data = pool.picker_config_data(
            pool.picker_config(
                picked.engine, routing.weights, spec.metrics_path, bool(spec.adapters) and spec.picker_reads_adapters
            )
        )
        k8s.core.v1.ConfigMap(f"{name}-picker-config", metadata=meta, data=data, opts=child)
        self._identity(
            f"{name}-picker",
            meta,
            pool.picker_role_rules(routing),
            pulumi.Output.from_input(self._namespace).apply(lambda ns: pool.picker_role_binding(service, ns)),
        )
        deployment = pulumi.Output.from_input(self._namespace).apply(
            lambda ns: pool.picker_deployment_spec(service, ns, routing, config_hash(data), grace_seconds(spec))
        )
        # Awaited as the model servers are: a create starts every replica, an update one at a time.
        awaited = self._awaited(pool.STARTUP_SECONDS, routing.picker_replicas)
        k8s.apps.v1.Deployment(
            f"{name}-picker",
            metadata={**meta, **({"annotations": notes} if (notes := pool.picker_annotations(routing)) else {})},
            spec=cast(Any, deployment),
            opts=awaited,
        )
        k8s.core.v1.Service(
            f"{name}-picker-service", metadata=meta, spec=cast(Any, pool.picker_service_spec(service)), opts=awaited
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-picker-pdb", metadata=meta, spec=cast(Any, pool.picker_pdb_spec(service)), opts=child
        )
        self._object(
            f"{name}-picker-monitoring",
            MONITORING_API,
            "PodMonitoring",
            picker,
            labels,
            pool.picker_monitoring_spec(service),
        )
        # The body router's map from this pool's model names to it, and the pool's route on the shared endpoint.
        k8s.core.v1.ConfigMap(
            f"{name}-models",
            metadata={
                "name": naming.models_config_name(service),
                "namespace": self._namespace,
                "labels": bbr.models_config_labels(service),
            },
            data=bbr.models_config_data(picked.base_model, spec.adapters),
            opts=child,
        )
        self._object(
            f"{name}-openai-route",
            GATEWAY_API,
            "HTTPRoute",
            naming.shared_route_name(service),
            own,
            bbr.shared_route_spec(service, picked.base_model, spec.served_paths),
        )

    def _router(self, name: str) -> None:
        child = pulumi.ResourceOptions(parent=self)
        labels = bbr.labels()
        meta = {"name": bbr.BODY_ROUTER, "namespace": self._namespace, "labels": labels}
        self._identity(
            name,
            meta,
            bbr.router_role_rules(),
            pulumi.Output.from_input(self._namespace).apply(bbr.router_role_binding),
        )
        awaited = self._awaited(bbr.STARTUP_SECONDS, bbr.REPLICAS)
        k8s.apps.v1.Deployment(
            f"{name}-deployment", metadata=meta, spec=cast(Any, bbr.router_deployment_spec()), opts=awaited
        )
        k8s.core.v1.Service(f"{name}-service", metadata=meta, spec=cast(Any, bbr.router_service_spec()), opts=awaited)
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb", metadata=meta, spec=cast(Any, bbr.router_pdb_spec()), opts=child
        )
        self._object(
            f"{name}-extension",
            GKE_POLICY_API,
            "GCPRoutingExtension",
            bbr.BODY_ROUTER,
            labels,
            bbr.routing_extension_spec(),
        )
        self._object(
            f"{name}-health-check",
            GKE_POLICY_API,
            "HealthCheckPolicy",
            bbr.BODY_ROUTER,
            labels,
            bbr.router_health_check_policy_spec(),
        )
