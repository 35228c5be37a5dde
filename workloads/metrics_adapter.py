"""The Custom Metrics Stackdriver Adapter: serves Cloud Monitoring (Managed Prometheus) series to HPAs.

Adapted from GoogleCloudPlatform/k8s-stackdriver
custom-metrics-stackdriver-adapter/deploy/production/adapter_new_resource_model.yaml (commit 0857364),
with the image the GKE LLM-autoscaling tutorial pins (ai-on-gke/tutorials-and-examples
autoscale/stack-driver-adapter.yaml) and a Google service account through Workload Identity instead
of the node's credentials. Manifest bodies are plain functions; the component registers them.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from infra.identity import bind_workload_identity, workload_identity_member

NAMESPACE = "custom-metrics"
NAME = "custom-metrics-stackdriver-adapter"
IMAGE = "gcr.io/gke-release/custom-metrics-stackdriver-adapter:v0.16.1-gke.0"
ARGS = [
    "/adapter",
    # prometheus.googleapis.com series live on the new (k8s_*, prometheus_target) resource model.
    "--use-new-resource-model=true",
    "--fallback-for-container-metrics=true",
]
# The production manifest's requests = limits (cpu 250m, memory 400Mi).
RESOURCES = {"cpu": "250m", "memory": "400Mi"}
PORT = 443
API_SERVICES = (  # (group, version, versionPriority) as the production manifest registers them
    ("custom.metrics.k8s.io", "v1beta1", 100),
    ("custom.metrics.k8s.io", "v1beta2", 200),
    ("external.metrics.k8s.io", "v1beta1", 100),
)
RBAC = "rbac.authorization.k8s.io"


def labels() -> dict[str, str]:
    return {"k8s-app": NAME, "app.kubernetes.io/part-of": "gke-serving", "app.kubernetes.io/managed-by": "pulumi"}


def selector() -> dict[str, str]:
    return {"k8s-app": NAME}


def _subject() -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}


def _role_ref(kind: str, name: str) -> dict[str, str]:
    return {"apiGroup": RBAC, "kind": kind, "name": name}


def cluster_roles() -> dict[str, list[dict[str, Any]]]:
    """ClusterRole name -> rules."""
    return {
        # Reads the pods and nodes a metric's series are attached to.
        "custom-metrics-resource-reader": [
            {"apiGroups": [""], "resources": ["pods", "nodes", "nodes/stats"], "verbs": ["get", "list", "watch"]}
        ],
        "external-metrics-reader": [
            {"apiGroups": ["external.metrics.k8s.io"], "resources": ["*"], "verbs": ["list", "get", "watch"]}
        ],
    }


def cluster_role_bindings() -> dict[str, dict[str, Any]]:
    """ClusterRoleBinding name -> {roleRef, subjects}."""
    return {
        # Lets the adapter, an aggregated API server, delegate authentication and authorisation.
        "custom-metrics:system:auth-delegator": {
            "roleRef": _role_ref("ClusterRole", "system:auth-delegator"),
            "subjects": [_subject()],
        },
        "custom-metrics-resource-reader": {
            "roleRef": _role_ref("ClusterRole", "custom-metrics-resource-reader"),
            "subjects": [_subject()],
        },
        # The HPA controller reads external metrics; custom metrics it may read by default.
        "external-metrics-reader": {
            "roleRef": _role_ref("ClusterRole", "external-metrics-reader"),
            "subjects": [{"kind": "ServiceAccount", "name": "horizontal-pod-autoscaler", "namespace": "kube-system"}],
        },
    }


def auth_reader_binding() -> dict[str, Any]:
    """RoleBinding in kube-system: read the API server's client-CA config to verify its requests."""
    return {"roleRef": _role_ref("Role", "extension-apiserver-authentication-reader"), "subjects": [_subject()]}


