"""make bench's baseline: the SDK modules it imports are the ones the program's registered types live in."""

from __future__ import annotations

import importlib

from bench.sdk import CUSTOM_RESOURCES, load, modules


def test_each_type_token_maps_to_its_sdk_module() -> None:
    resources = [
        {"type": t}
        for t in (
            "gcp:compute/routerNat:RouterNat",
            "gcp:container/nodePool:NodePool",
            "kubernetes:apps/v1:Deployment",
            "kubernetes:apiregistration.k8s.io/v1:APIService",
            "random:index/randomPassword:RandomPassword",
            "gke-serving:serving:ModelServer",  # a component: nothing to import
        )
    ]
    assert modules(resources) == [
        "pulumi_gcp.compute",
        "pulumi_gcp.container",
        "pulumi_kubernetes.apiregistration.v1",
        "pulumi_kubernetes.apps.v1",
        "pulumi_random",
    ]
    for name in modules(resources):
        assert importlib.import_module(name).__name__ == name


def test_a_kind_without_a_module_loads_the_custom_resource_module() -> None:
    load("pulumi_kubernetes.no_such_group.v1")
    assert importlib.import_module(CUSTOM_RESOURCES).CustomResource.__name__ == "CustomResource"
