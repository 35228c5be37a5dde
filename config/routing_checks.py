"""Checks of model-aware routing (settings/routing.py): the cluster can run the Inference Gateway, the names clients
send as `model` are unique, and the objects each service's picker adds take no other service's names."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import naming
from config.platform import ClusterConfig
from config.services import ServiceConfig
from runtimes import runtime_of
from settings.gke_versions import INFERENCE_GATEWAY, minor
from settings.problems import Problem

P = "gke-serving"


def check_routing(cluster: ClusterConfig, services: Mapping[str, ServiceConfig]) -> list[Problem]:
    return [
        *_version_floor(cluster, services),
        *_behind_iap(services),
        *_model_names(services),
        *_clashes(services),
    ]


def picked(services: Mapping[str, ServiceConfig]) -> list[str]:
    """The services routed through an InferencePool and its endpoint picker, in the environment's order."""
    return [name for name, service in services.items() if runtime_of(service).picked(service)]


def _version_floor(cluster: ClusterConfig, services: Mapping[str, ServiceConfig]) -> Iterator[Problem]:
    users = picked(services)
    if users and minor(cluster.kubernetes_version) < INFERENCE_GATEWAY.minor:
        yield Problem(
            f"{P}:cluster.kubernetesVersion",
            f"{cluster.kubernetes_version} is below the GKE Inference Gateway's floor {INFERENCE_GATEWAY.version} "
            f"(InferencePool v1 installed with the cluster), which {', '.join(users)} route through",
            f'set kubernetesVersion: "{INFERENCE_GATEWAY.minor_text}" or later, or routing: {{picker: false}} on '
            "those services",
        )


def _behind_iap(services: Mapping[str, ServiceConfig]) -> Iterator[Problem]:
    """A server without a key check of its own (SGLang with auth) is guarded by the gateway's Identity-Aware Proxy
    on its Service's backend. Whether GKE applies a GCPBackendPolicy's IAP to an InferencePool backend was not
    confirmed, and the shared /v1 endpoint would reach the pool too: such a service keeps its plain route."""
    for name, service in services.items():
        runtime = runtime_of(service)
        if runtime.picked(service) and service.auth and runtime.facts_for(service).api_key_env is None:
            yield Problem(
                f"{P}:services.{name}.routing",
                f"{runtime.title} checks no key of its own here, so the gateway's Identity-Aware Proxy guards it, which "
                "is not confirmed to guard an InferencePool (its picker route and the shared /v1 endpoint)",
                "set routing: {picker: false} (IAP keeps guarding its own route), or auth: false on an internal gateway",
            )


def _model_names(services: Mapping[str, ServiceConfig]) -> Iterator[Problem]:
    """Every base-model and adapter name is one model on the shared /v1 endpoint: the body router maps a name to
    one pool, and a name two pools claim would reach either."""
    names: list[tuple[str, tuple[str, str]]] = []
    for name, service in services.items():
        runtime = runtime_of(service)
        served = runtime.served_name(name, service)
        if served is not None:
            key = " (servedModelName)" if getattr(service, "served_model_name", None) else ""
            names.append((served, (f"{P}:services.{name}", f"service {name!r}{key}")))
        for i, adapter in enumerate(runtime.adapters(service)):
            names.append((adapter.name, (f"{P}:services.{name}.adapters.{i}.name", f"an adapter of service {name!r}")))
    for model, owners in naming.duplicates(names).items():
        (_, first), *others = owners
        for path, whose in others:
            yield Problem(
                path,
                f"{whose} serves the model name {model!r}, which {first} already serves: a name is one model",
                "give it a name of its own (servedModelName for a base model, name for an adapter)",
            )


def _clashes(services: Mapping[str, ServiceConfig]) -> Iterator[Problem]:
    """One problem per service that would own an object another service owns (the first clash named)."""
    reported: set[str] = set()
    for (kind, obj), owners in naming.clashes(services).items():
        first, *others = owners
        for service in others:
            if service in reported:
                continue
            reported.add(service)
            yield Problem(
                f"{P}:services.{service}",
                f"the service and service {first!r} would both own the {kind} {obj!r}",
                f"rename the service: names ending in {naming.PICKER_SUFFIX}, {naming.OPENAI_ROUTE_SUFFIX} or "
                f"{naming.MODELS_SUFFIX} are taken by another service's routing objects",
            )
