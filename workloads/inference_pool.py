"""A picker-routed service's InferencePool and its endpoint picker, as plain manifest data (pure).

The GKE Inference Gateway sends each request for the pool to the endpoint picker (ext-proc over gRPC), which
answers with the pod to use, ranked by its scorers over the pods' own metrics (queue, KV cache, cached prefixes,
loaded adapters). The picker is llm-d-router's (llm-d/llm-d-router v0.10.0; GAIE v1.6.0 keeps only a light
reference picker without leader election). Flags, ports and RBAC below are that tag's chart
(config/charts/routerlib/templates/, llm-d-router-gateway/templates/rbac.yaml) and its pkg/epp/server/options.go.
"""

from __future__ import annotations

from typing import Any

import yaml

import naming
from settings.routing import Routing, ScorerWeights
from workloads.deployment import nonroot_security, selector, spread
from workloads.server import ServerSpec

POOL_API = "inference.networking.k8s.io/v1"
POOL_GROUP = "inference.networking.k8s.io"
PICKER_CONFIG_API = "llm-d.ai/v1alpha1"
# Tags are built and pushed to ghcr.io by the repository's ci-release.yaml on each v* tag.
PICKER_IMAGE = "ghcr.io/llm-d/llm-d-router-endpoint-picker:v0.10.0"
EXT_PROC_PORT = 9002  # the load balancer's ext-proc callout
HEALTH_PORT = 9003  # gRPC health: the kubelet's probes and GKE's health check of the picker (its default port)
METRICS_PORT = 9090
CONFIG_DIR = "/config"
CONFIG_FILE = "endpoint-picker.yaml"
RUN_AS = 65532  # Dockerfile.epp: USER 65532:65532 (distroless nonroot)
STARTUP_SECONDS = 120  # [estimate] a Go binary that is ready once it has listed its pool's pods
# [estimate] The chart's requests (8 CPU, 8Gi, limit 16Gi) are for fleets of 100+ pods with its tokenizer sidecar.
# Here a picker ranks at most a few pods per request and keeps an approximate prefix index for them; half a core
# and 512Mi leave room on a system node (e2/n2-standard-4: ~3.4 CPU, ~12 GiB allocatable) for the metrics adapter
# and the mirror Jobs. No CPU limit: a burst of requests may borrow idle CPU rather than queue at the gateway.
PICKER_REQUESTS = {"cpu": "500m", "memory": "512Mi"}
PICKER_MEMORY_LIMIT = "1Gi"
VERBOSE = 3  # the picker logs "Request handled ... endpoint=<pod ip:port>" at this level (requestcontrol/director.go)
TMP_MIB = 64


def picker_labels(service: str) -> dict[str, str]:
    return {
        **selector(naming.picker_name(service)),
        "app.kubernetes.io/component": "endpoint-picker",
        "app.kubernetes.io/part-of": "gke-serving",
        "app.kubernetes.io/managed-by": "pulumi",
        "gke-serving/service": service,
    }


def pool_ref(service: str) -> dict[str, str]:
    """An InferencePool as a route's backend or a policy's target."""
    return {"group": POOL_GROUP, "kind": "InferencePool", "name": service}


def inference_pool_spec(service: str, spec: ServerSpec, routing: Routing) -> dict[str, Any]:
    """The service's pods (its Deployment's selector) on the server's port, picked by the service's picker."""
    return {
        "selector": {"matchLabels": selector(service)},
        "targetPorts": [{"number": spec.port}],
        "endpointPickerRef": {
            "group": "",
            "kind": "Service",
            "name": naming.picker_name(service),
            "port": {"number": EXT_PROC_PORT},
            "failureMode": routing.failure_mode,
        },
    }


