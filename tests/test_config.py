"""Validation of environment files: each rule, good and bad, with the exact message."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from config import InvalidEnvironment, parse_environment

VALID: dict[str, Any] = {
    "gcp:project": "acme-ml-dev",
    "gcp:region": "us-central1",
    "gke-serving:hfToken": "placeholder",
    "gke-serving:cluster": {"name": "serving-dev", "location": "us-central1-a"},
    "gke-serving:nodePools": {
        "l4": {"machineType": "g2-standard-8", "gpu": {"type": "nvidia-l4", "count": 1}, "maxNodes": 4},
        "l4x2": {"machineType": "g2-standard-24", "gpu": {"type": "nvidia-l4", "count": 2}, "maxNodes": 2},
        "t4": {"machineType": "n1-standard-8", "gpu": {"type": "nvidia-tesla-t4", "count": 1}, "maxNodes": 1},
        "a100": {"machineType": "a2-highgpu-1g", "gpu": {"type": "nvidia-tesla-a100", "count": 1}},
    },
    "gke-serving:services": {
        "embed": {"runtime": "tei", "model": "BAAI/bge-m3", "pool": "l4"},
        "llm": {"runtime": "tgi", "model": "google/gemma-2b", "pool": "l4"},
    },
}


def env_with(**changes: Any) -> dict[str, Any]:
    """VALID with `section__key=value` changes; a value of ... deletes the key."""
    env = copy.deepcopy(VALID)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = env
        for part in parents:
            node = node[part.replace("_", ":", 1) if part in ("gcp_project", "gke_serving") else part]
        if value is ...:
            del node[last]
        else:
            node[last] = value
    return env


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidEnvironment) as caught:
        parse_environment(raw)
    return [str(p) for p in caught.value.problems]


def with_service(**service: Any) -> dict[str, Any]:
    env = copy.deepcopy(VALID)
    env["gke-serving:services"] = {"svc": service}
    return env


def with_pool(**pool: Any) -> dict[str, Any]:
    env = copy.deepcopy(VALID)
    env["gke-serving:nodePools"] = {"p": pool}
    env["gke-serving:services"] = {}
    return env


def test_valid_environment_parses() -> None:
    env = parse_environment(VALID)
    assert env.zones == ("us-central1-a",)
    assert set(env.node_pools) == {"l4", "l4x2", "t4", "a100"}
    assert env.services["embed"].runtime == "tei"
    assert env.warnings == ()


def test_regional_cluster_spans_every_zone_of_the_region() -> None:
    raw = copy.deepcopy(VALID)
    raw["gke-serving:cluster"]["location"] = "us-central1"
    assert parse_environment(raw).zones == ("us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {k: v for k, v in VALID.items() if k != "gke-serving:hfToken"},
            "gke-serving:hfToken: required key is missing — run `pulumi config set --secret hfToken hf_...` "
            "(a read token from huggingface.co)",
        ),
        (
            {**VALID, "gke-serving:service": {}},
            "gke-serving:service: unknown key — did you mean 'gke-serving:services'?",
        ),
        (
            {**VALID, "gcp:project": "Acme"},
            "gcp:project: 'Acme' is not a GCP project id — use 6-30 lowercase letters, digits and hyphens, "
            "starting with a letter",
        ),
        (
            {**VALID, "gcp:region": "us-centrall1"},
            "gcp:region: unknown region 'us-centrall1' — did you mean 'us-central1'?",
        ),
        (
            {**VALID, "gke-serving:nodePools": {}},
            "gke-serving:nodePools: no GPU pool is defined — add at least one pool",
        ),
    ],
)
def test_top_level_problems(raw: dict[str, Any], expected: str) -> None:
    assert expected in problems(raw)


@pytest.mark.parametrize(
    ("cluster", "expected"),
    [
        (
            {"name": "serving-dev", "location": "europe-west4-a"},
            "gke-serving:cluster.location: 'europe-west4-a' is neither the region us-central1 nor one of its zones — "
            "use us-central1 (regional) or one of us-central1-a, us-central1-b, us-central1-c, us-central1-f",
        ),
        (
            {"name": "serving-dev", "location": "us-central1", "releseChannel": "STABLE"},
            "gke-serving:cluster.releseChannel: unknown key — did you mean 'releaseChannel'?",
        ),
        (
            {"name": "serving-dev", "location": "us-central1", "releaseChannel": "FAST"},
            "gke-serving:cluster.releaseChannel: 'FAST' is not allowed — use one of 'RAPID', 'REGULAR', 'STABLE' or "
            "'EXTENDED'",
        ),
        (
            {"name": "Serving_Dev", "location": "us-central1"},
            "gke-serving:cluster.name: 'Serving_Dev' does not have the expected form — match the pattern "
            "^[a-z]([-a-z0-9]*[a-z0-9])?$",
        ),
        (
            {"name": "serving-dev", "location": "us-central1", "privateNodes": "yes please"},
            "gke-serving:cluster.privateNodes: 'yes please' is not true or false — write true or false",
        ),
        (
            {
                "name": "serving-dev",
                "location": "us-central1",
                "controlPlane": {"authorizedNetworks": [{"name": "world", "cidr": "0.0.0.0/0"}]},
            },
            "gke-serving:cluster.controlPlane.authorizedNetworks.world: 0.0.0.0/0 opens the control plane to the "
            "internet — list the CIDR blocks of your offices and CI runners, or use dnsEndpoint",
        ),
        (
            {"name": "serving-dev", "location": "us-central1", "network": {"podsCidr": "10.10.0.0/16"}},
            "gke-serving:cluster.network.subnetCidr: 10.10.0.0/20 overlaps podsCidr 10.10.0.0/16 — choose disjoint "
            "ranges",
        ),
        (
            {"name": "serving-dev", "location": "us-central1", "network": {"subnetCidr": "10.10.0.300/20"}},
            "gke-serving:cluster.network.subnetCidr: '10.10.0.300/20' is not an IPv4 CIDR block — write it like "
            "10.0.0.0/20",
        ),
        (
            {"name": "serving-dev", "location": "us-central1", "network": {"existingNetwork": "shared"}},
            "gke-serving:cluster.network: existingNetwork and existingSubnetwork must be given together — name both, "
            "or neither to let the stack create the VPC",
        ),
        (
            {"name": "serving-dev", "location": "us-central1", "systemPool": {"minNodes": 3, "maxNodes": 2}},
            "gke-serving:cluster.systemPool.minNodes: minNodes (3) is above maxNodes (2) — raise maxNodes or lower "
            "minNodes",
        ),
    ],
)
def test_cluster_problems(cluster: dict[str, Any], expected: str) -> None:
    assert expected in problems({**VALID, "gke-serving:cluster": cluster})


@pytest.mark.parametrize(
    ("pool", "expected"),
    [
        (
            {"machineType": "g2-standard-8", "gpu": {"type": "nvidia-tesla-a100", "count": 1}},
            "gke-serving:nodePools.p.machineType: g2-standard-8 carries 1 x nvidia-l4, not 1 x nvidia-tesla-a100 — "
            "use machineType a2-highgpu-1g",
        ),
        (
            {"machineType": "g2-standard-8", "gpu": {"type": "nvidia-l4", "count": 2}},
            "gke-serving:nodePools.p.machineType: g2-standard-8 carries 1 x nvidia-l4, not 2 x nvidia-l4 — use "
            "machineType g2-standard-24",
        ),
        (
            {
                "machineType": "a2-highgpu-2g",
                "gpu": {"type": "nvidia-tesla-a100", "count": 2},
                "minNodes": 3,
                "maxNodes": 1,
            },
            "gke-serving:nodePools.p.minNodes: minNodes (3) is above maxNodes (1) — raise maxNodes or lower minNodes",
        ),
        (
            {"machineType": "n1-standard-8", "gpu": {"type": "nvidia-tesla-t4", "count": 3}},
            "gke-serving:nodePools.p.machineType: n1-standard-8 attaches nvidia-tesla-t4 in counts of 1, 2, 4, not 3 — "
            "use a GPU count the machine can attach",
        ),
        (
            {"machineType": "n1-standard-8", "gpu": {"type": "nvidia-l4", "count": 1}},
            "gke-serving:nodePools.p.machineType: n1-standard-8 cannot attach nvidia-l4 (N1 attaches nvidia-tesla-t4, "
            "nvidia-tesla-v100, nvidia-tesla-p4, nvidia-tesla-p100) — use machineType g2-standard-4",
        ),
        (
            {"machineType": "g2-standard-7", "gpu": {"type": "nvidia-l4", "count": 1}},
            "gke-serving:nodePools.p.machineType: unknown GPU machine type 'g2-standard-7' — did you mean "
            "'g2-standard-8'?",
        ),
        (
            {"machineType": "g2-standard-8", "gpu": {"type": "nvidia-l40", "count": 1}},
            "gke-serving:nodePools.p.gpu.type: unknown GPU 'nvidia-l40' — did you mean 'nvidia-l4'?",
        ),
        (
            {"machineType": "g2-standard-8", "gpu": {"type": "nvidia-l4", "count": 1}, "zones": ["europe-west4-a"]},
            "gke-serving:nodePools.p.zones: 'europe-west4-a' is not a zone of us-central1 — use zones among "
            "us-central1-a, us-central1-b, us-central1-c, us-central1-f",
        ),
        (
            {"machineType": "g2-standard-8", "gpu": {"type": "nvidia-l4", "count": "one"}},
            "gke-serving:nodePools.p.gpu.count: 'one' is not a whole number — write digits only, e.g. 4",
        ),
        (
            {"machineType": "g2-standard-8", "gpu": {"type": "nvidia-l4", "count": 1}, "spto": True},
            "gke-serving:nodePools.p.spto: unknown key — did you mean 'spot'?",
        ),
        (
            {"machineType": "g2-standard-8"},
            "gke-serving:nodePools.p.gpu: required key is missing — add it (see the "
            "environment-file reference in README.md)",
        ),
    ],
)
def test_node_pool_problems(pool: dict[str, Any], expected: str) -> None:
    assert expected in problems(with_pool(**pool))


def test_pool_names_must_be_dns_labels() -> None:
    raw = copy.deepcopy(VALID)
    raw["gke-serving:nodePools"]["GPU_Pool"] = raw["gke-serving:nodePools"].pop("t4")
    assert (
        "gke-serving:nodePools.GPU_Pool: 'GPU_Pool' is not a valid name — use at most 30 lowercase letters, "
        "digits and hyphens, starting with a letter"
    ) in problems(raw)


def test_every_problem_is_reported_at_once() -> None:
    raw = copy.deepcopy(VALID)
    raw["gke-serving:cluster"]["releaseChannel"] = "FAST"
    raw["gke-serving:nodePools"]["l4"]["maxNodes"] = "many"
    raw["gke-serving:services"]["embed"]["runtime"] = "onnx"
    found = problems(raw)
    assert len(found) == 3
    assert found[2] == "gke-serving:services.embed: unknown runtime 'onnx' — use one of 'tei', 'tgi', 'vllm', 'triton'"
