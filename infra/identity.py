"""Identities: the node service account, and the one shape every workload's identity takes (a Google
service account a Kubernetes service account acts as, through GKE Workload Identity)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

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
# The annotation by which GKE Workload Identity maps a Kubernetes service account to a Google one.
GSA_ANNOTATION = "iam.gke.io/gcp-service-account"


def iam_member(account: gcp.serviceaccount.Account) -> pulumi.Output[str]:
    """The IAM principal of a Google service account, as a binding's `member` takes it."""
    member: pulumi.Output[str] = account.email.apply(lambda email: f"serviceAccount:{email}")
    return member


@dataclass(frozen=True)
class NodeServiceAccountArgs:
    project: str
    account_id: str  # naming.node_account_id of the cluster


class NodeServiceAccount(pulumi.ComponentResource):
    email: pulumi.Output[str]

    def __init__(self, name: str, args: NodeServiceAccountArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gke-serving:infra:NodeServiceAccount", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        account = gcp.serviceaccount.Account(
            f"{name}-account",
            project=args.project,
            account_id=args.account_id,
            display_name="GKE nodes (least privilege)",
            opts=child,
        )
        member = iam_member(account)
        for role in NODE_ROLES:
            key = role.removeprefix("roles/").replace(".", "-")
            gcp.projects.IAMMember(f"{name}-{key}", project=args.project, role=role, member=member, opts=child)
        self.email = account.email
        self.register_outputs({"email": self.email})


def workload_identity_member(project: str, namespace: str, service_account: str) -> str:
    """The IAM principal of a Kubernetes service account under GKE Workload Identity."""
    return f"serviceAccount:{project}.svc.id.goog[{namespace}/{service_account}]"


@dataclass(frozen=True)
class WorkloadIdentityArgs:
    project: str
    account_id: str  # the Google service account's id (naming.*_account_id)
    display_name: str
    namespace: pulumi.Input[str]  # where the Kubernetes service account lives
    ksa: str  # the Kubernetes service account's name, which the pods name
    labels: Mapping[str, str]  # the Kubernetes service account's labels
    # Only a pod that calls the Kubernetes API (the metrics adapter) mounts its token; Kubernetes'
    # default is to mount it, so the others switch it off.
    mounts_token: bool = False


@dataclass(frozen=True)
class WorkloadIdentity:
    account: gcp.serviceaccount.Account
    member: pulumi.Output[str]  # the Google account's IAM principal, for the bindings that grant it access
    ksa: str


def workload_identity(
    name: str,
    args: WorkloadIdentityArgs,
    opts: pulumi.ResourceOptions,
    ksa_opts: pulumi.ResourceOptions | None = None,
) -> WorkloadIdentity:
    """`{name}-gsa`, a Google service account with no role of its own (the caller grants them to
    `member`), `{name}-workload-identity`, which lets the Kubernetes service account act as it, and
    `{name}-ksa`, that Kubernetes service account, annotated for Workload Identity. `ksa_opts` (the
    Kubernetes object's options) default to `opts`."""
    account = gcp.serviceaccount.Account(
        f"{name}-gsa",
        project=args.project,
        account_id=args.account_id,
        display_name=args.display_name,
        opts=opts,
    )
    principal = pulumi.Output.from_input(args.namespace).apply(
        lambda ns: workload_identity_member(args.project, ns, args.ksa)
    )
    gcp.serviceaccount.IAMMember(
        f"{name}-workload-identity",
        service_account_id=account.name,
        role="roles/iam.workloadIdentityUser",
        member=principal,
        opts=opts,
    )
    k8s.core.v1.ServiceAccount(
        f"{name}-ksa",
        metadata={
            "name": args.ksa,
            "namespace": args.namespace,
            "labels": dict(args.labels),
            "annotations": {GSA_ANNOTATION: account.email},
        },
        automount_service_account_token=None if args.mounts_token else False,
        opts=ksa_opts or opts,
    )
    return WorkloadIdentity(account, iam_member(account), args.ksa)


def grant_bucket_read(
    name: str, bucket: pulumi.Input[str], identity: WorkloadIdentity, opts: pulumi.ResourceOptions
) -> gcp.storage.BucketIAMMember:
    """Let `identity` read (list and get, never write) the objects of `bucket`."""
    return gcp.storage.BucketIAMMember(
        name, bucket=bucket, role="roles/storage.objectViewer", member=identity.member, opts=opts
    )