def picker_config(engine: str, weights: ScorerWeights, metrics_path: str, lora_affinity: bool) -> dict[str, Any]:
    """The picker's EndpointPickerConfig: the chart's plugins, each scorer with its weight (a 0 weight leaves
    the scorer out), the LoRA-affinity scorer where the pool serves adapters the picker sees loaded. The
    extractor's default engine is the pool's (a pod's llm-d.ai/engine-type label says the same)."""
    scorers = {
        "queue-scorer": weights.queue,
        "kv-cache-utilization-scorer": weights.kv_cache_utilization,
        "prefix-cache-scorer": weights.prefix_cache,
    }
    if lora_affinity:
        scorers["lora-affinity-scorer"] = weights.lora_affinity
    weighted = {name: weight for name, weight in scorers.items() if weight > 0}
    extractor = {"type": "core-metrics-extractor", "parameters": {"defaultEngine": engine}}
    return {
        "apiVersion": PICKER_CONFIG_API,
        "kind": "EndpointPickerConfig",
        "plugins": [
            *({"type": name} for name in weighted),
            {"type": "metrics-data-source", "parameters": {"scheme": "http", "path": metrics_path}},
            extractor,
        ],
        "schedulingProfiles": [
            {
                "name": "default",
                "plugins": [{"pluginRef": name, "weight": weight} for name, weight in weighted.items()],
            }
        ],
    }


def picker_config_data(config: dict[str, Any]) -> dict[str, str]:
    """The ConfigMap's data: the config as the YAML file the picker's --config-file names."""
    return {CONFIG_FILE: yaml.safe_dump(config, sort_keys=False)}


def picker_args(service: str, namespace: str, routing: Routing) -> list[str]:
    """--pool-namespace always: without it the picker reads the NAMESPACE variable and else "default"
    (options.go DefaultPoolNamespace). Tracing off (no collector), metrics without the API server's token review
    (its RBAC would be cluster-wide; the network policy admits only the Managed Prometheus collectors), no pprof.
    Every flag is registered at llm-d-router v0.10.0 (pkg/epp/server/options.go; --zap-encoder and --v in
    pkg/common/observability/logging/options.go): read, the Go binary not run here."""
    args = [
        f"--pool-name={service}",
        f"--pool-namespace={namespace}",
        f"--pool-group={POOL_GROUP}",
        f"--config-file={CONFIG_DIR}/{CONFIG_FILE}",
        f"--grpc-port={EXT_PROC_PORT}",
        f"--grpc-health-port={HEALTH_PORT}",
        f"--metrics-port={METRICS_PORT}",
        "--zap-encoder=json",
        "--tracing=false",
        "--metrics-endpoint-auth=false",
        "--enable-pprof=false",
    ]
    if electing(routing):
        # Only the leader answers (its readiness passes); the others keep their view warm to take over.
        args.append("--ha-enable-leader-election")
    if routing.log_requests:
        args.append(f"--v={VERBOSE}")
    return args


def electing(routing: Routing) -> bool:
    return routing.picker_replicas > 1


def picker_annotations(routing: Routing) -> dict[str, str]:
    """Electing pickers: only the leader is ever ready, so the Deployment never has all its replicas available,
    which is what pulumi-kubernetes waits for; `pulumi up` does not wait for it then (the leader's readiness
    is the InferencePool's concern, and the pool fails open meanwhile by default)."""
    return {"pulumi.com/skipAwait": "true"} if electing(routing) else {}


def picker_strategy(routing: Routing) -> dict[str, Any]:
    """One picker: the new one starts and is ready before the old one stops, so the pool never falls back to its
    failure mode for a rollout. Electing pickers: the chart's Recreate, as a rolling update would keep the old
    leader, holding the lease, until the new pods are ready, which only the leader becomes."""
    if electing(routing):
        return {"type": "Recreate"}
    return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def _grpc_probe(check: str, period: int) -> dict[str, Any]:
    return {"grpc": {"port": HEALTH_PORT, "service": check}, "periodSeconds": period}


