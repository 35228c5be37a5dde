"""The other half of the baseline: importing the provider SDK modules of the resource types a plan registers.

The bare engine (bench/bare.py) registers plain custom resources and never imports the generated provider
SDKs, which the program must import to register its resources (about 4 s on two cores for gcp, kubernetes
and random). The preview's floor is this import plus the bare engine; `make bench` prints the ratio to it.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

PACKAGES = {"gcp": "pulumi_gcp", "kubernetes": "pulumi_kubernetes", "random": "pulumi_random"}


def modules(resources: list[dict[str, Any]]) -> list[str]:
    """The SDK module of each registered type: gcp:container/cluster:Cluster -> pulumi_gcp.container,
    kubernetes:apps/v1:Deployment -> pulumi_kubernetes.apps.v1."""
    found = set()
    for r in resources:
        package, module, _ = r["type"].split(":")
        if package in PACKAGES:
            found.add(".".join([PACKAGES[package], *module.split("/")]) if module != "index" else PACKAGES[package])
    return sorted(found)


if __name__ == "__main__":
    for name in modules(json.loads(Path(sys.argv[1]).read_text())["resources"]):
        importlib.import_module(name)
