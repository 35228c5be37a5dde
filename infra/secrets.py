"""The Hugging Face token: one Secret Manager secret, mirrored into the serving namespace."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

import naming

HF_TOKEN_KEY = "HF_TOKEN"  # noqa: S105 (a name, not a secret)
HF_TOKEN_SECRET_NAME = naming.HF_TOKEN_SECRET  # the Kubernetes Secret the model servers read HF_TOKEN from


class HfToken(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        project: str,
        secret_id: str,
        token: pulumi.Output[str],  # a secret Output
        namespace: pulumi.Input[str],
        provider: k8s.Provider,
        labels: dict[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("gke-serving:infra:HfToken", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        secret = gcp.secretmanager.Secret(
            f"{name}-secret", project=project, secret_id=secret_id, labels=labels, replication={"auto": {}}, opts=child
        )
        gcp.secretmanager.SecretVersion(
            f"{name}-version",
            secret=secret.id,
            secret_data=token,
            # Keep the previous version disabled rather than destroyed, so a bad rotation can be undone.
            deletion_policy="DISABLE",
            opts=child,
        )
        k8s.core.v1.Secret(
            f"{name}-k8s",
            metadata={
                "name": HF_TOKEN_SECRET_NAME,
                "namespace": namespace,
                "labels": {"app.kubernetes.io/part-of": "gke-serving"},
            },
            type="Opaque",
            string_data={HF_TOKEN_KEY: token},
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        self.register_outputs({"secretId": secret.secret_id})
