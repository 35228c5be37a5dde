"""Config models of the platform: cluster, network, node pools and the gateway."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Literal

from pydantic import Field, field_validator

from settings.base import StrictModel
from settings.limits import MAX_GPUS, MAX_LOCAL_SSDS, MAX_NODES

# Field patterns run on pydantic's Rust regex engine, where `$` is the end of the text: a trailing
# newline fails them (tests/test_config.py). Python's `re.match` would let it through: fullmatch there.
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
# Minor versions whose strict schemas kubernetes-validate (requirements-dev.txt) ships, which the
# preview validates every manifest against; tests/test_config.py proves the list is what it ships.
KUBERNETES_VERSIONS = tuple(f"1.{minor}" for minor in range(25, 38))


def _cidr(value: str) -> str:
    try:
        return str(IPv4Network(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 CIDR block — write it like 10.0.0.0/20") from None


class AuthorizedNetwork(StrictModel):
    name: str
    """A label shown in the console."""
    cidr: str
    """A CIDR block allowed to reach the control plane's public IP endpoint."""

    _check_cidr = field_validator("cidr")(_cidr)


class ControlPlaneConfig(StrictModel):
    dns_endpoint: bool = True
    """Reach the API server through its DNS endpoint, authorised by IAM: CI and laptops need no
    IP allowlist, and the kubeconfig of the Kubernetes provider uses it."""
    authorized_networks: list[AuthorizedNetwork] = []
    """CIDR blocks allowed on the IP endpoint. Empty by default: never open to 0.0.0.0/0."""
    private_endpoint: bool = False
    """Disable the public IP endpoint entirely (needs dnsEndpoint or a runner inside the VPC)."""
    master_ipv4_cidr_block: str = "172.16.0.0/28"
    """The /28 the control plane peers into when nodes are private."""

    _check_cidr = field_validator("master_ipv4_cidr_block")(_cidr)


class NetworkConfig(StrictModel):
    existing_network: str | None = None
    """Name of an existing VPC to use instead of creating one (needs existingSubnetwork)."""
    existing_subnetwork: str | None = None
    """Name of an existing subnet in the cluster's region, with secondary ranges below."""
    subnet_cidr: str = "10.10.0.0/20"
    """Primary range of the subnet this stack creates (nodes)."""
    pods_cidr: str = "10.16.0.0/14"
    """Secondary range for pods (VPC-native)."""
    services_cidr: str = "10.20.0.0/20"
    """Secondary range for Services (VPC-native)."""
    pods_range_name: str = "pods"
    """Name of the pods secondary range (existing subnets: the name it already has)."""
    services_range_name: str = "services"
    """Name of the Services secondary range."""
    cloud_nat: bool = True
    """Cloud Router + NAT for private nodes' egress (Hugging Face, registries); false when the
    existing network already has one."""

    _check_cidrs = field_validator("subnet_cidr", "pods_cidr", "services_cidr")(_cidr)


class SystemPoolConfig(StrictModel):
    machine_type: str = "e2-standard-4"
    """CPU machine type for everything that is not a model server (gateway adapters, DNS, metrics)."""
    min_nodes: int = Field(1, ge=1, le=MAX_NODES)
    """At least one node: system pods must never wait for a GPU node."""
    max_nodes: int = Field(3, ge=1, le=MAX_NODES)
    """Upper bound of the autoscaler for the whole pool."""


class ClusterConfig(StrictModel):
    name: str = Field(pattern=NAME_PATTERN, max_length=40)
    """GKE cluster name."""
    location: str
    """A region (regional cluster, control plane replicated across zones) or a zone of it."""
    release_channel: Literal["RAPID", "REGULAR", "STABLE", "EXTENDED"] = "REGULAR"
    """GKE release channel; the channel picks versions and upgrades nodes automatically."""
    kubernetes_version: str = "1.34"
    """Minor version the manifests are validated against (the channel's current default)."""
    private_nodes: bool = True
    """Nodes get no public IP; Cloud NAT gives them egress to Hugging Face and registries."""
    deletion_protection: bool = True
    """Refuse `pulumi destroy` of the cluster until set to false and applied."""
    binary_authorization: bool = False
    """Enforce the project's Binary Authorization policy on every image."""
    control_plane: ControlPlaneConfig = ControlPlaneConfig()
    network: NetworkConfig = NetworkConfig()
    system_pool: SystemPoolConfig = SystemPoolConfig()

    @field_validator("kubernetes_version")
    @classmethod
    def _known_version(cls, value: str) -> str:
        if value not in KUBERNETES_VERSIONS:
            raise ValueError(
                f"{value[:20]!r} is not a Kubernetes minor version the manifests can be checked against"
                f" — use one of {', '.join(KUBERNETES_VERSIONS)}"
            )
        return value


