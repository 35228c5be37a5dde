"""Config-time rules that model what Compute Engine and the model servers refuse: GPU zones,
provisioning models, and a server quantization that contradicts the checkpoint's weights."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import catalog
from catalog.servers import server_facts
from config import parse_environment
from tests.tables import table
from tests.test_config import VALID, problems


def env(pools: dict[str, Any] | None = None, services: dict[str, Any] | None = None, **cluster: Any) -> dict[str, Any]:
    raw = copy.deepcopy(VALID)
    raw["gke-serving:cluster"].update(cluster)
    if pools is not None:
        raw["gke-serving:nodePools"] = pools
    if services is not None:
        raw["gke-serving:services"] = services
    return raw


L4 = {"machineType": "g2-standard-8", "gpu": {"type": "nvidia-l4", "count": 1}, "maxNodes": 2}
H100X2 = {"machineType": "a3-highgpu-2g", "gpu": {"type": "nvidia-h100-80gb", "count": 2}, "maxNodes": 2}


# --- GPU zones -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "pools", "expected"), table("pool_placement_problems", "location", "pools", "problems")
)
def test_a_pool_compute_engine_would_refuse_is_refused_with_the_fix(
    location: str, pools: dict[str, Any], expected: list[str]
) -> None:
    assert problems(env(pools, {}, location=location)) == expected


def test_a_region_without_the_gpu_at_all_is_refused() -> None:
    raw = env({"h200": {"machineType": "a3-ultragpu-8g", "gpu": {"type": "nvidia-h200-141gb", "count": 8},
                        "spot": True}}, {}, location="asia-east1-a")  # fmt: skip
    raw["gcp:region"] = "asia-east1"
    (problem,) = problems(raw)
    assert problem.startswith("gke-serving:nodePools.h200.gpu.type: asia-east1 offers no H200 (nvidia-h200-141gb)")


def test_without_zones_a_regional_pool_takes_the_zones_that_offer_its_gpu() -> None:
    parsed = parse_environment(env({"l4": L4}, {}, location="us-central1"))
    assert parsed.pool_zones(parsed.node_pools["l4"]) == ("us-central1-a", "us-central1-b", "us-central1-c")


# GPUs whose zones no source at hand names (catalog/gpu_zones.yaml says why): refused, not guessed.
ZONES_UNSOURCED = {"nvidia-b200"}


@pytest.mark.parametrize("gpu", sorted(catalog.gpus()))
def test_every_catalog_gpu_has_zones_in_some_catalog_region(gpu: str) -> None:
    zones = catalog.gpu_zones()[gpu]
    assert bool(zones) != (gpu in ZONES_UNSOURCED), gpu
    for region, listed in zones.items():
        assert region in catalog.regions(), (gpu, region)
        assert set(listed) <= set(catalog.regions()[region]), (gpu, region)


# --- provisioning models ---------------------------------------------------------------------------


def test_spot_a3_high_is_accepted() -> None:
    parse_environment(env({"h100": {**H100X2, "spot": True}}, {}, location="us-central1"))


@pytest.mark.parametrize("machine", ["a3-highgpu-1g", "a3-highgpu-2g", "a3-highgpu-4g"])
def test_the_catalog_records_the_spot_or_flex_start_only_machines(machine: str) -> None:
    assert catalog.machine_types()[machine].provisioning == ("spot", "flex-start")


def test_every_machine_can_be_bought_some_way() -> None:
    for machine in catalog.machine_types().values():
        assert machine.provisioning, machine.name
        assert set(machine.provisioning) <= {"on-demand", "spot", "flex-start", "reservation"}


# --- quantization against the checkpoint -----------------------------------------------------------


def service(**fields: Any) -> dict[str, Any]:
    return {"svc": {"pool": "l4", **fields}}


@pytest.mark.parametrize(("fields", "expected"), table("checkpoint_quantization_problems", "service", "problems"))
def test_a_quantization_the_checkpoint_contradicts_is_refused(fields: dict[str, Any], expected: list[str]) -> None:
    assert problems(env({"l4": L4}, service(**fields))) == expected


@pytest.mark.parametrize(
    "fields",
    [
        {"runtime": "vllm", "model": "google/gemma-7b-AWQ", "quantization": "awq"},  # judged by its name
        {"runtime": "vllm", "model": "Qwen/Qwen2.5-7B-Instruct-AWQ", "quantization": "awq_marlin"},
        {"runtime": "vllm", "model": "google/gemma-7b", "quantization": "fp8"},  # fp8 quantizes bf16 at load
        {"runtime": "tgi", "model": "meta-llama/Llama-2-13b-hf", "quantize": "eetq"},
        {"runtime": "vllm", "model": "google/gemma-7b-AWQ"},  # no setting: the server reads the checkpoint
    ],
)
def test_settings_that_match_the_checkpoint_pass(fields: dict[str, Any]) -> None:
    parse_environment(env({"l4": L4}, service(**fields)))


def test_a_value_neither_list_classifies_is_reported_as_not_checked() -> None:
    parsed = parse_environment(env({"l4": L4}, service(runtime="vllm", model="a/b", quantization="torchao")))
    assert parsed.warnings == (
        "gke-serving:services.svc.quantization: 'torchao' against the checkpoint's weight format: not checked",
    )


@pytest.mark.parametrize("runtime", ["tgi", "vllm"])
def test_every_classified_value_is_one_the_server_accepts(runtime: str) -> None:
    facts = server_facts()[runtime]
    allowed = set(facts.allowed("quantize" if runtime == "tgi" else "quantization"))
    assert set(facts.checkpoint_quantization) <= allowed
    assert set(facts.online_quantization) <= allowed


def test_a_gated_model_is_flagged_with_the_fix() -> None:
    parsed = parse_environment(env({"l4": L4}, service(runtime="vllm", model="meta-llama/Llama-3.1-8B-Instruct")))
    assert parsed.warnings == (
        "gke-serving:services.svc.model: meta-llama/Llama-3.1-8B-Instruct is gated on the Hugging Face Hub — "
        "accept its license at https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct with the account that owns "
        "hfToken, or the download fails with 403",
    )
    assert parse_environment(env({"l4": L4}, service(runtime="vllm", model="Qwen/Qwen2.5-7B-Instruct"))).warnings == ()