def picker_deployment_spec(
    service: str, namespace: str, routing: Routing, config_hash: str, grace_seconds: int
) -> dict[str, Any]:
    """`config_hash` (of the ConfigMap's data) in the pod template: a new config rolls the picker, which reads
    its file once. `grace_seconds`: as long as the pool's servers take to stop; the picker's streams last as long
    as the requests it routes (llm-d-router's chart: "mirror the longest grace period of the pods within the pool")."""
    name = naming.picker_name(service)
    # One replica answers: the chart's probes check "inference-extension"; with leader election, "liveness"
    # and "readiness" (only the leader is ready).
    live, ready = ("liveness", "readiness") if electing(routing) else ("inference-extension", "inference-extension")
    return {
        "replicas": routing.picker_replicas,
        "selector": {"matchLabels": selector(name)},
        "revisionHistoryLimit": 3,
        "strategy": picker_strategy(routing),
        "template": {
            "metadata": {"labels": picker_labels(service), "annotations": {"gke-serving/config-hash": config_hash}},
            "spec": {
                "serviceAccountName": name,
                # The system pool's CPU nodes: the picker needs no GPU, and GPU nodes are tainted for servers.
                "nodeSelector": {"cloud.google.com/gke-nodepool": naming.SYSTEM_POOL},
                "securityContext": nonroot_security(RUN_AS),
                "terminationGracePeriodSeconds": grace_seconds,
                "topologySpreadConstraints": spread(selector(name)),
                "containers": [
                    {
                        "name": "epp",
                        "image": PICKER_IMAGE,
                        "args": picker_args(service, namespace, routing),
                        "env": [
                            {"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        ],
                        "ports": [
                            {"name": "grpc", "containerPort": EXT_PROC_PORT, "protocol": "TCP"},
                            {"name": "grpc-health", "containerPort": HEALTH_PORT, "protocol": "TCP"},
                            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
                        ],
                        "resources": {
                            "requests": dict(PICKER_REQUESTS),
                            "limits": {"memory": PICKER_MEMORY_LIMIT},
                        },
                        "livenessProbe": {**_grpc_probe(live, 10), "initialDelaySeconds": 5},
                        "readinessProbe": _grpc_probe(ready, 2),
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True,
                            "capabilities": {"drop": ["ALL"]},
                        },
                        "volumeMounts": [
                            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 (a volume, not a temp file)
                        ],
                    }
                ],
                "volumes": [
                    {"name": "config", "configMap": {"name": name}},
                    {"name": "tmp", "emptyDir": {"sizeLimit": f"{TMP_MIB}Mi"}},
                ],
            },
        },
    }


def picker_service_spec(service: str) -> dict[str, Any]:
    """ext-proc for the load balancer (HTTP/2 cleartext framing, as the chart declares it) and the metrics."""
    return {
        "type": "ClusterIP",
        "selector": selector(naming.picker_name(service)),
        "ports": [
            {
                "name": "grpc-ext-proc",
                "port": EXT_PROC_PORT,
                "targetPort": "grpc",
                "protocol": "TCP",
                "appProtocol": "kubernetes.io/h2c",
            },
            {"name": "http-metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"},
        ],
    }


def picker_role_rules(routing: Routing) -> list[dict[str, Any]]:
    """What the picker reads: its pool, the pool's pods and any InferenceObjective (it watches the llm-d.ai group
    when the CRD is installed); the lease and its events when it elects a leader. Nothing cluster-wide."""
    read = ["get", "list", "watch"]
    rules: list[dict[str, Any]] = [
        {"apiGroups": [""], "resources": ["pods"], "verbs": read},
        {"apiGroups": [POOL_GROUP], "resources": ["inferencepools"], "verbs": read},
        {"apiGroups": ["llm-d.ai"], "resources": ["inferenceobjectives"], "verbs": read},
    ]
    if electing(routing):
        rules += [
            {
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
            },
            {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
        ]
    return rules


def picker_role_binding(service: str, namespace: str) -> dict[str, Any]:
    """{roleRef, subjects}: the picker's service account gets its Role."""
    name = naming.picker_name(service)
    return {
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
    }


def picker_pdb_spec(service: str) -> dict[str, Any]:
    """A drain evicts one picker at a time; with one replica the pool falls back to its failure mode meanwhile."""
    return {"maxUnavailable": 1, "selector": {"matchLabels": selector(naming.picker_name(service))}}


def picker_monitoring_spec(service: str) -> dict[str, Any]:
    """The picker's own metrics (pool queue and KV-cache averages, scheduling latency) into Managed Prometheus."""
    return {
        "selector": {"matchLabels": selector(naming.picker_name(service))},
        "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "15s"}],
    }
