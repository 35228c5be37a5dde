"""A random API key per service, kept in Secret Manager and in the serving namespace."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
import pulumi_random as random

from workloads.deployment import API_KEY_SECRET_KEY


class ApiKey(pulumi.ComponentResource):
    value: pulumi.Output[str]
    secret_name: str

    def __init__(
        self,
        name: str,
        project: str,
        secret_id: str,
        namespace: pulumi.Input[str],
        labels: dict[str, str],
        gcp_labels: dict[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("gke-serving:workloads:ApiKey", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # 48 alphanumerics (~285 bits); no symbols, so the key survives shells and HTTP headers unquoted.
        password = random.RandomPassword(f"{name}-value", length=48, special=False, opts=child)
        self.value = pulumi.Output.secret(password.result)
        secret = gcp.secretmanager.Secret(
            f"{name}-secret",
            project=project,
            secret_id=secret_id,
            replication={"auto": {}},
            labels=gcp_labels,  # GCP label keys: lowercase letters, digits, `_` and `-` only
            opts=child,
        )
        gcp.secretmanager.SecretVersion(
            f"{name}-version", secret=secret.id, secret_data=self.value, deletion_policy="DISABLE", opts=child
        )
        self.secret_name = name
        k8s.core.v1.Secret(
            f"{name}-k8s",
            metadata={"name": name, "namespace": namespace, "labels": labels},
            type="Opaque",
            string_data={API_KEY_SECRET_KEY: self.value},
            opts=child,
        )
        self.register_outputs({"secretId": secret.secret_id})
