"""Composition root: load the environment, build the platform and the model servers, export."""

import pulumi

from config import PROJECT, load_environment
from infra import Platform

env = load_environment()
hf_token = pulumi.Config(PROJECT).require_secret("hfToken")
platform = Platform("platform", env, hf_token, pulumi.get_stack())

pulumi.export("cluster", platform.cluster.name)
pulumi.export("namespace", platform.namespace)
