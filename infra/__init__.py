"""GCP and cluster level: network, GKE cluster, node pools, secrets, IAM, Kubernetes provider."""

from infra.platform import NAMESPACE, Platform, PlatformArgs, resource_labels

__all__ = ["NAMESPACE", "Platform", "PlatformArgs", "resource_labels"]
