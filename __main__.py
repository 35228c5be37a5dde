"""Composition root: load the environment, build the platform, the model servers and the gateway, export."""

import pulumi

from config import PROJECT, load_environment
from infra import Platform, PlatformArgs, resource_labels
from workloads import (
    Autoscaling,
    AutoscalingArgs,
    Gateway,
    GatewayArgs,
    InferenceRouting,
    InferenceRoutingArgs,
    ModelServer,
    ModelServerArgs,
    Scaled,
    ServingNetworkPolicies,
    ServingNetworkPoliciesArgs,
    model_names,
    picked_services,
)
from workloads.compute_class import ComputeClasses, ComputeClassesArgs
from workloads.model_mirror import ModelMirror, ModelMirrorArgs
from workloads.observability import Observability, ObservabilityArgs
from workloads.weights_fit import weights_problems

# The weights' fit (workloads/) joins config's own checks in one report.
env = load_environment(checks=(weights_problems,))
config = pulumi.Config(PROJECT)
hf_token = config.require_secret("hfToken")
platform = Platform("platform", PlatformArgs(env, hf_token, pulumi.get_stack()))
in_cluster = pulumi.ResourceOptions(providers=[platform.provider], depends_on=[platform])
mirror = (
    ModelMirror(
        "model-mirror",
        ModelMirrorArgs.of(env, platform.namespace, platform.hf_token_secret, resource_labels(pulumi.get_stack())),
        opts=in_cluster,
    )
    if env.model_mirror is not None
    else None
)
# The classes exist before the pods that select them: a pod whose class is missing stays Pending.
classes = (
    [
        ComputeClasses(
            "compute-classes",
            ComputeClassesArgs(env.compute_classes, env.class_zones(), platform.node_service_account),
            opts=in_cluster,
        )
    ]
    if env.compute_classes
    else []
)
servers = {
    name: ModelServer(
        name,
        ModelServerArgs(
            service=service,
            pools=tuple(shape.pool for shape in env.shapes(service)),
            namespace=platform.namespace,
            hf_token_secret=platform.hf_token_secret,
            autoscaled=service.autoscaling is not None,
            project=env.project,
            cluster=env.cluster.name,
            gcp_labels=resource_labels(pulumi.get_stack()),
            weights=mirror.sources.get(name) if mirror else None,
            mirror_job=mirror.ready_for(name) if mirror else None,
            adapters=mirror.adapters.get(name, ()) if mirror else (),
            adapter_jobs=mirror.adapters_ready_for(name) if mirror else (),
        ),
        opts=pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=classes))
        if service.compute_class
        else in_cluster,
    )
    for name, service in env.services.items()
}
specs = {name: server.spec for name, server in servers.items()}
picked = picked_services(env.services, specs)
gateway = Gateway(
    "gateway",
    GatewayArgs(
        config=env.gateway,
        project=env.project,
        region=env.region,
        name_prefix=env.cluster.name,
        network=platform.network,
        subnetwork=platform.subnetwork,
        namespace=platform.namespace,
        backends=specs,
        iap_services=frozenset(n for n, s in specs.items() if env.services[n].auth and s.api_key_env is None),
        iap_client_secret=config.get_secret("iapClientSecret"),
        pooled=frozenset(picked),
    ),
    opts=in_cluster,
)
if picked:
    InferenceRouting(
        "inference-routing",
        InferenceRoutingArgs(platform.namespace, picked),
        # The routing extension attaches to the Gateway; the pools' routes and policies sit beside the gateway's.
        opts=pulumi.ResourceOptions(providers=[platform.provider], depends_on=[platform, gateway]),
    )
Autoscaling(
    "autoscaling",
    AutoscalingArgs(
        namespace=platform.namespace,
        project=env.project,
        name_prefix=env.cluster.name,
        services={
            name: Scaled(spec, env.services[name].autoscaling, servers[name].cold_start.total_seconds)
            for name, spec in specs.items()
        },
    ),
    opts=in_cluster,
)
ServingNetworkPolicies(
    "network-policy",
    ServingNetworkPoliciesArgs(platform.namespace, specs, env.gateway.proxy_subnet_cidr),
    opts=in_cluster,
)
Observability(
    "observability",
    ObservabilityArgs.of(env, specs, pulumi.get_stack()),
    opts=pulumi.ResourceOptions(depends_on=[platform]),  # the Monitoring API is enabled there
)

pulumi.export("cluster", platform.cluster.name)
pulumi.export("namespace", platform.namespace)
pulumi.export("apiKeys", pulumi.Output.secret({n: s.api_key for n, s in servers.items() if s.api_key is not None}))
pulumi.export("gatewayAddress", gateway.address)
pulumi.export("serviceUrls", gateway.service_urls)
if gateway.openai_url is not None:
    # The shared endpoint and which service answers each model name (its key is the one to send; names only).
    pulumi.export("openaiUrl", gateway.openai_url)
    pulumi.export("models", model_names({n: p.spec for n, p in picked.items()}))
if gateway.dns_records is not None:
    pulumi.export("gatewayDnsRecords", gateway.dns_records)  # create them in the domain's DNS zone
