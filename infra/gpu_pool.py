"""One GPU node pool per `nodePools` entry, named by its map key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from config.platform import NodePoolConfig
from infra.node_config import hardened_node_config, managed_pool_settings

# GKE's own taint for GPU nodes, set explicitly so it holds even without a CPU pool; model servers
# carry the matching toleration, so nothing else lands on (and blocks) an expensive GPU.
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}


@dataclass(frozen=True)
class GpuNodePoolArgs:
    project: str
    cluster: pulumi.Input[str]  # the cluster's name
    location: str  # the cluster's location
    zones: tuple[str, ...]  # where the pool's nodes may run
    cfg: NodePoolConfig
    node_service_account: pulumi.Input[str]  # the nodes' email (infra/identity.py NodeServiceAccount)
    labels: Mapping[str, str]  # GCP resource labels


class GpuNodePool(pulumi.ComponentResource):
    pool: gcp.container.NodePool

    def __init__(self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gke-serving:infra:GpuNodePool", name, None, opts)
        cfg = args.cfg
        extra: dict[str, object] = {}
        if cfg.local_ssd_count:
            extra["ephemeral_storage_local_ssd_config"] = {"local_ssd_count": cfg.local_ssd_count}
        self.pool = gcp.container.NodePool(
            f"{name}-pool",
            project=args.project,
            cluster=args.cluster,
            location=args.location,
            name=name,
            node_locations=list(args.zones),
            autoscaling={
                "total_min_node_count": cfg.min_nodes,
                "total_max_node_count": cfg.max_nodes,
                # Spot: take capacity in whichever zone has it; on-demand: spread evenly.
                "location_policy": "ANY" if cfg.spot else "BALANCED",
            },
            # No surge node during upgrades: a second GPU node may not be obtainable (quota, stock).
            upgrade_settings={"strategy": "SURGE", "max_surge": 0, "max_unavailable": 1},
            node_config=hardened_node_config(
                args.node_service_account,
                machine_type=cfg.machine_type,
                spot=cfg.spot,
                disk_size_gb=cfg.disk_size_gb,
                disk_type=cfg.disk_type,
                guest_accelerators=[
                    {
                        "type": cfg.gpu.type,
                        "count": cfg.gpu.count,
                        "gpu_driver_installation_config": {"gpu_driver_version": cfg.driver_version},
                    }
                ],
                taints=[GPU_TAINT],
                labels={"gke-serving/pool": name},
                resource_labels=dict(args.labels),
                **extra,
            ),
            **managed_pool_settings(),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"name": self.pool.name})
