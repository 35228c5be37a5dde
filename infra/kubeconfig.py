"""An explicit Kubernetes provider for the cluster, authenticated by gke-gcloud-auth-plugin."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
import yaml


def render_kubeconfig(name: str, server: str, ca_certificate: str | None) -> str:
    """A kubeconfig whose user execs gke-gcloud-auth-plugin: no long-lived credential in state."""
    cluster: dict[str, Any] = {"server": server}
    if ca_certificate:
        cluster["certificate-authority-data"] = ca_certificate
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": cluster}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
            "users": [
                {
                    "name": name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "gke-gcloud-auth-plugin",
                            "provideClusterInfo": True,
                            "installHint": "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin",
                        }
                    },
                }
            ],
        },
        sort_keys=False,
    )


def _field(obj: Any, *path: str) -> Any:
    # Nested outputs arrive as typed objects (snake_case attributes) or, under some engines, as dicts.
    for key in path:
        if obj is None:
            return None
        obj = obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)
    return obj


def kubeconfig_for(cluster: gcp.container.Cluster, use_dns_endpoint: bool) -> pulumi.Output[str]:
    def render(args: list[Any]) -> str:
        name, endpoint, master_auth, endpoints = args
        if use_dns_endpoint:
            # The DNS endpoint serves a publicly trusted certificate; no CA bundle is needed.
            dns = _field(endpoints, "dns_endpoint_config", "endpoint")
            return render_kubeconfig(name, f"https://{dns}", None)
        return render_kubeconfig(name, f"https://{endpoint}", _field(master_auth, "cluster_ca_certificate"))

    return pulumi.Output.all(
        cluster.name, cluster.endpoint, cluster.master_auth, cluster.control_plane_endpoints_config
    ).apply(render)


def kubernetes_provider(
    name: str, cluster: gcp.container.Cluster, use_dns_endpoint: bool, opts: pulumi.ResourceOptions
) -> k8s.Provider:
    return k8s.Provider(
        name,
        kubeconfig=kubeconfig_for(cluster, use_dns_endpoint),
        # Replace the provider only when the cluster itself is replaced, not when the kubeconfig text changes.
        cluster_identifier=cluster.id,
        opts=opts,
    )
