"""GCP and cluster level: network, GKE cluster, node pools, secrets, IAM, Kubernetes provider."""

from infra.platform import NAMESPACE, Platform

__all__ = ["NAMESPACE", "Platform"]
