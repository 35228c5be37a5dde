"""Secrets kept in Secret Manager and mirrored into a Kubernetes Secret: one builder, used by the
Hugging Face token here and by each service's API key (workloads/api_key.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

import naming

HF_TOKEN_KEY = "HF_TOKEN"  # noqa: S105 (a name, not a secret)
HF_TOKEN_SECRET_NAME = naming.HF_TOKEN_SECRET  # the Kubernetes Secret the model servers read HF_TOKEN from


@dataclass(frozen=True)
class MirroredSecretArgs:
    """Where a secret is kept: the arguments every mirrored secret's component has."""

    project: str
    secret_id: str  # the Secret Manager secret's id
    gcp_labels: Mapping[str, str]  # GCP label keys: lowercase letters, digits, `_` and `-` only
    namespace: pulumi.Input[str]  # where its Kubernetes Secret lives


@dataclass(frozen=True)
class KubernetesSecret:
    name: str
    labels: Mapping[str, str]
    key: str  # the Secret's one key, which the pods read


def mirrored_secret(
    name: str,
    args: MirroredSecretArgs,
    value: pulumi.Output[str],
    k8s_secret: KubernetesSecret,
    opts: pulumi.ResourceOptions,
    k8s_opts: pulumi.ResourceOptions | None = None,
) -> gcp.secretmanager.Secret:
    """`{name}-secret` in Secret Manager, its `{name}-version` holding `value` (a secret Output), and
    `{name}-k8s`, the Kubernetes Secret the pods read it from. `k8s_opts` (the Kubernetes object's
    options) default to `opts`."""
    secret = gcp.secretmanager.Secret(
        f"{name}-secret",
        project=args.project,
        secret_id=args.secret_id,
        labels=dict(args.gcp_labels),
        replication={"auto": {}},
        opts=opts,
    )
    gcp.secretmanager.SecretVersion(
        f"{name}-version",
        secret=secret.id,
        secret_data=value,
        # Keep the previous version disabled rather than destroyed, so a bad rotation can be undone.
        deletion_policy="DISABLE",
        opts=opts,
    )
    k8s.core.v1.Secret(
        f"{name}-k8s",
        metadata={"name": k8s_secret.name, "namespace": args.namespace, "labels": dict(k8s_secret.labels)},
        type="Opaque",
        string_data={k8s_secret.key: value},
        opts=k8s_opts or opts,
    )
    return secret


@dataclass(frozen=True)
class HfTokenArgs(MirroredSecretArgs):
    token: pulumi.Output[str]  # a secret Output
    provider: k8s.Provider  # the cluster's: the platform creates its provider, so no parent passes one down


class HfToken(pulumi.ComponentResource):
    """The Hugging Face token: one Secret Manager secret, mirrored into the serving namespace."""

    def __init__(self, name: str, args: HfTokenArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gke-serving:infra:HfToken", name, None, opts)
        k8s_secret = KubernetesSecret(HF_TOKEN_SECRET_NAME, {"app.kubernetes.io/part-of": "gke-serving"}, HF_TOKEN_KEY)
        child, in_cluster = (
            pulumi.ResourceOptions(parent=self),
            pulumi.ResourceOptions(parent=self, provider=args.provider),
        )
        secret = mirrored_secret(name, args, args.token, k8s_secret, child, k8s_opts=in_cluster)
        self.register_outputs({"secretId": secret.secret_id})
