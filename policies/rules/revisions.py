"""Pinned revisions: every server that downloads from the Hugging Face Hub names a 40-hex commit.

A branch (`main`, or no --revision at all, which means main) is read again at every pod start, so a
push to the model repository between two scale-outs leaves two replicas serving different weights,
and a rollback of the environment file no longer brings the old weights back. `make model` resolves
a branch or tag to its commit (tools/model_entry.py). Mandatory in staging and prod; dev may follow a
branch, and the preview lists each such service as an advisory.
"""

from __future__ import annotations

import re

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from policies.rules.base import DEFAULT_ENFORCEMENT
from policies.rules.pods import Container, pod_of, served_location, served_model
from runtimes import REGISTRY, Runtime
from settings.mirror import mirrored
from settings.service_base import ServiceBase

COMMIT = re.compile(r"[0-9a-f]{40}")
_SHORT_COMMIT = re.compile(r"[0-9a-f]{7,39}")


def downloads_from_hub(runtime: Runtime[ServiceBase]) -> bool:
    """Whether the server fetches its model from the Hub (its facts give it a Hugging Face cache)."""
    try:
        return runtime.facts.hf_home is not None
    except LookupError:  # a custom runtime's facts come per service, and its image fetches its own weights
        return False


def model_source(server: Container) -> str:
    """Where a server that does not read the Hub gets its model: a gs:// argument, else its image."""
    for arg in server.args:
        if "gs://" in arg:
            return arg[arg.index("gs://") :]
    image = server.spec.get("image")
    return f"the image {image}" if isinstance(image, str) else "its image"


def unpinned(service: str, model: str, revision: str | None) -> str | None:
    """Why `revision` does not pin the weights of `service`, with the fix; None for a 40-hex commit."""
    if revision is not None and COMMIT.fullmatch(revision):
        return None
    ref = revision or "main"
    fix = f"pin the commit: make model MODEL={model} REVISION={ref} prints it"
    if revision is None:
        why = "no revision: the server loads main, a moving branch"
    elif _SHORT_COMMIT.fullmatch(revision):
        why = f"revision {revision!r} is an abbreviated commit, which the Hub resolves like a branch name"
    elif revision == "main":
        why = "revision 'main' is a moving branch"
    else:
        why = f"revision {revision!r} is a branch or tag, and either can move"
    return f"services.{service}: {why}: two replicas may serve different weights — {fix}"


def _revision_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    pod = pod_of(args.resource_type, args.props)
    if pod is None or pod.runtime is None:
        return  # not a model server
    known, server = REGISTRY.get(pod.runtime), pod.server()
    if known is None or server is None:
        args.not_applicable(f"no server container of a known runtime (label {pod.runtime!r})")
        return
    if not downloads_from_hub(known):
        args.not_applicable(f"the model comes from {model_source(server)}, not the Hub")
        return
    location = served_location(known.name, server.args) or ""
    if copy := mirrored(location):
        # The mirror's path names the commit (config refuses a mirror load without a 40-hex one).
        message = unpinned(pod.name, copy[0], copy[1])
        if message:
            report(message, None)
        return
    model = served_model(known.name, server.args) or "<org>/<name>"
    message = unpinned(pod.name, model, known.flag_value(server.args, "revision"))
    if message:
        report(message, None)


revision_pinned = ResourceValidationPolicy(
    name="revision-pinned",
    description="Every model server that downloads from the Hugging Face Hub names a 40-hex commit as its "
    "--revision, so every replica and every restart serves the same weights.",
    validate=_revision_pinned,
    enforcement_level=DEFAULT_ENFORCEMENT,
)
