"""The whole GCP side of an environment, ending in a Kubernetes provider and the serving namespace."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

import naming
from config import Environment
from infra.cluster import GkeCluster, GkeClusterArgs
from infra.gpu_pool import GpuNodePool, GpuNodePoolArgs
from infra.identity import NodeServiceAccount, NodeServiceAccountArgs
from infra.kubeconfig import kubernetes_provider
from infra.network import Network, NetworkArgs
from infra.secrets import HF_TOKEN_SECRET_NAME, HfToken, HfTokenArgs
from runtimes import runtime_of

APIS = (
    "compute.googleapis.com",
    "container.googleapis.com",
    "secretmanager.googleapis.com",
    "iam.googleapis.com",
    "monitoring.googleapis.com",
    "logging.googleapis.com",
    "cloudresourcemanager.googleapis.com",  # project IAM bindings (the node account's roles)
)
# Enforcing a Binary Authorization policy needs its API (cloud.google.com/binary-authorization/docs).
BINARY_AUTHORIZATION_API = "binaryauthorization.googleapis.com"
# Triton reads its model repository bucket, and the model mirror is a bucket: both go through the Storage API.
STORAGE_API = "storage.googleapis.com"
# The load balancer's Identity-Aware Proxy needs its API (cloud.google.com/iap/docs/enabling-kubernetes-howto).
IAP_API = "iap.googleapis.com"


def required_apis(env: Environment) -> tuple[str, ...]:
    """The APIs this environment's settings use; every enabled feature has its API."""
    wanted = {
        BINARY_AUTHORIZATION_API: env.cluster.binary_authorization,
        IAP_API: env.gateway.iap is not None,
        STORAGE_API: env.model_mirror is not None or any(runtime_of(s).bucket(s) for s in env.services.values()),
    }
    return APIS + tuple(api for api, needed in wanted.items() if needed)


def resource_labels(stack: str) -> dict[str, str]:
    """Labels of every GCP resource that takes them (GCP label rules: lowercase keys, no `/` or `.`)."""
    return {"environment": stack, "managed-by": "pulumi", "app": "gke-serving"}


NAMESPACE = "serving"


@dataclass(frozen=True)
class PlatformArgs:
    env: Environment
    hf_token: pulumi.Output[str]  # a secret Output: the stack's hfToken
    stack: str  # the GCP resources' `environment` label


class Platform(pulumi.ComponentResource):
    cluster: gcp.container.Cluster
    pools: dict[str, GpuNodePool]
    provider: k8s.Provider
    namespace: pulumi.Output[str]
    network: pulumi.Output[str]  # VPC id: the gateway's proxy-only subnet joins it
    subnetwork: pulumi.Output[str]  # node subnet id: an internal gateway's address comes from it
    node_service_account: pulumi.Output[str]  # the nodes' email: a compute class's auto-created nodes run as it
    hf_token_secret: str

    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gke-serving:infra:Platform", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        env = args.env
        labels = resource_labels(args.stack)
        apis = [
            gcp.projects.Service(
                f"{name}-{api.split('.')[0]}",
                project=env.project,
                service=api,
                # Other stacks in the project may rely on the API; never turn it off.
                disable_on_destroy=False,
                opts=child,
            )
            for api in required_apis(env)
        ]
        after_apis = pulumi.ResourceOptions(parent=self, depends_on=apis)
        network = Network(f"{name}-network", NetworkArgs(env.project, env.region, env.cluster), opts=after_apis)
        self.network, self.subnetwork = network.network, network.subnetwork
        nodes = NodeServiceAccount(
            f"{name}-nodes",
            NodeServiceAccountArgs(env.project, naming.node_account_id(env.cluster.name)),
            opts=after_apis,
        )
        gke = GkeCluster(
            f"{name}-gke",
            GkeClusterArgs(
                project=env.project,
                cfg=env.cluster,
                min_master_version=floor.version if (floor := env.gke_floor()) else None,
                network=network.network,
                subnetwork=network.subnetwork,
                node_service_account=nodes.email,
                labels=labels,
            ),
            opts=after_apis,
        )
        self.cluster = gke.cluster
        self.pools = {
            key: GpuNodePool(
                key,
                GpuNodePoolArgs(
                    project=env.project,
                    cluster=gke.cluster.name,
                    location=env.cluster.location,
                    zones=tuple(env.pool_zones(pool)),
                    cfg=pool,
                    node_service_account=nodes.email,
                    labels=labels,
                ),
                opts=child,
            )
            for key, pool in env.node_pools.items()
        }
        # Created after every pool so Kubernetes objects never wait on a cluster without nodes.
        self.provider = kubernetes_provider(
            f"{name}-k8s",
            gke.cluster,
            env.cluster.control_plane.dns_endpoint,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[gke.system_pool, *self.pools.values()]),
        )
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={
                "name": NAMESPACE,
                "labels": {
                    "app.kubernetes.io/part-of": "gke-serving",
                    # The server images run as root (TGI, TEI) and write to their cache paths, so
                    # `restricted` cannot be enforced; baseline is, and restricted is reported.
                    "pod-security.kubernetes.io/enforce": "baseline",
                    "pod-security.kubernetes.io/warn": "restricted",
                    "pod-security.kubernetes.io/audit": "restricted",
                },
            },
            opts=pulumi.ResourceOptions(parent=self, provider=self.provider),
        )
        self.namespace = namespace.metadata.apply(lambda m: m.name)
        HfToken(
            f"{name}-hf-token",
            HfTokenArgs(
                env.project, f"{env.cluster.name}-hf-token", labels, self.namespace, args.hf_token, self.provider
            ),
            opts=after_apis,
        )
        self.hf_token_secret = HF_TOKEN_SECRET_NAME
        self.node_service_account = nodes.email
        self.register_outputs({"cluster": self.cluster.name, "namespace": self.namespace})
