"""make bench's baseline: the SDK modules it imports are the ones the program's registered types live in."""

from __future__ import annotations

from bench.sdk import CUSTOM_RESOURCES, classes, load


def test_each_type_token_maps_to_its_sdk_class() -> None:
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
    assert classes(resources) == [
        ("pulumi_gcp.compute", "RouterNat"),
        ("pulumi_gcp.container", "NodePool"),
        ("pulumi_kubernetes.apiregistration.v1", "APIService"),
        ("pulumi_kubernetes.apps.v1", "Deployment"),
        ("pulumi_random", "RandomPassword"),
    ]
    for module, name in classes(resources):
        found = load(module, name)
        assert (found.__name__, found.__module__.startswith(module)) == (name, True)


def test_a_kind_without_a_class_loads_the_custom_resource_class() -> None:
    assert load("pulumi_kubernetes.gateway.v1", "Gateway").__name__ == CUSTOM_RESOURCES[1]