class GpuConfig(StrictModel):
    type: str
    """Accelerator, as the `cloud.google.com/gke-accelerator` label spells it (e.g. nvidia-l4)."""
    count: int = Field(ge=1, le=MAX_GPUS)
    """GPUs per node; must be what the machine type carries."""


class NodePoolConfig(StrictModel):
    machine_type: str
    """A machine type that carries `gpu` (g2 -> L4, a2-highgpu -> A100 40GB, a3-highgpu -> H100 ...)."""
    gpu: GpuConfig
    spot: bool = False
    """Spot VMs: 60-90% cheaper, preemptible with 30 s notice."""
    min_nodes: int = Field(0, ge=0, le=MAX_NODES)
    """Minimum nodes of the whole pool; 0 lets an idle pool cost nothing."""
    max_nodes: int = Field(1, ge=1, le=MAX_NODES)
    """Maximum nodes of the whole pool."""
    zones: list[str] | None = Field(None, min_length=1)
    """Zones of the cluster's region that offer the GPU; default: the cluster's zone or all zones."""
    disk_size_gb: int = Field(200, ge=100, le=65536)
    """Boot disk, which also holds the model cache (emptyDir): weights of tens of GB, twice during a rollout."""
    disk_type: Literal["pd-ssd", "pd-balanced", "hyperdisk-balanced"] = "pd-ssd"
    """pd-ssd: model weights are read once per start; faster disks shorten cold starts."""
    local_ssd_count: int = Field(0, ge=0, le=MAX_LOCAL_SSDS)
    """Local NVMe SSDs backing ephemeral storage (about 3x pd-balanced throughput for the model cache)."""
    driver_version: Literal["DEFAULT", "LATEST"] = "LATEST"
    """GKE-managed NVIDIA driver; LATEST runs on COS only, which is the image used."""


GatewayClass = Literal["gke-l7-regional-external-managed", "gke-l7-rilb"]
HOSTNAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$"


class IapConfig(StrictModel):
    oauth_client_id: str = Field(pattern=r"^[\w.-]+\.apps\.googleusercontent\.com$")
    """OAuth client of the IAP brand (Console: Security > Identity-Aware Proxy); its secret is the
    stack secret `iapClientSecret`. Grant callers roles/iap.httpsResourceAccessor."""


class GatewayConfig(StrictModel):
    class_name: GatewayClass = "gke-l7-regional-external-managed"
    """GatewayClass of the regional load balancer in front of every service: the regional external
    Application Load Balancer, or gke-l7-rilb for an internal one reachable only from the VPC."""
    domain: str | None = Field(None, pattern=HOSTNAME_PATTERN, max_length=253)
    """DNS name clients use (e.g. llm.example.com): the gateway then serves HTTPS only, with a
    Google-managed Certificate Manager certificate authorised by a DNS record the stack outputs.
    Unset: plain HTTP on the address — API keys then cross the network in clear text."""
    proxy_subnet_cidr: str = "10.24.0.0/23"
    """Proxy-only subnet (purpose REGIONAL_MANAGED_PROXY) the regional load balancer's Envoy proxies
    take their addresses from; its traffic reaches the pods from this range (/23 recommended)."""
    create_proxy_subnet: bool = True
    """false when an existing network already has the region's one ACTIVE proxy-only subnet;
    proxySubnetCidr must then be that subnet's range, which the network policy admits."""
    request_timeout_seconds: int = Field(600, ge=300, le=86400)
    """Backend timeout for LLM services (TGI, vLLM, Triton): a long streamed answer must finish
    within it (the load balancer's default is 30 s)."""
    embedding_timeout_seconds: int = Field(60, ge=1, le=86400)
    """Backend timeout for TEI services: embedding a batch takes seconds, so a stuck request
    fails fast."""
    iap: IapConfig | None = None
    """Identity-Aware Proxy on the backends of servers without an API key of their own (Triton
    with `auth: true`): the load balancer lets only Google identities with access through."""
    allow_plaintext: bool = False
    """dev only: accept an external gateway without `domain`, serving plain HTTP (keys and prompts
    in clear text); refused in every other environment, where an external gateway needs a domain."""
    allow_unauthenticated: bool = False
    """dev only: accept services with `auth: false` on an external gateway (anyone on the internet
    can call them); refused in every other environment."""

    _check_cidr = field_validator("proxy_subnet_cidr")(_cidr)
