"""A random API key per service, kept in Secret Manager and in the serving namespace."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_random as random

from infra.secrets import KubernetesSecret, MirroredSecretArgs, mirrored_secret
from workloads.deployment import API_KEY_SECRET_KEY


@dataclass(frozen=True)
class ApiKeyArgs(MirroredSecretArgs):
    labels: Mapping[str, str]  # the Kubernetes Secret's


class ApiKey(pulumi.ComponentResource):
    value: pulumi.Output[str]
    secret_name: str

    def __init__(self, name: str, args: ApiKeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gke-serving:workloads:ApiKey", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # 48 alphanumerics (~285 bits); no symbols, so the key survives shells and HTTP headers unquoted.
        password = random.RandomPassword(f"{name}-value", length=48, special=False, opts=child)
        self.value = pulumi.Output.secret(password.result)
        self.secret_name = name
        secret = mirrored_secret(name, args, self.value, KubernetesSecret(name, args.labels, API_KEY_SECRET_KEY), child)
        self.register_outputs({"secretId": secret.secret_id})
