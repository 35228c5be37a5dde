"""The Custom Metrics Stackdriver Adapter: serves Cloud Monitoring (Managed Prometheus) series to HPAs.

Adapted from GoogleCloudPlatform/k8s-stackdriver
custom-metrics-stackdriver-adapter/deploy/production/adapter_new_resource_model.yaml (commit 0857364),
with the image the GKE LLM-autoscaling tutorial pins (ai-on-gke/tutorials-and-examples
autoscale/stack-driver-adapter.yaml) and a Google service account through Workload Identity instead
of the node's credentials. Manifest bodies are plain functions; the component registers them.

Hardened beyond upstream (which runs one root replica on :443 with a writable root filesystem):
non-root on a high port, read-only root with an emptyDir for the serving certificate, probes on the
generic API server's /livez and /readyz, two replicas with a PodDisruptionBudget, and RBAC cut to
what the custom-metrics provider calls (the HPAs use Pods metrics only, so no external metrics API).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

import naming
from infra.identity import WorkloadIdentityArgs, workload_identity
from workloads.deployment import nonroot_security, spread
from workloads.probes import await_timeouts

NAMESPACE = "custom-metrics"
NAME = "custom-metrics-stackdriver-adapter"
IMAGE = "gcr.io/gke-release/custom-metrics-stackdriver-adapter:v0.16.1-gke.0"
# k8s.io/apiserver SecureServingOptions: --secure-port defaults to 443 (root or NET_BIND_SERVICE);
# any port above 1023 binds as an ordinary user. The Service keeps 443, where the APIServices call.
PORT = 6443
SERVICE_PORT = 443
# Without --tls-cert-file the adapter writes a self-signed pair to --cert-dir, by default
# apiserver.local.config/certificates under the working directory (/), which is read-only here:
# an emptyDir instead, the only path the adapter writes (klog logs to stderr).
CERT_DIR = "/var/run/serving-cert"
CERT_VOLUME = "serving-cert"
ARGS = [
    "/adapter",
    # prometheus.googleapis.com series live on the new (k8s_*, prometheus_target) resource model.
    "--use-new-resource-model=true",
    "--fallback-for-container-metrics=true",
    # Every HPA here scales on a Pods metric (custom.metrics.k8s.io); nothing reads external metrics.
    "--enable-external-metrics-api=false",
    f"--secure-port={PORT}",
    f"--cert-dir={CERT_DIR}",
]
# The production manifest's requests = limits (cpu 250m, memory 400Mi).
RESOURCES = {"cpu": "250m", "memory": "400Mi"}
# The image is a static Go binary on gcr.io/distroless/static (the adapter's Dockerfile), whose
# default user is root; 65532 is distroless's own "nonroot" user, and the binary writes only CERT_DIR.
RUN_AS = 65532
# Two replicas: the aggregated API is on every HPA's path, so one pod's restart must not stop scaling.
REPLICAS = 2
STARTUP_SECONDS = 120  # [estimate] a Go binary that serves once it has read the API server's CA
PROBE_PERIOD_SECONDS = 10
API_SERVICES = (  # (group, version, versionPriority) as the production manifest registers them
    ("custom.metrics.k8s.io", "v1beta1", 100),
    ("custom.metrics.k8s.io", "v1beta2", 200),
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
        # Reads the pods and nodes a metric's series are attached to: the provider gets and lists them
        # (pkg/adapter/provider/provider.go); watch and nodes/stats serve only the core-metrics API,
        # which is off (--enable-core-metrics-api defaults to false).
        "custom-metrics-resource-reader": [
            {"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["get", "list"]}
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
    }


def auth_reader_binding() -> dict[str, Any]:
    """RoleBinding in kube-system: read the API server's client-CA config to verify its requests."""
    return {"roleRef": _role_ref("Role", "extension-apiserver-authentication-reader"), "subjects": [_subject()]}


