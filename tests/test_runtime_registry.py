"""The runtime registry: one home per model server, complete catalog facts, every GPU served or refused."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError
from pydantic.alias_generators import to_snake

import catalog
from catalog.servers import ServerFacts, server_facts
from config.platform import GatewayConfig, NodePoolConfig
from config.service_checks import check_services
from runtimes import REGISTRY, RUNTIMES, ServiceConfig, runtime_of
from tests.tree import project_python_files
from workloads.server import server_spec

ROOT = Path(__file__).resolve().parent.parent
SERVICE: TypeAdapter[ServiceConfig] = TypeAdapter(ServiceConfig)
BUILT_IN = ("tei", "tgi", "vllm", "sglang")
MODEL = {"tei": "BAAI/bge-m3", "tgi": "google/gemma-2b", "vllm": "google/gemma-2b", "sglang": "google/gemma-2b"}


def test_the_registry_holds_every_server_under_its_own_name() -> None:
    assert set(RUNTIMES) >= {"tei", "tgi", "vllm", "triton", "sglang"}
    for name, runtime in REGISTRY.items():
        assert runtime.name == name
        (literal,) = typing.get_args(runtime.config.model_fields["runtime"].annotation)
        assert literal == name


@pytest.mark.parametrize("name", sorted(server_facts()))
def test_every_catalog_block_belongs_to_a_runtime_and_every_flag_to_a_typed_key(name: str) -> None:
    runtime = REGISTRY[name]
    fields = runtime.config.model_fields
    for key in server_facts()[name].flags:
        assert to_snake(key) in fields, f"{name}: flag key {key} is no field of {runtime.config.__name__}"


def test_a_gpu_without_an_image_entry_is_a_failing_catalog_not_a_keyerror() -> None:
    servers = catalog.read("servers.yaml")
    assert isinstance(servers, dict)
    block = servers["tei"]
    del block["tagPrefix"]["9.0"]
    with pytest.raises(ValidationError, match=r"tagPrefix has no entry for nvidia-h100-80gb \(9\.0\)"):
        ServerFacts.model_validate(block)


def test_no_module_outside_runtimes_branches_on_a_runtimes_name() -> None:
    names = "|".join(RUNTIMES)
    pattern = re.compile(rf"""["']({names})["']""")
    # sizing/memory.py names its memory models after the servers they model (runtimes pick one);
    # bench/generate.py writes environment files, which name runtimes as data.
    allowed = {"sizing/memory.py", "bench/generate.py"}
    found = []
    for relative, path in project_python_files(skip=frozenset({"runtimes", "tests"})):
        if relative in allowed:
            continue
        found += [f"{relative}:{n}" for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert found == []


def _pool_for(gpu: catalog.Gpu) -> NodePoolConfig | None:
    machine = catalog.machine_for(gpu.accelerator, 1) or next(
        (m.name for m in catalog.machine_types().values() if m.gpu == gpu.accelerator), None
    )
    if machine is None:  # N1 attaches it
        machine = "n1-standard-8"
        count = min(catalog.machine_types()[machine].attachable.get(gpu.accelerator, (1,)))
    else:
        count = catalog.machine_types()[machine].gpus
    return NodePoolConfig.model_validate({"machineType": machine, "gpu": {"type": gpu.accelerator, "count": count}})


@pytest.mark.parametrize("runtime", BUILT_IN)
@pytest.mark.parametrize("accelerator", sorted(catalog.gpus()))
def test_every_catalog_gpu_renders_each_server_or_is_refused_with_the_reason(runtime: str, accelerator: str) -> None:
    gpu = catalog.gpus()[accelerator]
    pool = _pool_for(gpu)
    assert pool is not None
    service = SERVICE.validate_python({"runtime": runtime, "model": MODEL[runtime], "pool": "p", "auth": False})
    found = check_services({"svc": service}, {"p": pool}, GatewayConfig())
    refusals = [p for p in found.problems if p.path == "gke-serving:services.svc.pool"]
    if refusals:
        (refusal,) = refusals
        # The message names the GPU and why: below the server's minimum, or no image for its architecture.
        assert gpu.name in refusal.what
        assert "compute capability" in refusal.what or "publishes no image" in refusal.what
        return
    assert found.problems == []
    spec = server_spec("svc", service, gpu)
    facts = runtime_of(service).facts
    assert spec.image.startswith(f"{facts.image}:")
    assert facts.version in spec.image


def test_the_refusals_the_catalog_implies() -> None:
    """Which GPU-server pairs are refused, in one table a reviewer can read."""
    refused = set()
    for accelerator, gpu in catalog.gpus().items():
        pool = _pool_for(gpu)
        assert pool is not None
        for runtime in BUILT_IN:
            service = SERVICE.validate_python({"runtime": runtime, "model": MODEL[runtime], "pool": "p", "auth": False})
            problems = check_services({"svc": service}, {"p": pool}, GatewayConfig()).problems
            if any(p.path.endswith(".pool") for p in problems):
                refused.add((runtime, accelerator))
    pascal_volta = {"nvidia-tesla-p4", "nvidia-tesla-p100", "nvidia-tesla-v100"}  # below compute capability 7.5
    assert refused == {(r, g) for r in BUILT_IN for g in pascal_volta} | {("tei", "nvidia-b200")}
