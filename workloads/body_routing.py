"""The shared OpenAI endpoint: `/v1/...` on the gateway, routed by the body's `model` to the pool serving it.

GKE calls the body-based router (a GCPRoutingExtension on the Gateway) with each request; the router copies
`model` into the header X-Gateway-Model-Name and the base model serving it (the model itself, or an adapter's base,
from the ConfigMaps labelled bbr-managed) into X-Gateway-Base-Model-Name, and each pool's route matches that header.
Pure manifest data; workloads/inference_routing.py registers it.

Image: GAIE v1.5.0's body-based router (kubernetes-sigs/gateway-api-inference-extension, config/charts/
body-based-routing), the last release before body-based routing moved to llm-d-inference-payload-processor, whose
images were not read here: v1.5.0's flags, ports, ConfigMap format and GKE template are the ones checked below.
"""

from __future__ import annotations

from typing import Any

import yaml

import naming
from workloads.deployment import nonroot_security, selector, spread
from workloads.gateway import GATEWAY_NAME, LISTENER

BODY_ROUTER = naming.BODY_ROUTER
BODY_ROUTER_IMAGE = "registry.k8s.io/gateway-api-inference-extension/bbr:v1.5.0"
GRPC_PORT = 9004  # pkg/bbr/server/options.go DefaultGrpcPort
HEALTH_PORT = 9005  # DefaultGrpcHealthPort
RUN_AS = 65532  # bbr.Dockerfile: gcr.io/distroless/static:nonroot
STARTUP_SECONDS = 60  # [estimate] a Go binary that is ready once it has listed the models' ConfigMaps
REPLICAS = 2  # every request on the gateway passes through it: one pod's restart must not fail requests
# [estimate] a JSON parse and a map lookup per request; the chart sets no resources.
REQUESTS = {"cpu": "250m", "memory": "256Mi"}
MEMORY_LIMIT = "512Mi"
MANAGED_LABEL = "inference.networking.k8s.io/bbr-managed"  # basemodelextractor/configmap_reconciler.go
BASE_MODEL_HEADER = "X-Gateway-Base-Model-Name"  # basemodelextractor/base_model_to_header.go
# GKE's GCPRoutingExtension schema caps `timeout` at 10 s; the chart's 1 s is what a JSON parse needs.
EXTENSION_TIMEOUT = "1s"
# FullDuplexStreamed hands the body over in chunks as it arrives; GKE's schema then wants RequestBody and
# RequestTrailers among the events.
EXTENSION_EVENTS = ("RequestHeaders", "RequestBody", "RequestTrailers")
SHARED_PREFIX = "/v1/"
# No body, so no `model`: the router sets no base-model header and no pool route matches it. Each service lists
# its models on its own path.
BODYLESS_PATHS = frozenset({"/v1/models"})


def labels() -> dict[str, str]:
    return {
        **selector(BODY_ROUTER),
        "app.kubernetes.io/component": "body-based-router",
        "app.kubernetes.io/part-of": "gke-serving",
        "app.kubernetes.io/managed-by": "pulumi",
    }


def shared_paths(served_paths: tuple[str, ...]) -> list[str]:
    """The server's client paths the shared endpoint routes: the /v1 ones whose body names a model."""
    return [p for p in served_paths if p.startswith(SHARED_PREFIX) and p not in BODYLESS_PATHS]


def shared_route_spec(service: str, base_model: str, served_paths: tuple[str, ...]) -> dict[str, Any]:
    """`/v1/<path>` whose body names the service's base model or one of its adapters reaches the service's pool,
    path unchanged. Admin paths are never matched: only the server's client API, each path exactly."""
    header = [{"type": "Exact", "name": BASE_MODEL_HEADER, "value": base_model}]
    return {
        "parentRefs": [{"name": GATEWAY_NAME, "sectionName": LISTENER}],
        "rules": [
            {
                "matches": [
                    {"path": {"type": "Exact", "value": path}, "headers": header} for path in shared_paths(served_paths)
                ],
                "backendRefs": [{"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": service}],
            }
        ],
    }


def models_config_data(base_model: str, adapters: tuple[str, ...]) -> dict[str, str]:
    """The router's ConfigMap data for one pool (config/manifests/bbr/configmap.yaml): its base model and, as a
    YAML list, the adapters it serves on it."""
    data = {"baseModel": base_model}
    if adapters:
        data["adapters"] = yaml.safe_dump(list(adapters))
    return data


def models_config_labels(service: str) -> dict[str, str]:
    return {
        MANAGED_LABEL: "true",
        "app.kubernetes.io/component": "body-based-router",
        "app.kubernetes.io/part-of": "gke-serving",
        "app.kubernetes.io/managed-by": "pulumi",
        "gke-serving/service": service,
    }


