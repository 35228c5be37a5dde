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

# package -> (its Python package, how many segments of a type token's module name its module path keeps): the
# gcp and random tokens name module/file (gcp:compute/routerNat:RouterNat), kubernetes group/version
# (kubernetes:apps/v1:Deployment).
PACKAGES = {"gcp": ("pulumi_gcp", 1), "kubernetes": ("pulumi_kubernetes", 2), "random": ("pulumi_random", 1)}


def modules(resources: list[dict[str, Any]]) -> list[str]:
    """The SDK module of each registered type: gcp:container/cluster:Cluster -> pulumi_gcp.container,
    kubernetes:apps/v1:Deployment -> pulumi_kubernetes.apps.v1, random:index/... -> pulumi_random."""
    found = set()
    for r in resources:
        package, module, _ = r["type"].split(":")
        if package in PACKAGES:
            root, keep = PACKAGES[package]
            # apiregistration.k8s.io/v1 -> apiregistration.v1
            parts = [part.split(".")[0] for part in module.split("/")[:keep] if part != "index"]
            found.add(".".join([root, *parts]))
    return sorted(found)


# A kind the SDK has no module for is a custom resource, registered through apiextensions.CustomResource.
CUSTOM_RESOURCES = "pulumi_kubernetes.apiextensions"


def load(name: str) -> None:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError:
        importlib.import_module(CUSTOM_RESOURCES)


if __name__ == "__main__":
    for module in modules(json.loads(Path(sys.argv[1]).read_text())["resources"]):
        load(module)