def _probe(path: str, failures: int) -> dict[str, Any]:
    # k8s.io/apiserver's delegating authorizer always allows /healthz, /livez and /readyz, so the
    # kubelet's anonymous HTTPS request is answered without a SubjectAccessReview.
    return {
        "httpGet": {"path": path, "port": "https", "scheme": "HTTPS"},
        "periodSeconds": PROBE_PERIOD_SECONDS,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def probes() -> dict[str, dict[str, Any]]:
    """/livez: the process serves; /readyz: its post-start hooks ran and it is not shutting down."""
    return {
        "startupProbe": _probe("/livez", STARTUP_SECONDS // PROBE_PERIOD_SECONDS),
        "livenessProbe": _probe("/livez", 3),
        "readinessProbe": _probe("/readyz", 3),
    }


def deployment_spec() -> dict[str, Any]:
    return {
        "replicas": REPLICAS,
        "selector": {"matchLabels": selector()},
        # One new pod before an old one goes: the API never drops below the replicas it had.
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": {
            "metadata": {"labels": labels()},
            "spec": {
                "serviceAccountName": NAME,
                "securityContext": nonroot_security(RUN_AS),
                # Replicas on different nodes when there are several; a one-node system pool still
                # runs both (ScheduleAnyway) rather than leaving one pending until the pool grows.
                "topologySpreadConstraints": spread(selector()),
                "containers": [
                    {
                        "name": "pod-custom-metrics-stackdriver-adapter",
                        "image": IMAGE,
                        "command": ARGS,
                        "ports": [{"name": "https", "containerPort": PORT, "protocol": "TCP"}],
                        "resources": {"requests": dict(RESOURCES), "limits": dict(RESOURCES)},
                        **probes(),
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True,
                            "capabilities": {"drop": ["ALL"]},
                        },
                        "volumeMounts": [{"name": CERT_VOLUME, "mountPath": CERT_DIR}],
                    }
                ],
                # A certificate and key of a few KiB.
                "volumes": [{"name": CERT_VOLUME, "emptyDir": {"sizeLimit": "16Mi"}}],
            },
        },
    }


def pod_disruption_budget_spec() -> dict[str, Any]:
    """A node drain takes one replica at a time, so the metrics API stays up through upgrades."""
    return {"maxUnavailable": 1, "selector": {"matchLabels": selector()}}


def service_spec() -> dict[str, Any]:
    return {
        "type": "ClusterIP",
        "selector": selector(),
        "ports": [{"name": "https", "port": SERVICE_PORT, "targetPort": "https", "protocol": "TCP"}],
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
    return naming.metrics_account_id(name_prefix)


@dataclass(frozen=True)
class CustomMetricsAdapterArgs:
    project: str
    name_prefix: str  # GCP names start with it: the cluster's name


class CustomMetricsAdapter(pulumi.ComponentResource):
    def __init__(self, name: str, args: CustomMetricsAdapterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gke-serving:workloads:CustomMetricsAdapter", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            # The adapter's pod meets the restricted Pod Security Standard: enforce it.
            metadata={"name": NAMESPACE, "labels": {**labels(), "pod-security.kubernetes.io/enforce": "restricted"}},
            opts=child,
        )
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        identity = workload_identity(
            name,
            WorkloadIdentityArgs(
                project=args.project,
                account_id=account_id(args.name_prefix),
                display_name="Custom Metrics Stackdriver Adapter (reads Cloud Monitoring)",
                namespace=NAMESPACE,
                ksa=NAME,
                labels=labels(),
                mounts_token=True,  # the adapter serves an aggregated API: it calls the API server
            ),
            child,
            ksa_opts=in_namespace,
        )
        gcp.projects.IAMMember(
            f"{name}-monitoring-viewer",
            project=args.project,
            role="roles/monitoring.viewer",
            member=identity.member,
            opts=child,
        )
        # Awaited like the model servers: a system node, a small image and a start of seconds.
        awaited = in_namespace.merge(
            pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(**await_timeouts(STARTUP_SECONDS, REPLICAS)))
        )
        meta = {"name": NAME, "namespace": NAMESPACE, "labels": labels()}
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
        deployment = k8s.apps.v1.Deployment(f"{name}-deployment", metadata=meta, spec=deployment_spec(), opts=awaited)
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb", metadata=meta, spec=pod_disruption_budget_spec(), opts=in_namespace
        )
        service = k8s.core.v1.Service(f"{name}-service", metadata=meta, spec=service_spec(), opts=awaited)
        self.api_services = [
            k8s.apiregistration.v1.APIService(
                f"{name}-{api.replace('.', '-')}",
                metadata={"name": api, "labels": labels()},
                spec=spec,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[deployment, service]),
            )
            for api, spec in api_service_specs().items()
        ]
        self.register_outputs({"serviceAccount": identity.account.email})
