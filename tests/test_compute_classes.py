"""Compute classes: the config, the ComputeClass each renders, where pods land, and each option proven to serve."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from config import parse_environment
from config.compute_classes import CapacityOption, ComputeClassConfig
from config.services import ServiceConfig
from policies.evaluate import stack_resources, wrap
from policies.rules.budget import allowed_gpu_types, max_gpus_at_max_scale
from policies.rules.class_memory import class_options_fit_gpu_memory
from policies.rules.node_fit import pod_fits_node
from policies.rules.placement import gpu_fits_node, gpu_workload_targets_accelerator
from policies.rules.stack_cost import stack_cost
from sizing.cost import ClassCostInput, OptionCostInput, estimate_cost, hourly_price
from tests.conftest import Preview
from tests.test_config import VALID, problems
from tests.test_policy_rules import DEPLOYMENT, deployment, server
from tests.test_stack_policies import L4, SYSTEM, violations
from workloads.compute_class import compute_class_spec
from workloads.dashboard import Scope, ServiceMetrics, service_charts
from workloads.deployment import Placement, node_selector, tolerations
from workloads.model_server import node_share

COMPUTE_CLASS = "kubernetes:cloud.google.com/v1:ComputeClass"
L4_SPOT = {"machineType": "g2-standard-12", "gpu": {"type": "nvidia-l4", "count": 1}, "spot": True}
L4_SMALL = {"machineType": "g2-standard-8", "gpu": {"type": "nvidia-l4", "count": 1}}
A100 = {"machineType": "a2-highgpu-1g", "gpu": {"type": "nvidia-tesla-a100", "count": 1}}


def with_class(*options: dict[str, Any], service: dict[str, Any] | None = None, **cls: Any) -> dict[str, Any]:
    """VALID with a class `fallback` of `options` and a vLLM service `chat` on it (regional cluster)."""
    env = copy.deepcopy(VALID)
    env["gke-serving:cluster"]["location"] = "us-central1"
    env["gke-serving:computeClasses"] = {"fallback": {"options": list(options), **cls}}
    env["gke-serving:services"] = {
        "chat": service
        or {"runtime": "vllm", "model": "Qwen/Qwen2.5-7B-Instruct-AWQ", "computeClass": "fallback", "maxModelLen": 4096}
    }
    return env


def option(**fields: Any) -> CapacityOption:
    return CapacityOption.model_validate(fields)


def test_a_service_on_a_class_lands_on_each_option_in_order_in_the_zones_that_offer_its_gpu() -> None:
    reserved = {**L4_SMALL, "reservation": {"name": "l4-base", "machineType": "g2-standard-8", "zone": "us-central1-b"}}
    env = parse_environment(with_class(reserved, L4_SPOT, A100))
    shapes = env.shapes(env.services["chat"])
    assert [(s.where, s.pool.machine_type, s.zones) for s in shapes] == [
        ("option 0 (g2-standard-8 reservation) of class fallback", "g2-standard-8", ("us-central1-b",)),
        (
            "option 1 (g2-standard-12 spot) of class fallback",
            "g2-standard-12",
            ("us-central1-a", "us-central1-b", "us-central1-c"),
        ),
        # catalog/gpu_zones.yaml: A100 also in us-central1-f, L4 not.
        (
            "option 2 (a2-highgpu-1g on-demand) of class fallback",
            "a2-highgpu-1g",
            ("us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"),
        ),
    ]
    # An auto-created node pool's boot disk is GKE's 100 GB unless the option sets bootDiskSizeGb.
    assert [s.pool.disk_size_gb for s in shapes] == [100, 100, 100]


CLASS_PROBLEMS = [
    (
        "a flex-start node replaced no sooner than it ends",
        with_class({**L4_SMALL, "flexStart": {"maxRunDurationSeconds": 3600, "nodeRecyclingLeadTimeSeconds": 3600}}),
        "gke-serving:computeClasses.fallback.options.0.flexStart: nodeRecyclingLeadTimeSeconds (3600) is not below "
        "maxRunDurationSeconds (3600) — nodes would be replaced as soon as they start; lower it",
    ),
    (
        "a reservation is neither spot nor flex-start",
        with_class({**L4_SPOT, "reservation": {"name": "r", "machineType": "g2-standard-12", "zone": "us-central1-a"}}),
        "gke-serving:computeClasses.fallback.options.0: spot and reservation are separate provisioning models — keep "
        "one per option, and put the other in an option of its own",
    ),
    (
        "a reservation pins its zone",
        with_class(
            {
                **L4_SMALL,
                "zones": ["us-central1-a"],
                "reservation": {"name": "r", "machineType": "g2-standard-8", "zone": "us-central1-c"},
            }
        ),
        "gke-serving:computeClasses.fallback.options.0.zones: reservation r holds capacity in us-central1-c only — "
        "remove zones: the option's nodes go to the reservation's zone",
    ),
    (
        "a cluster too old to create a class's node pools",
        {
            **with_class(L4_SPOT),
            "gke-serving:cluster": {"name": "c", "location": "us-central1", "kubernetesVersion": "1.32"},
        },
        "gke-serving:cluster.kubernetesVersion: compute classes need GKE 1.33 (1.33.3-gke.1136000 or later) to create "
        "their node pools, and the cluster is on 1.32 — set kubernetesVersion to 1.33 or later (and a release channel "
        "that has it), or serve the services from node pools",
    ),
    (
        "a shared reservation's project, as GCP spells project ids",
        with_class(
            {
                **L4_SMALL,
                "reservation": {
                    "name": "r",
                    "project": "Acme",
                    "machineType": "g2-standard-8",
                    "zone": "us-central1-a",
                },
            }
        ),
        "gke-serving:computeClasses.fallback.options.0.reservation.project: 'Acme' is not a GCP project id — write "
        "6-30 lowercase letters, digits and hyphens, starting with a letter, e.g. acme-ml-shared",
    ),
    (
        "no options",
        with_class(),
        "gke-serving:computeClasses.fallback.options: the list is empty — list at least one entry, or remove the key "
        "for the default",
    ),
]


@pytest.mark.parametrize(("case", "raw", "expected"), CLASS_PROBLEMS, ids=[c[0] for c in CLASS_PROBLEMS])
def test_class_problems(case: str, raw: dict[str, Any], expected: str) -> None:
    assert expected in problems(raw), case


def test_a_tgi_service_split_over_two_gpus_is_refused_on_an_option_with_one() -> None:
    tgi = {"runtime": "tgi", "model": "google/gemma-2b", "computeClass": "fallback", "numShard": 2}
    raw = with_class({"machineType": "g2-standard-24", "gpu": {"type": "nvidia-l4", "count": 2}}, L4_SPOT, service=tgi)
    assert problems(raw) == [
        "gke-serving:services.chat.numShard: one replica needs 2 GPUs but a node of option 1 (g2-standard-12 spot) "
        "of class fallback has 1 — use a pool of g2-standard-24, or lower the parallelism to 1; or remove option 1 "
        "from class fallback"
    ]


def test_a_kv_cache_dtype_an_option_s_gpu_lacks_is_refused_on_that_option_only() -> None:
    chat = {
        "runtime": "vllm",
        "model": "Qwen/Qwen2.5-7B-Instruct-AWQ",
        "computeClass": "fallback",
        "maxModelLen": 4096,
        "kvCacheDtype": "fp8_e4m3",
    }
    assert problems(with_class(L4_SPOT, A100, service=chat)) == [
        "gke-serving:services.chat.kvCacheDtype: on option 1 (a2-highgpu-1g on-demand) of class fallback: an fp8 "
        "e4m3 KV cache needs FP8 hardware, which A100 40GB lacks — use fp8_e5m2, or a pool of L4, H100 80GB, H100 "
        "Mega 80GB, H200, B200; or remove option 1 from class fallback"
    ]


def test_the_compute_class_renders_each_option_as_a_priority_rule() -> None:
    config = ComputeClassConfig.model_validate(
        {
            "options": [
                {
                    **L4_SMALL,
                    "reservation": {
                        "name": "l4-base",
                        "project": "acme-shared",
                        "machineType": "g2-standard-8",
                        "zone": "us-central1-b",
                    },
                },
                {**L4_SPOT, "bootDiskSizeGb": 200},
                {**L4_SMALL, "flexStart": {"nodeRecyclingLeadTimeSeconds": None}},
                {**L4_SMALL, "flexStart": {}},
            ],
            "whenUnsatisfiable": "ScaleUpAnyway",
        }
    )
    zones = [("us-central1-b",), ("us-central1-a",), ("us-central1-a", "us-central1-c"), ("us-central1-c",)]
    gpu = {"type": "nvidia-l4", "count": 1, "driverVersion": "latest"}
    assert compute_class_spec(config, zones, "nodes@acme.iam.gserviceaccount.com") == {
        "priorities": [
            {
                "machineType": "g2-standard-8",
                "gpu": gpu,
                "location": {"zones": ["us-central1-b"]},
                "reservations": {"affinity": "Specific", "specific": [{"name": "l4-base", "project": "acme-shared"}]},
            },
            {
                "machineType": "g2-standard-12",
                "gpu": gpu,
                "location": {"zones": ["us-central1-a"]},
                "spot": True,
                "storage": {"bootDiskSize": 200},
            },
            {
                "machineType": "g2-standard-8",
                "gpu": gpu,
                "location": {"zones": ["us-central1-a", "us-central1-c"]},
                "flexStart": {"enabled": True},
                "maxRunDurationSeconds": 604800,
            },
            {
                "machineType": "g2-standard-8",
                "gpu": gpu,
                "location": {"zones": ["us-central1-c"]},
                "flexStart": {"enabled": True, "nodeRecycling": {"leadTimeSeconds": 3600}},
                "maxRunDurationSeconds": 604800,
            },
        ],
        "activeMigration": {"optimizeRulePriority": True},
        "nodePoolAutoCreation": {"enabled": True},
        "nodePoolConfig": {
            "serviceAccount": "nodes@acme.iam.gserviceaccount.com",
            "imageType": "cos_containerd",
            "gvnic": {"enabled": True},
            "autoRepair": True,
            "autoUpgrade": True,
        },
        "whenUnsatisfiable": "ScaleUpAnyway",
    }


def test_a_class_pod_selects_its_class_alone_and_a_pool_pod_its_gpu_and_pool() -> None:
    on_class, on_pool = Placement("nvidia-l4", None, 1, "fallback"), Placement("nvidia-l4", "l4", 1)
    assert node_selector(on_class) == {"cloud.google.com/compute-class": "fallback"}
    assert node_selector(on_pool) == {
        "cloud.google.com/gke-accelerator": "nvidia-l4",
        "cloud.google.com/gke-nodepool": "l4",
    }
    gpu = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    assert tolerations(on_pool) == [gpu]
    assert tolerations(on_class) == [
        gpu,
        {"key": "cloud.google.com/compute-class", "operator": "Equal", "value": "fallback", "effect": "NoSchedule"},
    ]


def test_a_class_pod_asks_for_its_share_of_the_smallest_option() -> None:
    service: ServiceConfig = parse_environment(with_class(L4_SPOT, L4_SMALL)).services["chat"]
    large, small = option(**L4_SPOT).as_pool(), option(**L4_SMALL).as_pool()
    assert node_share(service, [large, small]) == node_share(service, [small])
    assert node_share(service, [large]) != node_share(service, [small])


def class_resource(name: str, *rules: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    spec = {"priorities": list(rules), "whenUnsatisfiable": "DoNotScaleUp"}
    return (COMPUTE_CLASS, f"compute-classes-{name}", {"metadata": {"name": name}, "spec": spec})


def rule(machine: str, gpu: str, count: int = 1, **more: Any) -> dict[str, Any]:
    return {"machineType": machine, "gpu": {"type": gpu, "count": count}, **more}


def on_class(container: dict[str, Any], cls: str = "fallback", name: str = "gemma") -> tuple[str, str, dict[str, Any]]:
    props = deployment(container, name=name, accelerator=None, pool=None)
    props["spec"]["template"]["spec"]["nodeSelector"] = {"cloud.google.com/compute-class": cls}
    return (DEPLOYMENT, f"{name}-deployment", props)


FALLBACK = class_resource(
    "fallback", rule("g2-standard-12", "nvidia-l4", spot=True), rule("a2-highgpu-1g", "nvidia-tesla-a100")
)
GEMMA_600 = server("google/gemma-7b", "--max-model-len=600")


def test_a_gpu_pod_may_target_a_class_the_stack_defines() -> None:
    assert violations(gpu_workload_targets_accelerator, [L4, FALLBACK, on_class(GEMMA_600)]) == []


def test_a_gpu_pod_targeting_an_undefined_class_or_nothing_is_refused() -> None:
    found = violations(gpu_workload_targets_accelerator, [L4, FALLBACK, on_class(GEMMA_600, cls="l4-fallbak")])
    assert [m for m, _ in found] == [
        "Deployment gemma selects cloud.google.com/compute-class=l4-fallbak, which the stack does not define "
        "(compute classes: fallback)"
    ]
    neither = (DEPLOYMENT, "gemma-deployment", deployment(GEMMA_600, accelerator=None, pool=None))
    assert [m for m, _ in violations(gpu_workload_targets_accelerator, [L4, FALLBACK, neither])] == [
        "Deployment gemma asks for 1 nvidia.com/gpu but sets no nodeSelector cloud.google.com/gke-accelerator — "
        "select one the stack provides (nvidia-l4), or a cloud.google.com/compute-class it defines (fallback)"
    ]


def test_each_option_must_hold_a_pod_s_gpus() -> None:
    two = class_resource("fallback", rule("g2-standard-24", "nvidia-l4", 2), rule("g2-standard-12", "nvidia-l4", 1))
    pod = on_class(server("google/gemma-7b", "--tensor-parallel-size=2", gpus="2"))
    assert [m for m, _ in violations(gpu_fits_node, [two, pod])] == [
        "Deployment gemma asks for 2 x GPU per pod, but a node of class fallback's fallback/option 1 "
        "(g2-standard-12) has 1 — pods on that option can never be scheduled; give the option a machine type with "
        "enough GPUs, or remove it"
    ]


def test_each_option_must_hold_the_model_in_gpu_memory() -> None:
    with_t4 = class_resource("fallback", rule("g2-standard-12", "nvidia-l4"), rule("n1-standard-8", "nvidia-tesla-t4"))
    assert violations(class_options_fit_gpu_memory, [FALLBACK, on_class(GEMMA_600)]) == []
    found = [m for m, _ in violations(class_options_fit_gpu_memory, [with_t4, on_class(GEMMA_600)])]
    assert len(found) == 1
    assert found[0].startswith("on class fallback's fallback/option 1 (n1-standard-8): google/gemma-7b on 1 x T4")
    assert found[0].endswith("— remove the option, or give it a GPU with more memory")


def test_a_pod_s_requests_must_fit_every_option_not_just_one() -> None:
    big = server("google/gemma-7b", "--max-model-len=600", requests="1")
    big["resources"]["requests"].update(cpu="10", memory="40Gi")
    big["resources"]["limits"].update(cpu="10", memory="40Gi")
    small = class_resource("fallback", rule("g2-standard-12", "nvidia-l4"), rule("g2-standard-8", "nvidia-l4"))
    found = [m for m, _ in violations(pod_fits_node, [SYSTEM, small, on_class(big)])]
    assert len(found) == 1
    assert "a node of pool fallback/option 1 (g2-standard-8, 100 GB boot disk)" in found[0]


def test_class_gpus_count_towards_the_ceiling_and_the_allowed_types() -> None:
    hpa = (
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "gemma-hpa",
        {"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "gemma"}, "minReplicas": 1, "maxReplicas": 6}},
    )
    found = violations(max_gpus_at_max_scale, [L4, FALLBACK, on_class(GEMMA_600), hpa], {"maxGpus": 8})
    assert [m for m, _ in found] == [
        "the GPU node pools reach 14 GPUs at max scale (l4: 8 x 1, class fallback: 6), above the ceiling of 8 — "
        "lower maxNodes or the class services' maxReplicas, or raise maxGpus in the policy config (and the "
        "project's GPU quota)"
    ]
    found = violations(allowed_gpu_types, [L4, FALLBACK], {"gpuTypes": ["nvidia-l4"]})
    assert [m for m, _ in found] == [
        "compute class fallback/option 1 uses nvidia-tesla-a100, which this environment does not allow (allowed: "
        "nvidia-l4) — remove the option or allow the GPU type"
    ]


def test_a_class_costs_from_its_cheapest_option_at_min_to_its_most_expensive_at_max() -> None:
    options = (
        OptionCostInput("g2-standard-12 spot", "g2-standard-12", "nvidia-l4", 1, True, False),
        OptionCostInput("a2-highgpu-1g on-demand", "a2-highgpu-1g", "nvidia-tesla-a100", 1, False, False),
        OptionCostInput("a2-highgpu-1g flex-start", "a2-highgpu-1g", "nvidia-tesla-a100", 1, False, True),
        OptionCostInput("g2-standard-8 flex-start", "g2-standard-8", "nvidia-l4", 1, False, True),
    )
    cost = estimate_cost([], [], None, [ClassCostInput("fallback", "us-central1", options, 1, 3)])
    spot = hourly_price("g2-standard-12", "us-central1", spot=True)
    a100 = hourly_price("a2-highgpu-1g", "us-central1", spot=False)
    g2 = hourly_price("g2-standard-8", "us-central1", spot=False)
    assert spot is not None and a100 is not None and g2 is not None
    fallback = cost["classes"]["fallback"]
    assert fallback["hourly"] == {"min": round(spot, 4), "max": round(3 * a100, 4)}
    assert [o["unitPrice"] for o in fallback["options"]] == [round(spot, 6), round(a100, 6), None, round(g2, 6)]
    # A2 flex-start bills at a discounted SKU the catalog lacks: named, never priced at zero.
    assert cost["missing"] == ["flex-start a2-highgpu-1g in us-central1 (sizing/prices.yaml flexStart)"]
    assert cost["total"]["hourly"] == {"min": round(spot, 4), "max": round(3 * a100, 4)}


def test_the_policy_prices_a_class_like_the_preview(previews: Callable[[str], Preview]) -> None:
    prod = previews("prod")
    assert prod.plan["cost"]["classes"]["gemma-l4"]["options"][2]["option"] == "a2-highgpu-1g on-demand"
    # The plan's resources as the policy pack sees them.
    assert stack_cost(stack_resources(wrap(prod.plan["resources"])))["classes"] == prod.plan["cost"]["classes"]


def test_prod_and_staging_serve_gemma_through_a_class(previews: Callable[[str], Preview]) -> None:
    prod, staging = previews("prod"), previews("staging")
    for p in (prod, staging):
        pod = p.manifest("Deployment", "gemma")["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == {"cloud.google.com/compute-class": "gemma-l4"}
    rules = prod.manifest("ComputeClass", "gemma-l4")["spec"]["priorities"]
    assert [(r["machineType"], r.get("spot")) for r in rules] == [
        ("g2-standard-12", True),
        ("g2-standard-12", False),
        ("a2-highgpu-1g", False),
    ]
    flex = staging.manifest("ComputeClass", "gemma-l4")["spec"]["priorities"][1]
    assert flex["flexStart"] == {"enabled": True, "nodeRecycling": {"leadTimeSeconds": 3600}}
    assert flex["maxRunDurationSeconds"] == 604800


def test_the_dashboard_counts_a_class_s_nodes_per_option() -> None:
    scope = Scope("serving", "gke-l7-rilb")
    on_pool = ServiceMetrics("embed", "tei", 8080, None, None, None, None)
    on_class = ServiceMetrics("gemma", "vllm", 8000, None, None, None, None, compute_class="gemma-l4")
    assert [c.title for c in service_charts(scope, on_class)][-1] == "Nodes per option of class gemma-l4"
    assert not any(c.title.startswith("Nodes per option") for c in service_charts(scope, on_pool))
    (query,) = service_charts(scope, on_class)[-1].queries
    assert query.api()["timeSeriesQuery"]["timeSeriesFilter"] == {
        "filter": 'metric.type="kubernetes.io/node/cpu/allocatable_cores" AND resource.type="k8s_node" AND '
        'metadata.user_labels."cloud.google.com/compute-class"="gemma-l4"',
        "aggregation": {
            "alignmentPeriod": "60s",
            "perSeriesAligner": "ALIGN_MEAN",
            "crossSeriesReducer": "REDUCE_COUNT",
            "groupByFields": [
                'metadata.user_labels."node.kubernetes.io/instance-type"',
                'metadata.user_labels."cloud.google.com/gke-spot"',
                'metadata.user_labels."cloud.google.com/gke-flex-start"',
            ],
        },
    }


def test_a_class_is_created_in_the_cluster_before_the_servers_that_select_it(
    previews: Callable[[str], Preview],
) -> None:
    resources = {r["name"]: r for r in previews("prod").plan["resources"]}
    cls = resources["compute-classes-gemma-l4"]
    assert cls["options"]["provider"].endswith("::platform-k8s")
    servers = {
        r["name"]: r for r in previews("prod").plan["resources"] if r["type"] == "gke-serving:workloads:ModelServer"
    }
    assert cls["urn"] in servers["gemma"]["options"]["dependsOn"]
    assert cls["urn"] not in servers["embed"]["options"]["dependsOn"]
