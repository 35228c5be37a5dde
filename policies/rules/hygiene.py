"""Secrets, images and probes of the workloads: the mistakes that surface only after deploy."""

from __future__ import annotations

import re

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from policies.rules.base import DEFAULT_ENFORCEMENT
from policies.rules.pods import Container, container_images, mapping, pod_of, sequence
from settings.secrets import HF_TOKEN as _TOKEN

# TGI maps the legacy HF_API_TOKEN and huggingface_hub reads HUGGING_FACE_HUB_TOKEN (server-cli.md).
TOKEN_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_API_TOKEN")


def _literal_tokens(c: Container) -> list[str]:
    """Where the container spells out a token: env values, args and command entries."""
    places = []
    for e in sequence(c.spec.get("env")):
        value = mapping(e).get("value")
        if isinstance(value, str) and _TOKEN.search(value):
            places.append(f"env {mapping(e).get('name')}")
    for key in ("command", "args"):
        for i, arg in enumerate(sequence(c.spec.get(key))):
            if isinstance(arg, str) and _TOKEN.search(arg):
                places.append(f"{key}[{i}]")
    return places


def _hf_token_from_secret(args: ResourceValidationArgs, report: ReportViolation) -> None:
    pod = pod_of(args.resource_type, args.props)
    if pod is None:
        return
    for c in pod.all_containers():
        for e in map(mapping, sequence(c.spec.get("env"))):
            name = e.get("name")
            if name not in TOKEN_ENV:
                continue
            source = mapping(e.get("valueFrom"))
            if "value" in e:
                report(
                    f"container {c.name}: env {name} is a literal value — the token would sit in the manifest "
                    "and the stack state; read it from a Secret (valueFrom.secretKeyRef)",
                    None,
                )
            elif "secretKeyRef" not in source:
                kind = next(iter(source), "nothing")
                report(f"container {c.name}: env {name} comes from {kind}, not a Secret (valueFrom.secretKeyRef)", None)
        for place in _literal_tokens(c):
            report(
                f"container {c.name}: {place} holds a literal Hugging Face token (hf_…) — pass it as env "
                "HF_TOKEN from a Secret, and revoke this one",
                None,
            )


hf_token_from_secret = ResourceValidationPolicy(
    name="hf-token-from-secret",
    description="The Hugging Face token reaches a pod only through a Secret (env HF_TOKEN via secretKeyRef), "
    "never as a literal in an env value, argument or command.",
    validate=_hf_token_from_secret,
    enforcement_level=DEFAULT_ENFORCEMENT,
)

_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def _unpinned(image: str) -> str | None:
    """Why `image` is not pinned, None when it has a digest or a version tag."""
    if "@" in image:
        return None if _DIGEST.search(image) else "has a malformed digest (want @sha256:<64 hex>)"
    last = image.rsplit("/", 1)[-1]  # a registry port (host:5000/...) is not a tag
    if ":" not in last:
        return "has no tag, so it runs whatever :latest is at pull time"
    if last.rsplit(":", 1)[1] == "latest":
        return "uses the moving tag latest"
    return None


def _image_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    pod = pod_of(args.resource_type, args.props)
    if pod is None:
        return
    for container, image in container_images(pod):
        if why := _unpinned(image):
            report(f"container {container}: image {image} {why} — pin a version tag or a digest", None)


image_pinned = ResourceValidationPolicy(
    name="image-pinned",
    description="Every container image is pinned by a version tag (not latest) or a digest, so a restart "
    "runs the image that was reviewed.",
    validate=_image_pinned,
    enforcement_level=DEFAULT_ENFORCEMENT,
)


def _has_startup_probe(args: ResourceValidationArgs, report: ReportViolation) -> None:
    pod = pod_of(args.resource_type, args.props)
    if pod is None or pod.runtime is None:
        return
    server = pod.server()
    if server is not None and not server.spec.get("startupProbe"):
        report(
            f"container {server.name} has no startupProbe — the liveness probe would restart the server "
            "while it downloads and loads the weights",
            None,
        )


model_server_has_startup_probe = ResourceValidationPolicy(
    name="model-server-has-startup-probe",
    description="A model server's container has a startupProbe, so liveness checks wait for the weights to load.",
    validate=_has_startup_probe,
    enforcement_level=DEFAULT_ENFORCEMENT,
)
