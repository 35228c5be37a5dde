"""The node model against GKE's published figures and the cluster autoscaler's own formulas."""

from __future__ import annotations

import pytest

import catalog
from catalog.node_model import (
    MIB_PER_GIB,
    Resources,
    cluster_features,
    daemonsets_on,
    ephemeral_storage_mib,
    kernel_reserved_mib,
    node_shape,
    reserved_cpu_milli,
    reserved_memory_mib,
)
from infra.cluster import NODE_FEATURES
from tests.conftest import ENVIRONMENTS, Preview
from workloads.pod_resources import gpu_node_shape, pod_share

# plan-node-sizes' worked example: a node with a 100 GB boot disk reports ephemeral-storage capacity
# 98,831,908 Ki and allocatable 47,060,071,478 bytes.
PUBLISHED_CAPACITY_MIB = 98_831_908 / 1024
PUBLISHED_ALLOCATABLE_MIB = 47_060_071_478 / 2**20


def test_the_published_100_gb_example_is_reproduced_on_the_safe_side() -> None:
    capacity, allocatable = ephemeral_storage_mib(100, 0)
    # Within 128 MiB of GKE's figures, never above them: a pod the model admits also fits a real node.
    assert PUBLISHED_CAPACITY_MIB - 128 <= capacity <= PUBLISHED_CAPACITY_MIB
    assert PUBLISHED_ALLOCATABLE_MIB - 128 <= allocatable <= PUBLISHED_ALLOCATABLE_MIB


def test_a_200_gb_disk_gives_about_94_gib_not_disk_minus_60() -> None:
    # The first wave requested 140 Gi on a 200 GB disk; the node offers ~94 GiB to all its pods.
    _, allocatable = ephemeral_storage_mib(200, 0)
    assert 93 * MIB_PER_GIB < allocatable < 98 * MIB_PER_GIB


@pytest.mark.parametrize(("vcpus", "reserved"), [(1, 60), (2, 70), (4, 80), (8, 90), (64, 230)])
def test_cpu_reservation_tiers(vcpus: int, reserved: int) -> None:
    # 6 % of the first core, 1 % of the second, 0.5 % of the next two, 0.25 % above four;
    # observed: 4 vCPU -> 3920m allocatable, 64 -> 63770m.
    assert reserved_cpu_milli(vcpus) == reserved


def test_memory_reservation_tiers_plus_eviction() -> None:
    # 25 % of 4 + 20 % of 4 + 10 % of 8 + 6 % of 16 GiB = 3.56 GiB = 3645.4 MiB, then 100 MiB eviction.
    assert reserved_memory_mib(32) == 3646 + 100


def test_kernel_share_follows_the_cluster_autoscaler() -> None:
    # gce_reserved.go: mem/64 + 16 MiB + 64 MiB swiotlb + min(0.175 %, 248 MiB) on COS.
    assert kernel_reserved_mib(32) == round(32 * 1024 / 64 + 16 + 64 + 0.00175 * 32 * 1024 + 0.5)
    assert kernel_reserved_mib(468) == round(468 * 1024 / 64 + 16 + 64 + 248 + 0.5)


def test_local_ssds_back_ephemeral_storage_when_configured() -> None:
    one_capacity, one = ephemeral_storage_mib(100, 1)
    _, two = ephemeral_storage_mib(100, 2)
    assert 367 * MIB_PER_GIB < one_capacity < 375 * MIB_PER_GIB  # 375 GiB less the filesystem's overhead
    assert one < two
    assert one == pytest.approx(one_capacity * 0.9 - 50 * MIB_PER_GIB, abs=1)


def test_gpu_nodes_run_the_device_plugin_and_feature_daemonsets_only() -> None:
    cpu_node = {d.name for d in daemonsets_on(gpu=False, features=frozenset())}
    gpu_node = {d.name for d in daemonsets_on(gpu=True, features=NODE_FEATURES)}
    assert cpu_node == {"netd"}
    assert "nvidia-gpu-device-plugin" in gpu_node and "anetd" in gpu_node and "collector" in gpu_node
    with pytest.raises(ValueError, match="unknown cluster features"):
        daemonsets_on(gpu=True, features=frozenset({"istio"}))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_sizing_features_are_what_the_rendered_cluster_turns_on(previews: object, env: str) -> None:
    preview: Preview = previews(env)  # type: ignore[operator]
    (cluster,) = preview.resources("gcp:container/cluster:Cluster")
    for pool in preview.resources("gcp:container/nodePool:NodePool"):
        if pool["inputs"]["nodeConfig"].get("guestAccelerators"):
            assert cluster_features(cluster["inputs"], pool["inputs"]) == NODE_FEATURES


def test_image_streaming_reserves_memory_of_its_own() -> None:
    machine = catalog.machine_types()["g2-standard-8"]
    plain = node_shape(machine, 200, 0, gpu=True, features=NODE_FEATURES)
    streaming = node_shape(machine, 200, 0, gpu=True, features=NODE_FEATURES | {"image-streaming"})
    assert streaming.allocatable.memory_mib < plain.allocatable.memory_mib - 1024


@pytest.mark.parametrize(
    ("machine", "gpus_per_node", "gpus_per_pod"),
    [("g2-standard-8", 1, 1), ("g2-standard-24", 2, 1), ("a2-highgpu-2g", 2, 2), ("a3-highgpu-2g", 2, 2)],
)
def test_pods_that_fill_every_gpu_fit_the_node_together(machine: str, gpus_per_node: int, gpus_per_pod: int) -> None:
    shape = gpu_node_shape(catalog.machine_types()[machine], 200, 0)
    share = pod_share(shape, gpus_per_node, gpus_per_pod)
    per_pod = Resources(
        int(share.cpu.removesuffix("m")),
        int(share.memory.removesuffix("Mi")),
        int(share.ephemeral_storage.removesuffix("Gi")) * MIB_PER_GIB,
    )
    pods = gpus_per_node // gpus_per_pod
    together = Resources(per_pod.cpu_milli * pods, per_pod.memory_mib * pods, per_pod.ephemeral_mib * pods)
    assert together.fits(shape.free)
    # ... and they use the node: no more than the headroom and rounding is left unused.
    left = shape.free - together
    assert left.cpu_milli <= 200 + 100 * pods and left.memory_mib <= 1024 + 256 * pods


def test_a_pod_the_size_of_the_whole_machine_does_not_fit() -> None:
    shape = gpu_node_shape(catalog.machine_types()["a3-highgpu-2g"], 500, 0)
    # The first wave's request for prod qwen: 461,568 MiB of a 468 GB machine.
    assert not Resources(51_400, 461_568, 440 * MIB_PER_GIB).fits(shape.free)