def router_args() -> list[str]:
    """--streaming for GKE's full-duplex body mode (the chart's only flag); its default plugins are the model
    extractor and the base-model mapper. Tracing off (no collector), metrics without a token review, no pprof.
    Every flag is registered in GAIE v1.5.0 pkg/bbr/server/options.go (read; the Go binary was not run here)."""
    return [
        "--streaming",
        f"--grpc-port={GRPC_PORT}",
        f"--grpc-health-port={HEALTH_PORT}",
        "--tracing=false",
        "--metrics-endpoint-auth=false",
        "--enable-pprof=false",
    ]


def _grpc_probe(period: int) -> dict[str, Any]:
    return {"grpc": {"port": HEALTH_PORT}, "periodSeconds": period}


def router_deployment_spec() -> dict[str, Any]:
    return {
        "replicas": REPLICAS,
        "selector": {"matchLabels": selector(BODY_ROUTER)},
        "revisionHistoryLimit": 3,
        "template": {
            "metadata": {"labels": labels()},
            "spec": {
                "serviceAccountName": BODY_ROUTER,
                "nodeSelector": {"cloud.google.com/gke-nodepool": naming.SYSTEM_POOL},
                "securityContext": nonroot_security(RUN_AS),
                "topologySpreadConstraints": spread(selector(BODY_ROUTER)),
                "containers": [
                    {
                        "name": "bbr",
                        "image": BODY_ROUTER_IMAGE,
                        "args": router_args(),
                        # Its ConfigMap cache then watches this namespace only, which is all its Role grants.
                        "env": [{"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
                        "ports": [
                            {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
                            {"name": "grpc-health", "containerPort": HEALTH_PORT, "protocol": "TCP"},
                        ],
                        "resources": {"requests": dict(REQUESTS), "limits": {"memory": MEMORY_LIMIT}},
                        "livenessProbe": {**_grpc_probe(10), "initialDelaySeconds": 5},
                        "readinessProbe": _grpc_probe(5),
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }
                ],
            },
        },
    }


def router_service_spec() -> dict[str, Any]:
    return {
        "type": "ClusterIP",
        "selector": selector(BODY_ROUTER),
        "ports": [{"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "protocol": "TCP", "appProtocol": "HTTP2"}],
    }


def router_role_rules() -> list[dict[str, Any]]:
    """The router reads the models' ConfigMaps of its own namespace, nothing else."""
    return [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]


def router_role_binding(namespace: str) -> dict[str, Any]:
    return {
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": BODY_ROUTER},
        "subjects": [{"kind": "ServiceAccount", "name": BODY_ROUTER, "namespace": namespace}],
    }


def router_pdb_spec() -> dict[str, Any]:
    return {"maxUnavailable": 1, "selector": {"matchLabels": selector(BODY_ROUTER)}}


def routing_extension_spec() -> dict[str, Any]:
    """The router as a route extension of the Gateway (the chart's gke.yaml)."""
    return {
        "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": GATEWAY_NAME}],
        "extensionChains": [
            {
                "name": "model-routing",
                # Only the shared endpoint's requests pass the router: it refuses bodies that are not JSON, and a
                # service's own paths (/<service>/...) need no model lookup. request.path: Service Extensions' CEL
                # matcher attributes (cloud.google.com/service-extensions/docs/cel-matcher-language-reference).
                "matchCondition": {"celExpressions": [{"celMatcher": f"request.path.startsWith('{SHARED_PREFIX}')"}]},
                "extensions": [
                    {
                        "name": BODY_ROUTER,
                        # GKE wants an authority with a backendRef; the router ignores it.
                        "authority": BODY_ROUTER,
                        "timeout": EXTENSION_TIMEOUT,
                        "supportedEvents": list(EXTENSION_EVENTS),
                        "requestBodySendMode": "FullDuplexStreamed",
                        "backendRef": {"group": "", "kind": "Service", "name": BODY_ROUTER, "port": GRPC_PORT},
                    }
                ],
            }
        ],
    }


def router_health_check_policy_spec() -> dict[str, Any]:
    """GKE checks the router over gRPC health on its own port (the chart's gke.yaml)."""
    return {
        "targetRef": {"group": "", "kind": "Service", "name": BODY_ROUTER},
        "default": {
            "config": {
                "type": "GRPC",
                "grpcHealthCheck": {"portSpecification": "USE_FIXED_PORT", "port": HEALTH_PORT},
            }
        },
    }
