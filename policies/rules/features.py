"""Every feature the plan turns on works: its API is enabled, its preconditions hold, nothing retired.

The mock engine accepts a cluster that enforces Binary Authorization in a project without its API,
image streaming for images that cannot be streamed, and settings GKE has retired.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs, StackValidationPolicy

import catalog
from policies.rules.base import DEFAULT_ENFORCEMENT
from policies.rules.pods import mapping, pod_of

SERVICE = "gcp:projects/service:Service"
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
BACKEND_POLICY = "kubernetes:networking.gke.io/v1:GCPBackendPolicy"
# Retired values GKE no longer accepts or silently ignores (kubernetes-engine/docs/deprecations/
# posture-management-deprecation): basic workload vulnerability scanning ended 2025-07-31,
# Advanced Vulnerability Insights 2026-06-16.
RETIRED = {
    ("securityPostureConfig", "vulnerabilityMode"): {
        "VULNERABILITY_BASIC": "retired 2025-07-31",
        "VULNERABILITY_ENTERPRISE": "retired 2026-06-16",
    },
}
# Image streaming streams only images in Artifact Registry (kubernetes-engine/docs/how-to/image-streaming).
ARTIFACT_REGISTRY_SUFFIX = "-docker.pkg.dev/"


def _enabled_apis(resources: list[PolicyResource]) -> set[str]:
    return {str(r.props.get("service")) for r in resources if r.resource_type == SERVICE}


def _needed_apis(resources: list[PolicyResource]) -> Iterator[tuple[str, str, str]]:
    """(api, why, urn) for every API a resource of the plan calls or a feature it turns on needs."""
    types = mapping(mapping(catalog.read("gcp_rules.yaml")).get("resources"))
    for r in resources:
        api = mapping(types.get(r.resource_type)).get("api")
        if api:
            yield api, f"{r.resource_type.rsplit(':', 1)[-1]} {r.name}", r.urn
        if r.resource_type == CLUSTER:
            mode = mapping(r.props.get("binaryAuthorization")).get("evaluationMode")
            if mode not in (None, "DISABLED"):
                # cloud.google.com/binary-authorization/docs: enable the Binary Authorization API first.
                yield "binaryauthorization.googleapis.com", f"Binary Authorization {mode}", r.urn
        if r.resource_type in (CLUSTER, NODE_POOL) and _streams_images(r.props):
            yield "containerfilesystem.googleapis.com", "image streaming (gcfsConfig)", r.urn
        if r.resource_type == BACKEND_POLICY and mapping(mapping(r.props.get("spec")).get("default")).get("iap"):
            yield "iap.googleapis.com", "Identity-Aware Proxy on a backend", r.urn


def _streams_images(props: Mapping[str, Any]) -> bool:
    config = mapping(props.get("nodeConfig"))
    return bool(mapping(config.get("gcfsConfig")).get("enabled"))


def _images(resources: list[PolicyResource]) -> set[str]:
    found = set()
    for r in resources:
        pod = pod_of(r.resource_type, r.props)
        if pod is not None:
            found |= {str(c.spec.get("image", "")) for c in pod.all_containers()}
    return found


def _registry(image: str) -> str:
    head = image.split("/", 1)[0]
    return head if "/" in image and ("." in head or ":" in head) else "docker.io"


def _features_ready(args: StackValidationArgs, report: ReportViolation) -> None:
    enabled = _enabled_apis(args.resources)
    reported: set[tuple[str, str]] = set()
    for api, why, urn in _needed_apis(args.resources):
        if api not in enabled and (api, urn) not in reported:
            reported.add((api, urn))
            report(f"{why} needs {api}, which the plan does not enable — add it to the enabled APIs", urn)
    for r in args.resources:
        for (section, field), values in RETIRED.items():
            value = mapping(r.props.get(section)).get(field)
            if isinstance(value, str) and value in values:
                report(f"{section}.{field} {value} is {values[value]} — set VULNERABILITY_DISABLED", r.urn)
    streaming = [r for r in args.resources if r.resource_type in (CLUSTER, NODE_POOL) and _streams_images(r.props)]
    images = _images(args.resources)
    if streaming and not any(ARTIFACT_REGISTRY_SUFFIX in image for image in images):
        shown = ", ".join(sorted({_registry(i) for i in images})) or "none"
        for r in streaming:
            report(
                f"image streaming is on but no workload image is in Artifact Registry (registries: {shown}); GKE "
                "streams only Artifact Registry images — mirror the images there or turn gcfsConfig off",
                r.urn,
            )


cluster_features_ready = StackValidationPolicy(
    name="cluster-features-ready",
    description="Every GCP API the plan's resources and features call is enabled by the plan, image streaming "
    "has Artifact Registry images to stream, and no retired GKE setting is used.",
    validate=_features_ready,
    enforcement_level=DEFAULT_ENFORCEMENT,
)
