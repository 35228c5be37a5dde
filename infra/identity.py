"""The node service account: least privilege instead of the Compute Engine default account."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

# The minimum GKE documents for node service accounts ("Use least privilege IAM service accounts"),
# plus Artifact Registry read for image pulls.
NODE_ROLES = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/autoscaling.metricsWriter",
    "roles/artifactregistry.reader",
)


class NodeServiceAccount(pulumi.ComponentResource):
    email: pulumi.Output[str]

    def __init__(self, name: str, project: str, account_id: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gke-serving:infra:NodeServiceAccount", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        account = gcp.serviceaccount.Account(
            f"{name}-account",
            project=project,
            account_id=account_id,
            display_name="GKE nodes (least privilege)",
            opts=child,
        )
        for role in NODE_ROLES:
            gcp.projects.IAMMember(
                f"{name}-{role.removeprefix('roles/').replace('.', '-')}",
                project=project,
                role=role,
                member=account.email.apply(lambda email: f"serviceAccount:{email}"),
                opts=child,
            )
        self.email = account.email
        self.register_outputs({"email": self.email})


def workload_identity_member(project: str, namespace: str, service_account: str) -> str:
    """The IAM principal of a Kubernetes service account under GKE Workload Identity."""
    return f"serviceAccount:{project}.svc.id.goog[{namespace}/{service_account}]"


def bind_workload_identity(
    name: str, account: gcp.serviceaccount.Account, member: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> gcp.serviceaccount.IAMMember:
    """Let `member` (a Kubernetes service account's principal) act as the Google service account."""
    return gcp.serviceaccount.IAMMember(
        f"{name}-workload-identity",
        service_account_id=account.name,
        role="roles/iam.workloadIdentityUser",
        member=member,
        opts=opts,
    )
