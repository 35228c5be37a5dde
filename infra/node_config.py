"""Node settings shared by the system pool and the GPU pools: hardened, image-streaming COS nodes."""

from __future__ import annotations

from typing import Any

import pulumi

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


def hardened_node_config(service_account: pulumi.Input[str], **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "service_account": service_account,
        # Access is decided by the service account's IAM roles; the scope only has to allow them
        # (a narrower scope also breaks the GPU driver download from Cloud Storage).
        "oauth_scopes": [CLOUD_PLATFORM],
        "image_type": "COS_CONTAINERD",  # GKE-managed GPU drivers; `LATEST` runs on COS only
        # Pods see the GKE metadata server (Workload Identity), never the node's credentials.
        "workload_metadata_config": {"mode": "GKE_METADATA"},
        "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
        "metadata": {"disable-legacy-endpoints": "true"},  # no v0.1/v1beta1 metadata endpoints
        # Image streaming off: it needs the Container File System API and streams only images in Artifact
        # Registry (kubernetes-engine/docs/how-to/image-streaming); every server image comes from ghcr.io,
        # docker.io or nvcr.io, so it would only add its memory reservation.
        "gcfs_config": {"enabled": False},
        "gvnic": {"enabled": True},  # faster networking for image pulls and weight downloads
    }
    config.update(overrides)
    return config


def managed_pool_settings() -> dict[str, Any]:
    return {
        # Nodes follow the release channel and are replaced when unhealthy.
        "management": {"auto_repair": True, "auto_upgrade": True},
    }
