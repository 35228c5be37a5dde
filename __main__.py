"""Composition root: load the environment, build the platform and the model servers, export."""

import pulumi

from config import PROJECT, load_environment
from infra import Platform
from workloads import ModelServer, ModelServerArgs

env = load_environment()
hf_token = pulumi.Config(PROJECT).require_secret("hfToken")
platform = Platform("platform", env, hf_token, pulumi.get_stack())

servers = {
    name: ModelServer(
        name,
        ModelServerArgs(
            service=service, pool=env.node_pools[service.pool], namespace=platform.namespace,
            hf_token_secret=platform.hf_token_secret, autoscaled=service.autoscaling is not None,
            project=env.project, secret_prefix=env.cluster.name,
        ),
        opts=pulumi.ResourceOptions(providers=[platform.provider], depends_on=[platform]),
    )
    for name, service in env.services.items()
}

pulumi.export("cluster", platform.cluster.name)
pulumi.export("namespace", platform.namespace)
pulumi.export("apiKeys", pulumi.Output.secret({n: s.api_key for n, s in servers.items() if s.api_key is not None}))
