"""The GKE Standard cluster and its small CPU system pool."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

import naming
from config.platform import ClusterConfig
from infra.node_config import hardened_node_config, managed_pool_settings

# The node features the settings below turn on (catalog/gke_node.yaml `features`): each runs a
# DaemonSet on every node, which the node model takes off what pods may request. A test checks this
# set against the rendered cluster and pools.
NODE_FEATURES = frozenset(
    {
        "dataplane-v2",
        "workload-identity",
        "logging",
        "system-metrics",
        "managed-prometheus",
        "pd-csi",
        "dcgm",
        "gcsfuse-csi",
    }
)


@dataclass(frozen=True)
class GkeClusterArgs:
    project: str
    cfg: ClusterConfig
    network: pulumi.Input[str]
    subnetwork: pulumi.Input[str]
    node_service_account: pulumi.Input[str]  # the nodes' email (infra/identity.py NodeServiceAccount)
    labels: Mapping[str, str]  # GCP resource labels
    # The control plane's lowest GKE version: the highest floor of the features the environment uses
    # (settings/gke_versions.py); None: the release channel's choice.
    min_master_version: str | None = None


class GkeCluster(pulumi.ComponentResource):
    cluster: gcp.container.Cluster
    system_pool: gcp.container.NodePool

    def __init__(self, name: str, args: GkeClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gke-serving:infra:GkeCluster", name, None, opts)
        project, cfg, node_service_account = args.project, args.cfg, args.node_service_account
        labels = dict(args.labels)
        cp = cfg.control_plane
        self.cluster = gcp.container.Cluster(
            f"{name}-cluster",
            project=project,
            name=cfg.name,
            location=cfg.location,
            resource_labels=labels,
            # Pools are separate resources; the default pool only exists while the cluster is created.
            remove_default_node_pool=True,
            initial_node_count=1,
            node_config=hardened_node_config(node_service_account),
            deletion_protection=cfg.deletion_protection,
            release_channel={"channel": cfg.release_channel},
            network=args.network,
            subnetwork=args.subnetwork,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy={
                "cluster_secondary_range_name": cfg.network.pods_range_name,
                "services_secondary_range_name": cfg.network.services_range_name,
            },
            datapath_provider="ADVANCED_DATAPATH",  # Dataplane V2: eBPF, NetworkPolicy built in
            workload_identity_config={"workload_pool": f"{project}.svc.id.goog"},
            private_cluster_config={
                "enable_private_nodes": True,
                "enable_private_endpoint": cp.private_endpoint,
                "master_ipv4_cidr_block": cp.master_ipv4_cidr_block,
                "master_global_access_config": {"enabled": True},
            }
            if cfg.private_nodes
            else None,
            # Never open to 0.0.0.0/0: only the listed CIDRs reach the IP endpoint.
            master_authorized_networks_config={
                "cidr_blocks": [{"display_name": n.name, "cidr_block": n.cidr} for n in cp.authorized_networks],
                "gcp_public_cidrs_access_enabled": False,
            },
            # The DNS endpoint is authorised by IAM per request, so CI needs no IP allowlist.
            control_plane_endpoints_config={"dns_endpoint_config": {"allow_external_traffic": cp.dns_endpoint}},
            enable_shielded_nodes=True,
            enable_legacy_abac=False,
            # No client certificate: credentials come from gke-gcloud-auth-plugin (IAM) only.
            master_auth={"client_certificate_config": {"issue_client_certificate": False}},
            # The Gateway API's standard channel: GKE's Gateway controller and its GatewayClasses, which the
            # Inference Gateway extends (GKE "Deploy GKE Inference Gateway" requires it, with VPC-native networking).
            gateway_api_config={"channel": "CHANNEL_STANDARD"},
            # The Inference Gateway's InferencePool v1 CRDs come with the control plane from this version on.
            min_master_version=args.min_master_version,
            # The Cloud Storage FUSE CSI driver: servers without an object-store loader (TGI, TEI) mount the
            # model mirror read-only. Its node plugin is small (catalog/gke_node.yaml gcsfusecsi-node).
            addons_config={"gcs_fuse_csi_driver_config": {"enabled": True}},
            monitoring_config={
                # An explicit list replaces GKE's defaults, so every package the dashboard and alerts read is
                # named: DCGM (GPU utilisation and memory; needs Managed Prometheus and GKE-managed drivers,
                # which the GPU pools install), DEPLOYMENT and POD (kube state metrics: ready replicas,
                # Pending pods). Values: pulumi_gcp container/_inputs.py ClusterMonitoringConfigArgs.
                "enable_components": ["SYSTEM_COMPONENTS", "DCGM", "DEPLOYMENT", "POD"],
                "managed_prometheus": {"enabled": True},  # scrapes the servers' queue metrics for the HPA
            },
            logging_config={"enable_components": ["SYSTEM_COMPONENTS", "WORKLOADS"]},
            binary_authorization={
                "evaluation_mode": "PROJECT_SINGLETON_POLICY_ENFORCE" if cfg.binary_authorization else "DISABLED",
            },
            # Configuration audit only: VULNERABILITY_BASIC was retired for Standard clusters on 2025-07-31 and
            # VULNERABILITY_ENTERPRISE on 2026-06-16 (kubernetes-engine/docs/deprecations/posture-management-deprecation).
            security_posture_config={"mode": "BASIC", "vulnerability_mode": "VULNERABILITY_DISABLED"},
            # Node upgrades and repairs only in a weekend window, away from weekday traffic.
            maintenance_policy={
                "recurring_window": {
                    "start_time": "2025-01-04T02:00:00Z",
                    "end_time": "2025-01-04T08:00:00Z",
                    "recurrence": "FREQ=WEEKLY;BYDAY=SA,SU",
                }
            },
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["nodeConfig"]),
        )
        system = cfg.system_pool
        self.system_pool = gcp.container.NodePool(
            f"{name}-system",
            project=project,
            cluster=self.cluster.name,
            location=cfg.location,
            name=naming.SYSTEM_POOL,
            autoscaling={"total_min_node_count": system.min_nodes, "total_max_node_count": system.max_nodes},
            node_config=hardened_node_config(
                node_service_account,
                machine_type=system.machine_type,
                disk_size_gb=100,
                disk_type="pd-balanced",
                labels={"gke-serving/pool": "system"},
                resource_labels=labels,
            ),
            **managed_pool_settings(),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"name": self.cluster.name, "endpoint": self.cluster.endpoint})
