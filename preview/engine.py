"""Run the real Pulumi program under the SDK's mock engine and record what it registers."""

from __future__ import annotations

import logging
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from preview.envfile import StackConfig
from preview.mocks import GcpAndKubernetesMocks

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Registration:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    provider: str
    inputs: dict[str, Any]
    options: dict[str, Any]


def _provider_urn(reference: str) -> str | None:
    """A provider reference is `<urn>::<id>`; the URN names it."""
    return reference.rsplit("::", 1)[0] if reference else None


def resource_options(request: Any) -> dict[str, Any]:
    """The options a resource was registered with, as the engine receives them (plan.json `options`)."""
    timeouts = request.customTimeouts
    return {
        "customTimeouts": {k: getattr(timeouts, k) for k in ("create", "update", "delete") if getattr(timeouts, k)},
        "dependsOn": sorted(request.dependencies),
        "provider": _provider_urn(request.provider),
        "protect": bool(request.protect),
        "deleteBeforeReplace": bool(request.deleteBeforeReplace),
        "ignoreChanges": list(request.ignoreChanges),
        "replaceOnChanges": list(request.replaceOnChanges),
        "retainOnDelete": bool(request.retainOnDelete),
    }


@dataclass
class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, also keeping each resource's inputs as sent (secrets still marked)."""

    mocks: pulumi_mocks.Mocks
    registrations: list[Registration] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.mocks)

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        inputs = rpc.deserialize_properties(request.object)
        args = pulumi_mocks.MockResourceArgs(
            typ=request.type,
            name=request.name,
            inputs=inputs,
            provider=request.provider,
            resource_id=request.importId,
            custom=request.custom or False,
            transforms=[],
        )
        resource_id, state = self.mocks.new_resource(args)
        self.registrations.append(
            Registration(
                urn,
                request.type,
                request.name,
                request.parent,
                bool(request.custom),
                request.provider,
                inputs,
                resource_options(request),
            )
        )
        self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, resource_id or "", state)
        state_proto = _sync_await(rpc.serialize_properties(state, {}))
        return resource_pb2.RegisterResourceResponse(urn=urn, id=resource_id or "", object=state_proto)


@dataclass(frozen=True)
class ProgramRun:
    registrations: list[Registration]
    outputs: dict[str, Any]
    secret_outputs: frozenset[str]


def run_program(
    project: str,
    stack: str,
    config: StackConfig,
    *,
    logger: logging.Logger | None = None,
    program: Path = ROOT / "__main__.py",
) -> ProgramRun:
    """Run `program` as `pulumi up` would, against mocks. Exceptions from the program propagate."""
    mocks = GcpAndKubernetesMocks(project=config.values.get("gcp:project", "preview-project"), stack=stack)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor, logger=logger)
    pulumi.runtime.set_all_config(dict(config.values), list(config.secret_keys))

    def program_main() -> None:
        runpy.run_path(str(program), run_name="__main__")

    _sync_await(run_pulumi_func(program_main))
    root = settings.get_root_resource()
    exported: dict[str, Any] = dict(getattr(root, "outputs", {}))
    outputs, secret = {}, set()
    for key, value in exported.items():
        out = pulumi.Output.from_input(value)
        outputs[key] = _sync_await(out.future())
        if _sync_await(out.is_secret()):
            secret.add(key)
    return ProgramRun(monitor.registrations, outputs, frozenset(secret))
