"""Images pinned by digest: what Binary Authorization admits and what a node pulls, byte for byte.

A tag can be re-pushed; a digest cannot. image-pinned (hygiene.py) already refuses moving tags
everywhere; this rule asks more where an environment's policy config turns it on
(policies/config/<env>.json): every container image carries `@sha256:`. Elsewhere it is disabled.
"""

from __future__ import annotations

import re

from pulumi_policy import PolicyConfigSchema, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from policies.rules.base import DEFAULT_ENFORCEMENT
from policies.rules.pods import container_images, pod_of

_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def missing_digest(image: str) -> bool:
    return not _DIGEST.search(image)


def _images_pinned_by_digest(args: ResourceValidationArgs, report: ReportViolation) -> None:
    pod = pod_of(args.resource_type, args.props)
    if pod is None:
        return
    for container, image in container_images(pod):
        if missing_digest(image):
            report(
                f"container {container}: image {image} has no digest — append @sha256:<digest of the tag> "
                "(a runtime's `digests` in catalog/servers.yaml, or the service's `image`), so the node "
                "pulls the image that was reviewed",
                None,
            )


prod_images_pinned_by_digest = ResourceValidationPolicy(
    name="prod-images-pinned-by-digest",
    description="Every container image carries a digest (image:tag@sha256:...), so Binary Authorization "
    "and every restart run the reviewed image; enabled per environment in its policy config.",
    validate=_images_pinned_by_digest,
    enforcement_level=DEFAULT_ENFORCEMENT,
    config_schema=PolicyConfigSchema(
        properties={
            "note": {
                "type": "string",
                "default": "",
                "description": "Why the environment sets this level (e.g. advisory until every digest is sourced).",
            },
        }
    ),
)
