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


def classes(resources: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(SDK module, class) of each registered type: gcp:container/cluster:Cluster -> (pulumi_gcp.container,
    Cluster), kubernetes:apps/v1:Deployment -> (pulumi_kubernetes.apps.v1, Deployment), random:index/... ->
    (pulumi_random, ...). The SDKs load a class's file when it is first read from its module."""
    found = set()
    for r in resources:
        package, module, name = r["type"].split(":")
        if package in PACKAGES:
            root, keep = PACKAGES[package]
            # apiregistration.k8s.io/v1 -> apiregistration.v1
            parts = [part.split(".")[0] for part in module.split("/")[:keep] if part != "index"]
            found.add((".".join([root, *parts]), name))
    return sorted(found)


# A kind the SDK has no module for is a custom resource, registered through apiextensions.CustomResource.
CUSTOM_RESOURCES = ("pulumi_kubernetes.apiextensions", "CustomResource")


def load(module: str, name: str) -> type:
    """The SDK class, imported as the program imports it (the custom-resource class for a kind it lacks)."""
    try:
        found: type = getattr(importlib.import_module(module), name)
    except (ModuleNotFoundError, AttributeError):
        found = getattr(importlib.import_module(CUSTOM_RESOURCES[0]), CUSTOM_RESOURCES[1])
    return found


if __name__ == "__main__":
    for module, name in classes(json.loads(Path(sys.argv[1]).read_text())["resources"]):
        load(module, name)