def deployment_spec() -> dict[str, Any]:
    return {
        "replicas": 1,
        "selector": {"matchLabels": selector()},
        "template": {
            "metadata": {"labels": labels()},
            "spec": {
                "serviceAccountName": NAME,
                "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [
                    {
                        "name": "pod-custom-metrics-stackdriver-adapter",
                        "image": IMAGE,
                        "command": ARGS,
                        "ports": [{"name": "https", "containerPort": PORT, "protocol": "TCP"}],
                        "resources": {"requests": dict(RESOURCES), "limits": dict(RESOURCES)},
                        # Every capability dropped but the one binding :443 needs (the upstream
                        # manifest's port, which the APIServices reach through the Service).
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
                        },
                    }
                ],
            },
        },
    }


def service_spec() -> dict[str, Any]:
    return {
        "type": "ClusterIP",
        "selector": selector(),
        "ports": [{"port": PORT, "targetPort": PORT, "protocol": "TCP"}],
    }


def api_service_specs() -> dict[str, dict[str, Any]]:
    """APIService name -> spec: the metrics API groups the aggregator forwards to the adapter."""
    return {
        f"{version}.{group}": {
            "group": group,
            "version": version,
            "groupPriorityMinimum": 100,
            "versionPriority": priority,
            # The adapter serves a self-signed certificate, as in the upstream manifest.
            "insecureSkipTLSVerify": True,
            "service": {"name": NAME, "namespace": NAMESPACE},
        }
        for group, version, priority in API_SERVICES
    }


def account_id(name_prefix: str) -> str:
    """A service-account id (6-30 characters, no trailing hyphen) unique per environment."""
    return f"{name_prefix}-metrics"[:30].rstrip("-")


class CustomMetricsAdapter(pulumi.ComponentResource):
    def __init__(self, name: str, project: str, name_prefix: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gke-serving:workloads:CustomMetricsAdapter", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        account = gcp.serviceaccount.Account(
            f"{name}-gsa",
            project=project,
            account_id=account_id(name_prefix),
            display_name="Custom Metrics Stackdriver Adapter (reads Cloud Monitoring)",
            opts=child,
        )
        gcp.projects.IAMMember(
            f"{name}-monitoring-viewer",
            project=project,
            role="roles/monitoring.viewer",
            member=account.email.apply(lambda e: f"serviceAccount:{e}"),
            opts=child,
        )
        bind_workload_identity(name, account, workload_identity_member(project, NAMESPACE, NAME), child)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={"name": NAMESPACE, "labels": {**labels(), "pod-security.kubernetes.io/enforce": "baseline"}},
            opts=child,
        )
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        meta = {"name": NAME, "namespace": NAMESPACE, "labels": labels()}
        k8s.core.v1.ServiceAccount(
            f"{name}-ksa",
            metadata={**meta, "annotations": {"iam.gke.io/gcp-service-account": account.email}},
            opts=in_namespace,
        )
        for role, rules in cluster_roles().items():
            k8s.rbac.v1.ClusterRole(
                f"{name}-{role}-role", metadata={"name": role, "labels": labels()}, rules=rules, opts=child
            )
        for binding, body in cluster_role_bindings().items():
            k8s.rbac.v1.ClusterRoleBinding(
                f"{name}-{binding.replace(':', '-')}",
                metadata={"name": binding, "labels": labels()},
                role_ref=body["roleRef"],
                subjects=body["subjects"],
                opts=child,
            )
        reader = auth_reader_binding()
        k8s.rbac.v1.RoleBinding(
            f"{name}-auth-reader",
            metadata={"name": "custom-metrics-auth-reader", "namespace": "kube-system", "labels": labels()},
            role_ref=reader["roleRef"],
            subjects=reader["subjects"],
            opts=child,
        )
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment", metadata=meta, spec=deployment_spec(), opts=in_namespace
        )
        service = k8s.core.v1.Service(f"{name}-service", metadata=meta, spec=service_spec(), opts=in_namespace)
        self.api_services = [
            k8s.apiregistration.v1.APIService(
                f"{name}-{api.replace('.', '-')}",
                metadata={"name": api, "labels": labels()},
                spec=spec,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[deployment, service]),
            )
            for api, spec in api_service_specs().items()
        ]
        self.register_outputs({"serviceAccount": account.email})
