"""The pack's stack policies: GPU placement against the stack's node pools, and the budget ceilings."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy import PolicyResource, StackValidationArgs, StackValidationPolicy
from pulumi_policy.proxy import unknown_checking_proxy

from policies.rules.budget import allowed_gpu_types, max_gpus_at_max_scale, monthly_cost_ceiling
from policies.rules.placement import gpu_fits_node, gpu_workload_targets_accelerator
from policies.rules.pools import gpu_pool
from sizing.cost import HOURS_PER_MONTH, hourly_price
from tests.test_policy_rules import DEPLOYMENT, NODE_POOL, OPTS, deployment, node_pool, server, urn

Resource = tuple[str, str, dict[str, Any]]  # (type, name, props)


def violations(
    policy: StackValidationPolicy, resources: list[Resource], config: dict[str, Any] | None = None
) -> list[tuple[str, str | None]]:
    """(message, urn) of every violation."""
    found: list[tuple[str, str | None]] = []

    def report(message: str, at: str | None = None) -> None:
        found.append((message, at))

    stack = [
        PolicyResource(type_, unknown_checking_proxy(props), urn(type_, name), name, OPTS, None, None, [], {})
        for type_, name, props in resources
    ]
    policy.validate(StackValidationArgs(stack, config or {}), report)
    return found


L4 = (NODE_POOL, "l4-pool", node_pool("l4", "g2-standard-12", "nvidia-l4", 1, min_nodes=2, max_nodes=8))
L4X2 = (NODE_POOL, "l4x2-pool", node_pool("l4x2", "g2-standard-24", "nvidia-l4", 2, max_nodes=2))
A100 = (NODE_POOL, "a100-pool", node_pool("a100", "a2-highgpu-2g", "nvidia-tesla-a100", 2, min_nodes=1, max_nodes=2))
H100 = (NODE_POOL, "h100-pool", node_pool("h100", "a3-highgpu-2g", "nvidia-h100-80gb", 2, max_nodes=2))
SYSTEM = (NODE_POOL, "system", node_pool("system", "n2-standard-4", None, max_nodes=4))
PROD_POOLS = [L4, A100, H100, SYSTEM]  # environments/Pulumi.prod.yaml


def workload(name: str, props: dict[str, Any]) -> Resource:
    return (DEPLOYMENT, f"{name}-deployment", props)


def gemma(**placement: Any) -> Resource:
    return workload("gemma", deployment(server("google/gemma-7b-AWQ"), name="gemma", **placement))


def llama(gpus: str = "2", **placement: Any) -> Resource:
    props = deployment(server("--model-id=m/x", "--num-shard=2", gpus=gpus), name="llama", runtime="tgi", **placement)
    return workload("llama", props)


GEMMA_URN = urn(DEPLOYMENT, "gemma-deployment")
LLAMA_URN = urn(DEPLOYMENT, "llama-deployment")

# --- gpu-workload-targets-accelerator -------------------------------------------------------------

TARGETS: list[tuple[str, list[Resource], list[tuple[str, str | None]]]] = [
    ("a pod on its pool", [L4, A100, gemma()], []),
    ("the accelerator without a pool name", [L4, A100, gemma(pool=None)], []),
    (
        "a CPU workload",
        [L4, workload("web", deployment(server(gpus=None), runtime=None, accelerator=None, pool=None))],
        [],
    ),
    (
        "no accelerator selector",
        [L4, A100, gemma(accelerator=None, pool=None)],
        [
            (
                "Deployment gemma asks for 1 nvidia.com/gpu but sets no nodeSelector cloud.google.com/gke-accelerator "
                "— select one the stack provides (nvidia-l4, nvidia-tesla-a100)",
                GEMMA_URN,
            )
        ],
    ),
    (
        "a GPU type no pool provides",
        [L4, A100, gemma(accelerator="nvidia-h100-80gb", pool=None)],
        [
            (
                "Deployment gemma selects cloud.google.com/gke-accelerator=nvidia-h100-80gb, which no node pool of "
                "the stack provides (GPU pools: l4: nvidia-l4, a100: nvidia-tesla-a100)",
                GEMMA_URN,
            )
        ],
    ),
    (
        "a pool that carries another GPU",
        [L4, A100, gemma(accelerator="nvidia-l4", pool="a100")],
        [
            (
                "Deployment gemma selects cloud.google.com/gke-nodepool=a100 and "
                "cloud.google.com/gke-accelerator=nvidia-l4, but pool a100 carries nvidia-tesla-a100 "
                "(GPU pools: l4: nvidia-l4, a100: nvidia-tesla-a100)",
                GEMMA_URN,
            )
        ],
    ),
    (
        "a pool the stack does not have",
        [L4, SYSTEM, gemma(pool="h100")],
        [
            (
                "Deployment gemma selects cloud.google.com/gke-nodepool=h100 and "
                "cloud.google.com/gke-accelerator=nvidia-l4, but pool h100 is not a GPU node pool of the stack "
                "(GPU pools: l4: nvidia-l4)",
                GEMMA_URN,
            )
        ],
    ),
    (
        "a stack without GPU pools",
        [SYSTEM, gemma()],
        [
            (
                "Deployment gemma selects cloud.google.com/gke-accelerator=nvidia-l4, which no node pool of the "
                "stack provides (GPU pools: none)",
                GEMMA_URN,
            )
        ],
    ),
]


@pytest.mark.parametrize(("case", "resources", "expected"), TARGETS, ids=[c[0] for c in TARGETS])
def test_gpu_workload_targets_accelerator(
    case: str, resources: list[Resource], expected: list[tuple[str, str | None]]
) -> None:
    assert violations(gpu_workload_targets_accelerator, resources) == expected, case


# --- gpu-fits-node --------------------------------------------------------------------------------

FITS: list[tuple[str, list[Resource], list[tuple[str, str | None]]]] = [
    ("2 GPUs on a 2-GPU node", [L4, A100, llama(accelerator="nvidia-tesla-a100", pool="a100")], []),
    ("1 GPU on a 1-GPU node", [L4, gemma()], []),
    ("2 L4s where one pool of L4s has 2 per node", [L4, L4X2, llama(pool=None)], []),
    (
        "2 L4s on the 1-L4 pool it names",
        [L4, L4X2, llama(pool="l4")],
        [
            (
                "Deployment llama asks for 2 x nvidia-l4 per pod, but a node of pool l4 (g2-standard-12) has 1 — the "
                "pod can never be scheduled; use a pool of g2-standard-24, or split the model over fewer GPUs",
                LLAMA_URN,
            )
        ],
    ),
    (
        "16 A100s, beyond any one A2 machine",
        [A100, llama(gpus="16", accelerator="nvidia-tesla-a100", pool="a100")],
        [
            (
                "Deployment llama asks for 16 x nvidia-tesla-a100 per pod, but a node of pool a100 (a2-highgpu-2g) "
                "has 2 — the pod can never be scheduled; use a pool of a2-megagpu-16g, or split the model over "
                "fewer GPUs",
                LLAMA_URN,
            )
        ],
    ),
    (
        "3 L4s: no machine has exactly 3",
        [L4, llama(gpus="3", pool="l4")],
        [
            (
                "Deployment llama asks for 3 x nvidia-l4 per pod, but a node of pool l4 (g2-standard-12) has 1 — the "
                "pod can never be scheduled; use a machine type with 3 GPUs, or split the model over fewer GPUs",
                LLAMA_URN,
            )
        ],
    ),
    ("no matching pool is the other rule's finding", [A100, llama(pool="l4")], []),
]


@pytest.mark.parametrize(("case", "resources", "expected"), FITS, ids=[c[0] for c in FITS])
def test_gpu_fits_node(case: str, resources: list[Resource], expected: list[tuple[str, str | None]]) -> None:
    assert violations(gpu_fits_node, resources) == expected, case


# --- node counts the ceilings read ----------------------------------------------------------------

NODE_COUNTS = [
    ("total counts", node_pool(min_nodes=2, max_nodes=8), (2, 8)),
    ("the engine's floats", node_pool(min_nodes=1.0, max_nodes=3.0), (1, 3)),  # type: ignore[arg-type]
    (
        "per-zone counts x node locations",
        node_pool(autoscaling={"minNodeCount": 1, "maxNodeCount": 2}, node_locations=["a", "b", "c"]),
        (3, 6),
    ),
    ("per-zone counts in a zonal pool", node_pool(autoscaling={"maxNodeCount": 2}, location="us-central1-a"), (1, 2)),
    ("a fixed-size regional pool: three zones", {**node_pool(autoscaling={}), "nodeCount": 2}, (6, 6)),
]


@pytest.mark.parametrize(("case", "props", "expected"), NODE_COUNTS, ids=[c[0] for c in NODE_COUNTS])
def test_node_counts(case: str, props: dict[str, Any], expected: tuple[int, int]) -> None:
    pool = gpu_pool("urn", "r", unknown_checking_proxy(props))
    assert pool is not None
    assert (pool.min_nodes, pool.max_nodes) == expected, case


# --- max-gpus-at-max-scale -----------------------------------------------------------------------

PROD_GPUS = "l4: 8 x 1, a100: 2 x 2, h100: 2 x 2"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"maxGpus": 16}, []),  # exactly at the ceiling
        ({"maxGpus": 20.0}, []),  # the engine sends config numbers as floats
        (
            {"maxGpus": 15},
            [
                f"the GPU node pools reach 16 GPUs at max scale ({PROD_GPUS}), above the ceiling of 15 — lower "
                "maxNodes, or raise maxGpus in the policy config (and the project's GPU quota)"
            ],
        ),
        (
            {},  # no config: the pack's default of 8
            [
                f"the GPU node pools reach 16 GPUs at max scale ({PROD_GPUS}), above the ceiling of 8 — lower "
                "maxNodes, or raise maxGpus in the policy config (and the project's GPU quota)"
            ],
        ),
    ],
)
def test_max_gpus_at_max_scale(config: dict[str, Any], expected: list[str]) -> None:
    found = violations(max_gpus_at_max_scale, [*PROD_POOLS, gemma()], config)
    assert found == [(message, None) for message in expected]


# --- allowed-gpu-types ----------------------------------------------------------------------------


def test_allowed_gpu_types_names_each_pool_outside_the_list() -> None:
    found = violations(allowed_gpu_types, PROD_POOLS, {"gpuTypes": ["nvidia-l4", "nvidia-tesla-t4"]})
    assert found == [
        (
            "node pool a100 uses nvidia-tesla-a100, which this environment does not allow "
            "(allowed: nvidia-l4, nvidia-tesla-t4)",
            urn(NODE_POOL, "a100-pool"),
        ),
        (
            "node pool h100 uses nvidia-h100-80gb, which this environment does not allow "
            "(allowed: nvidia-l4, nvidia-tesla-t4)",
            urn(NODE_POOL, "h100-pool"),
        ),
    ]


def test_allowed_gpu_types_passes_listed_types_and_defaults_to_the_catalog() -> None:
    assert (
        violations(allowed_gpu_types, PROD_POOLS, {"gpuTypes": ["nvidia-l4", "nvidia-tesla-a100", "nvidia-h100-80gb"]})
        == []
    )
    assert violations(allowed_gpu_types, PROD_POOLS) == []


# --- monthly-cost-ceiling -------------------------------------------------------------------------


def test_the_cost_is_the_preview_price_at_max_nodes() -> None:
    # 8 x g2-standard-12 on demand is the l4 figure in the message below.
    price = hourly_price("g2-standard-12", "us-central1", spot=False)
    assert price is not None
    assert f"{8 * price * HOURS_PER_MONTH:,.0f}" == "5,842"


PROD_COST = "48,868 USD/month at max nodes (GPU pools 48,868: l4: 5,842, a100: 10,726, h100: 32,299)"

COSTS: list[tuple[str, list[Resource], dict[str, Any], list[str]]] = [
    ("prod under its ceiling", PROD_POOLS, {"maxMonthlyUsd": 60000}, []),
    (
        "prod over a lower ceiling",
        PROD_POOLS,
        {"maxMonthlyUsd": 40000},
        [
            f"the environment costs up to {PROD_COST}, above the ceiling of 40,000 USD — lower maxNodes, use "
            "spot, or raise maxMonthlyUsd in the policy config"
        ],
    ),
    (
        "prod without a config: the default ceiling",
        PROD_POOLS,
        {},
        [
            f"the environment costs up to {PROD_COST}, above the ceiling of 10,000 USD — lower maxNodes, use "
            "spot, or raise maxMonthlyUsd in the policy config"
        ],
    ),
    (
        "spot L4s priced at the spot rate",
        [(NODE_POOL, "l4-pool", node_pool("l4", "g2-standard-8", max_nodes=3, spot=True))],
        {"maxMonthlyUsd": 500},
        [
            "the environment costs up to 1,051 USD/month at max nodes (GPU pools 1,051: l4: 1,051), above the ceiling "
            "of 500 USD — lower maxNodes, use spot, or raise maxMonthlyUsd in the policy config"
        ],
    ),
    (
        "europe-west4 is priced",
        [(NODE_POOL, "l4-pool", node_pool("l4", "g2-standard-8", max_nodes=3, location="europe-west4"))],
        {"maxMonthlyUsd": 100000},
        [],
    ),
    (
        "a row without a price is named",
        [(NODE_POOL, "mega-pool", node_pool("mega", "a3-megagpu-8g", max_nodes=1, location="us-central1"))],
        {"maxMonthlyUsd": 100000},
        [
            "no price for a3-megagpu-8g in us-central1 (sizing/prices.yaml regions.us-central1), so the monthly "
            "cost cannot be checked against the ceiling of 100,000 USD — add the row"
        ],
    ),
]


@pytest.mark.parametrize(("case", "resources", "config", "expected"), COSTS, ids=[c[0] for c in COSTS])
def test_monthly_cost_ceiling(
    case: str, resources: list[Resource], config: dict[str, Any], expected: list[str]
) -> None:
    assert violations(monthly_cost_ceiling, resources, config) == [(m, None) for m in expected], case
