"""VPC-native network for the cluster, or an existing one named in config; NAT for private nodes."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from config.platform import ClusterConfig


@dataclass(frozen=True)
class NetworkArgs:
    project: str
    region: str
    cluster: ClusterConfig  # its name prefixes the network's; its `network` settings shape it


class Network(pulumi.ComponentResource):
    network: pulumi.Output[str]
    subnetwork: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gke-serving:infra:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        project, region, cluster = args.project, args.region, args.cluster
        cfg = cluster.network
        if cfg.existing_network and cfg.existing_subnetwork:
            network_name: pulumi.Input[str] = cfg.existing_network
            self.network = pulumi.Output.from_input(f"projects/{project}/global/networks/{cfg.existing_network}")
            self.subnetwork = pulumi.Output.from_input(
                f"projects/{project}/regions/{region}/subnetworks/{cfg.existing_subnetwork}"
            )
        else:
            vpc = gcp.compute.Network(
                f"{name}-vpc",
                project=project,
                name=f"{cluster.name}-vpc",
                auto_create_subnetworks=False,  # one explicit subnet with secondary ranges
                routing_mode="REGIONAL",
                opts=child,
            )
            subnet = gcp.compute.Subnetwork(
                f"{name}-subnet",
                project=project,
                region=region,
                name=f"{cluster.name}-nodes",
                network=vpc.id,
                ip_cidr_range=cfg.subnet_cidr,
                secondary_ip_ranges=[
                    {"range_name": cfg.pods_range_name, "ip_cidr_range": cfg.pods_cidr},
                    {"range_name": cfg.services_range_name, "ip_cidr_range": cfg.services_cidr},
                ],
                # Private nodes reach Google APIs (Artifact Registry, Secret Manager) without NAT.
                private_ip_google_access=True,
                log_config={"aggregation_interval": "INTERVAL_5_MIN", "flow_sampling": 0.1},
                opts=child,
            )
            network_name = vpc.name
            self.network, self.subnetwork = vpc.id, subnet.id
        if cluster.private_nodes and cfg.cloud_nat:
            router = gcp.compute.Router(
                f"{name}-router",
                project=project,
                region=region,
                name=f"{cluster.name}-router",
                network=network_name,
                opts=child,
            )
            gcp.compute.RouterNat(
                f"{name}-nat",
                project=project,
                region=region,
                name=f"{cluster.name}-nat",
                router=router.name,
                # GPU nodes have no public IP but must pull images and download weights from Hugging Face.
                nat_ip_allocate_option="AUTO_ONLY",
                source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
                # Model downloads open many parallel connections; the default 64 ports per VM run out.
                min_ports_per_vm=1024,
                enable_dynamic_port_allocation=True,
                log_config={"enable": True, "filter": "ERRORS_ONLY"},
                opts=child,
            )
        self.register_outputs({"network": self.network, "subnetwork": self.subnetwork})
