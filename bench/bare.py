"""The baseline: the same resources, registered flat and without any of the program's logic.

It replays a plan.json's registrations (type, name and the very same input payloads) as plain
custom resources under the same mock engine, so the difference to the preview is what the
preview adds: config validation, components, rendering, plan and manifests, schemas, policies.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await


class _Echo(pulumi.runtime.Mocks):
    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], None]:  # noqa: ARG002
        return {}, None


def replay(resources: list[dict[str, Any]]) -> None:
    mock = _Echo()
    pulumi.runtime.set_mocks(mock, project="bench", stack="bare", preview=False, monitor=mocks.MockMonitor(mock))

    def program() -> None:
        for r in resources:
            pulumi.CustomResource(r["type"], r["name"], dict(r["inputs"]))

    _sync_await(run_pulumi_func(program))


if __name__ == "__main__":
    replay(json.loads(Path(sys.argv[1]).read_text())["resources"])
