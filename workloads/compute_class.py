"""GKE custom ComputeClasses (`cloud.google.com/v1`, cluster-scoped): the ordered capacity options of the services
that select them. Fields: GKE's ComputeClass CRD reference and GoogleCloudPlatform/accelerated-platforms
`platforms/gke/base/core/custom_compute_class/templates/manifests/gpu/` (next-wave-facts §4).

Node pools are auto-created per option (`nodePoolAutoCreation`): on GKE 1.33.3-gke.1136000 and later a class
does so without cluster-level node auto-provisioning (GKE's gke-compute-classes guidance, google/skills), so
infra/cluster.py enables none; resource limits set for auto-provisioning would also bound these pools.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from config.compute_classes import CapacityOption, ComputeClassConfig

API_VERSION = "cloud.google.com/v1"
LABELS = {"app.kubernetes.io/part-of": "gke-serving", "app.kubernetes.io/managed-by": "pulumi"}


def priority(option: CapacityOption, zones: Sequence[str]) -> dict[str, Any]:
    """One rung of the class: the option's shape, how it is bought and where its nodes may go."""
    rule: dict[str, Any] = {
        "machineType": option.machine_type,
        # GKE installs the driver on the nodes it creates, as on the project's own GPU pools (driverVersion LATEST).
        "gpu": {"type": option.gpu.type, "count": option.gpu.count, "driverVersion": "latest"},
        "location": {"zones": list(zones)},
    }
    if option.flex_start is not None:
        flex: dict[str, Any] = {"enabled": True}
        if option.flex_start.node_recycling_lead_time_seconds is not None:
            flex["nodeRecycling"] = {"leadTimeSeconds": option.flex_start.node_recycling_lead_time_seconds}
        rule["flexStart"] = flex
        rule["maxRunDurationSeconds"] = option.flex_start.max_run_duration_seconds
    elif option.reservation is not None:
        held = option.reservation
        rule["reservations"] = {
            "affinity": "Specific",
            "specific": [{"name": held.name, **({"project": held.project} if held.project else {})}],
        }
    else:
        rule["spot"] = option.spot
    if option.boot_disk_size_gb is not None:
        rule["storage"] = {"bootDiskSize": option.boot_disk_size_gb}
    return rule


def node_pool_config(service_account: pulumi.Input[str]) -> dict[str, Any]:
    """What the auto-created node pools share with the project's own GPU pools (infra/node_config.py)."""
    return {
        # The least-privilege node account: without it, auto-created nodes run as the Compute Engine default one.
        "serviceAccount": service_account,
        "imageType": "cos_containerd",  # GKE-managed GPU drivers; `latest` runs on COS only
        "gvnic": {"enabled": True},  # faster networking for image pulls and weight downloads
        # Nodes follow the release channel and are replaced when unhealthy.
        "autoRepair": True,
        "autoUpgrade": True,
    }


def compute_class_spec(
    config: ComputeClassConfig, zones: Sequence[Sequence[str]], service_account: pulumi.Input[str]
) -> dict[str, Any]:
    """The class's spec; `zones[i]` are where option i's nodes may go (config/compute_classes.py option_zones);
    `service_account` the email the nodes run as."""
    return {
        "priorities": [priority(option, where) for option, where in zip(config.options, zones, strict=True)],
        # Pods move up the list when a preferred option has capacity again.
        "activeMigration": {"optimizeRulePriority": config.active_migration},
        "nodePoolAutoCreation": {"enabled": True},
        "nodePoolConfig": node_pool_config(service_account),
        "whenUnsatisfiable": config.when_unsatisfiable,
    }


@dataclass(frozen=True)
class ComputeClassesArgs:
    classes: Mapping[str, ComputeClassConfig]
    zones: Mapping[str, tuple[tuple[str, ...], ...]]  # per class, each option's zones
    node_service_account: pulumi.Input[str]  # the email the nodes run as (infra/identity.py NodeServiceAccount)


class ComputeClasses(pulumi.ComponentResource):
    def __init__(self, name: str, args: ComputeClassesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gke-serving:workloads:ComputeClasses", name, None, opts)
        for key, config in args.classes.items():
            k8s.apiextensions.CustomResource(
                f"{name}-{key}",
                api_version=API_VERSION,
                kind="ComputeClass",
                metadata={"name": key, "labels": LABELS},
                spec=compute_class_spec(config, args.zones[key], args.node_service_account),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"classes": sorted(args.classes)})
