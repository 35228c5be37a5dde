"""The pack as Pulumi runs it, its per-environment config, and evaluate() over preview resources.

`PolicyPack(...)` starts a gRPC server and never returns, so it is replaced by a recorder wherever
policies/__main__.py runs here.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, distribution, distributions
from pathlib import Path
from typing import Any

import jsonschema
import pulumi_policy
import pytest
import yaml
from packaging.requirements import Requirement

from policies import evaluate as evaluate_module
from policies.evaluate import evaluate, stack_resources, wrap
from policies.rules import POLICIES, RESOURCE_POLICIES, STACK_POLICIES
from policies.rules.memory import fit_request
from policies.rules.placement import matching_pools
from policies.rules.pods import pod_of
from policies.rules.pools import class_options
from policies.rules.stack_cost import stack_cost
from runtimes import REGISTRY
from tests.conftest import ENVIRONMENTS, PROMOTION, Preview
from tests.test_policy_rules import DEPLOYMENT, NODE_POOL, deployment, node_pool, server

ROOT = Path(__file__).resolve().parents[1]
PACK = ROOT / "policies"
NAMES = [
    "gpu-requests-equal-limits",
    "gpu-count-matches-parallelism",
    "model-fits-gpu-memory",
    "model-architecture-known",
    "hf-token-from-secret",
    "image-pinned",
    "revision-pinned",
    "prod-images-pinned-by-digest",
    "model-server-has-startup-probe",
    "node-pool-machine-carries-gpu",
    "gcp-field-rules",
    "gpu-workload-targets-accelerator",
    "gpu-fits-node",
    "class-options-fit-gpu-memory",
    "pod-fits-node",
    "rollout-keeps-serving",
    "await-covers-rollout",
    "cluster-features-ready",
    "max-gpus-at-max-scale",
    "allowed-gpu-types",
    "monthly-cost-ceiling",
]
RESOURCE_NAMES = 11  # the first eleven are resource policies, the rest stack policies
# What GCP or GKE would refuse, and a model that cannot fit its GPUs, block in every environment.
CLOUD_REFUSES = (
    "model-fits-gpu-memory",
    "class-options-fit-gpu-memory",
    "pod-fits-node",
    "gcp-field-rules",
    "cluster-features-ready",
    "await-covers-rollout",
)

# --- the pack -------------------------------------------------------------------------------------

# What `pulumi-analyzer-policy-python` does (pulumi/policy/__main__.py: runpy.run_path(program,
# run_name="__main__")), from policies/ and without the working directory on sys.path (-P), with
# PolicyPack recording its arguments instead of serving.
_RUN_AS_PULUMI = """
import json, runpy, sys
import pulumi_policy
calls = []
pulumi_policy.PolicyPack = lambda name, policies, **kw: calls.append([name, [p.name for p in policies], sorted(kw)])
runpy.run_path(sys.argv[1], run_name="__main__")
print(json.dumps(calls))
"""


def test_pulumi_runs_the_pack_from_its_directory_with_every_policy() -> None:
    out = subprocess.run(  # noqa: S603 (an argument list, no shell)
        [sys.executable, "-P", "-c", _RUN_AS_PULUMI, str(PACK)],
        cwd=PACK,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},  # no PYTHONPATH: the repository root comes from __main__.py itself
    )
    assert json.loads(out.stdout) == [["gke-serving", NAMES, []]]


def test_importing_the_pack_module_builds_no_pack(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda *a, **kw: calls.append((a, kw)))
    monkeypatch.delitem(sys.modules, "policies.__main__", raising=False)
    module = importlib.import_module("policies.__main__")
    assert module.POLICIES is POLICIES
    assert calls == []


def test_policy_names_are_unique_and_split_by_kind() -> None:
    assert [p.name for p in POLICIES] == NAMES
    assert [p.name for p in STACK_POLICIES] == NAMES[RESOURCE_NAMES:]
    assert all(isinstance(p, pulumi_policy.ResourceValidationPolicy) for p in RESOURCE_POLICIES)
    assert all(p.description.endswith(".") for p in POLICIES)


def test_project_file() -> None:
    project = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text())
    assert project["runtime"] == {"name": "python", "options": {"virtualenv": "venv"}}
    assert re.fullmatch(r"\d+\.\d+\.\d+", project["version"])
    assert project["description"]


_IMPORTED = """
import json, sys
import policies.__main__, policies.evaluate
print(json.dumps(sorted({f for m in list(sys.modules.values()) if (f := getattr(m, "__file__", None))})))
"""


def _owners() -> dict[str, str]:
    """Installed file -> the distribution that installed it (a namespace package such as `google` is shared by
    several, so its top-level name cannot say which one a module came from)."""
    found = {}
    for dist in distributions():
        name = dist.metadata["Name"]  # parsed from METADATA on every access: once per distribution
        base = Path(str(dist.locate_file(""))).resolve()  # one resolve per distribution, not per file
        for path in dist.files or ():
            found[os.path.normpath(base / str(path))] = name
    return found


def _closure(names: list[str]) -> set[str]:
    """The distributions `names` install, with their dependencies (extras left out)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:  # an optional dependency that is not installed cannot be imported either
            continue
        for line in requires:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def test_the_packs_requirements_cover_what_its_modules_import() -> None:
    # pulumi install makes the pack's own venv from policies/requirements.txt alone.
    pinned = [
        Requirement(line).name
        for line in (PACK / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    out = subprocess.run(  # noqa: S603 (an argument list, no shell)
        [sys.executable, "-c", _IMPORTED], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    owners = _owners()
    imported = (str(Path(f).resolve()) for f in json.loads(out.stdout))
    third_party = {owners[f].lower().replace("_", "-") for f in imported if f in owners}
    assert third_party - _closure(pinned) == set()
    assert "pulumi-gcp" not in third_party  # the program's SDKs stay out of the pack


# --- the per-environment config -------------------------------------------------------------------


def _config(env: str) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((PACK / "config" / f"{env}.json").read_text())
    return config


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_config_names_known_policies_and_fits_their_schemas(env: str) -> None:
    config = _config(env)
    by_name = {p.name: p for p in POLICIES}
    assert set(config) - {"all"} <= set(by_name)
    levels = {"advisory", "mandatory", "remediate", "disabled"}
    for name, entry in config.items():
        if isinstance(entry, str):
            assert entry in levels, name
            continue
        assert entry.get("enforcementLevel", "advisory") in levels, name
        props = {k: v for k, v in entry.items() if k != "enforcementLevel"}
        schema = by_name[name].config_schema
        assert schema is not None, name
        assert set(props) <= set(schema.properties), name  # a misspelt key would silently fall back
        jsonschema.validate(props, {"type": "object", "properties": schema.properties})


def test_schema_defaults_validate_against_their_own_schemas() -> None:
    for p in STACK_POLICIES:
        if p.config_schema is not None:
            for prop in p.config_schema.properties.values():
                jsonschema.validate(prop["default"], prop)


def test_enforcement_per_environment() -> None:
    def levels(env: str) -> dict[str, str]:
        return {p.name: evaluate_module.enforcement(p, _config(env)).value for p in POLICIES}

    # dev informs, except where a leaked token leaks from any environment and where the cloud would
    # refuse the change or the model could not start whatever the environment.
    assert levels("dev") == {
        **dict.fromkeys(NAMES, "advisory"),
        **dict.fromkeys(("hf-token-from-secret", *CLOUD_REFUSES), "mandatory"),
        "prod-images-pinned-by-digest": "disabled",
    }
    # staging gates like prod, so a change that passes staging does not first fail in prod.
    assert levels("staging") == {**dict.fromkeys(NAMES, "mandatory"), "prod-images-pinned-by-digest": "disabled"}
    # Advisory until every image's digest is sourced (policies/config/prod.json says which are missing).
    assert levels("prod") == {**dict.fromkeys(NAMES, "mandatory"), "prod-images-pinned-by-digest": "advisory"}


def test_ceilings_grow_from_dev_to_prod() -> None:
    gpus = [_config(env)["max-gpus-at-max-scale"]["maxGpus"] for env in PROMOTION]
    cost = [_config(env)["monthly-cost-ceiling"]["maxMonthlyUsd"] for env in PROMOTION]
    assert gpus == sorted(gpus)
    assert cost == sorted(cost)


# --- evaluate() -----------------------------------------------------------------------------------

U = "urn:pulumi:test::gke-serving::"
POOL_URN = U + "gke-serving:infra:GpuNodePool$gcp:container/nodePool:NodePool::l4-pool"
GEMMA_URN = U + "gke-serving:workloads:ModelServer$kubernetes:apps/v1:Deployment::gemma-deployment"
STACK_URN = "urn:pulumi:test::gke-serving::pulumi:pulumi:Stack::gke-serving-test"
RESOURCES = [
    {"type": NODE_POOL, "name": "l4-pool", "urn": POOL_URN, "inputs": node_pool(max_nodes=5)},
    {
        "type": "gcp:projects/service:Service",
        "name": "container",
        "urn": U + "container",
        "inputs": {"service": "container.googleapis.com"},
    },
    {
        "type": DEPLOYMENT,
        "name": "gemma-deployment",
        "urn": GEMMA_URN,
        "inputs": deployment(
            server(
                "google/gemma-7b",
                "--revision=0123456789abcdef0123456789abcdef01234567",
                image="vllm/vllm-openai:latest",
                env=[{"name": "HF_TOKEN", "value": "[secret]"}],
            )
        ),
    },
    {
        "type": "kubernetes:core/v1:Namespace",
        "name": "ns",
        "urn": U + "ns",
        "inputs": {"metadata": {"name": "serving"}},
    },
]
GEMMA = (
    "google/gemma-7b on 1 x L4 (22.5 GiB): vLLM may use 0.92 x 22.5 = 20.7 GiB; weights 15.9 GiB (bf16), "
    "overhead 2.2 GiB (activations for 2048 tokens, logits 256 x 256000, CUDA graphs) leave 2.6 GiB of KV cache "
    "= 5,983 tokens at 448 KiB/token; 8,192 tokens need 3.5 GiB. Fits up to 5,968 tokens: set maxModelLen ≤ 5968, "
    "use an fp8 KV cache (kvCacheDtype fp8), quantize (awq), or use 2 GPUs."
)
LITERAL_TOKEN = (
    "container server: env HF_TOKEN is a literal value — the token would sit in the manifest and the stack state; "
    "read it from a Secret (valueFrom.secretKeyRef)"
)
LATEST = "container server: image vllm/vllm-openai:latest uses the moving tag latest — pin a version tag or a digest"
NO_DIGEST = (
    "container server: image vllm/vllm-openai:latest has no digest — append @sha256:<digest of the tag> (a "
    "runtime's `digests` in catalog/servers.yaml, or the service's `image`), so the node pulls the image that "
    "was reviewed"
)


def test_evaluate_in_prod() -> None:
    assert evaluate(RESOURCES, "prod") == [
        {"policy": "model-fits-gpu-memory", "enforcement": "mandatory", "urn": GEMMA_URN, "message": GEMMA},
        {"policy": "hf-token-from-secret", "enforcement": "mandatory", "urn": GEMMA_URN, "message": LITERAL_TOKEN},
        {"policy": "image-pinned", "enforcement": "mandatory", "urn": GEMMA_URN, "message": LATEST},
        {"policy": "prod-images-pinned-by-digest", "enforcement": "advisory", "urn": GEMMA_URN, "message": NO_DIGEST},
    ]


def test_evaluate_in_dev_with_its_own_levels_and_ceilings() -> None:
    assert evaluate(RESOURCES, "dev") == [
        {"policy": "model-fits-gpu-memory", "enforcement": "mandatory", "urn": GEMMA_URN, "message": GEMMA},
        {"policy": "hf-token-from-secret", "enforcement": "mandatory", "urn": GEMMA_URN, "message": LITERAL_TOKEN},
        {"policy": "image-pinned", "enforcement": "advisory", "urn": GEMMA_URN, "message": LATEST},
        {
            "policy": "max-gpus-at-max-scale",
            "enforcement": "advisory",
            "urn": STACK_URN,
            "message": "the GPU node pools reach 5 GPUs at max scale (l4: 5 x 1), above the ceiling of 4 — lower "
            "maxNodes, or raise maxGpus in the policy config (and the project's GPU quota)",
        },
        {
            "policy": "monthly-cost-ceiling",
            "enforcement": "advisory",
            "urn": STACK_URN,
            "message": "the environment costs up to 3,652 USD/month at max nodes (GPU pools 3,652: l4: 3,652), above "
            "the ceiling of 1,800 USD — lower maxNodes, use spot, or raise maxMonthlyUsd in the policy config",
        },
    ]


def test_evaluate_resolves_the_config_like_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ci.json").write_text(
        json.dumps(
            {
                "all": "advisory",
                "image-pinned": "disabled",  # a bare level
                "hf-token-from-secret": {"enforcementLevel": "mandatory"},  # a level in an object
                "max-gpus-at-max-scale": {"maxGpus": 4},  # properties only: the level comes from "all"
            }
        )
    )
    monkeypatch.setattr(evaluate_module, "CONFIG_DIR", tmp_path)
    found = [(r["policy"], r["enforcement"]) for r in evaluate(RESOURCES, "ci")]
    assert found == [
        ("model-fits-gpu-memory", "advisory"),
        ("hf-token-from-secret", "mandatory"),
        ("prod-images-pinned-by-digest", "advisory"),
        ("max-gpus-at-max-scale", "advisory"),  # 5 GPUs over the configured 4 (the default would be 8)
    ]


def test_evaluate_without_any_level_uses_the_policies_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bare.json").write_text("{}")
    monkeypatch.setattr(evaluate_module, "CONFIG_DIR", tmp_path)
    assert {r["enforcement"] for r in evaluate(RESOURCES, "bare")} == {"mandatory"}


def test_evaluate_of_nothing_is_nothing() -> None:
    assert evaluate([], "prod") == []


# --- the real environments ------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_environment_passes_its_mandatory_policies(env: str, previews: Callable[[str], Preview]) -> None:
    resources = previews(env).plan["resources"]
    assert [r for r in evaluate(resources, env) if r["enforcement"] == "mandatory"] == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_model_server_is_sized(env: str, previews: Callable[[str], Preview]) -> None:
    # A clean model-fits-gpu-memory means something only if the rule could size each server; a server on a compute
    # class is sized on each option of the class (class-options-fit-gpu-memory).
    resources = previews(env).plan["resources"]
    options = class_options(stack_resources(wrap(resources)))
    for r in resources:
        pod = pod_of(r["type"], r["inputs"])
        if pod is None or pod.runtime not in REGISTRY or not REGISTRY[pod.runtime].memory_engine:
            continue
        shapes = [pod.on(o.accelerator, o.name) for o in matching_pools(pod, options)] if pod.compute_class else [pod]
        assert shapes, r["name"]
        for shape in shapes:
            assert fit_request(shape).model, r["name"]


def test_the_ceilings_bind_prod_is_over_stagings(previews: Callable[[str], Preview]) -> None:
    found = {
        (r["policy"], r["message"])
        for r in evaluate(previews("prod").plan["resources"], "staging")
        if r["policy"] in ("max-gpus-at-max-scale", "monthly-cost-ceiling")
    }
    assert found == {
        (
            "max-gpus-at-max-scale",
            # gemma's class at its 2 replicas' GPUs.
            "the GPU node pools reach 18 GPUs at max scale (a100: 2 x 2, h100: 3 x 2, l4: 6 x 1, class gemma-l4: 2), "
            "above the ceiling of 16 — lower maxNodes or the class services' maxReplicas, or raise maxGpus in the "
            "policy config (and the project's GPU quota)",
        ),
        (
            "monthly-cost-ceiling",
            # prod's H100s are spot (a3-highgpu-2g is sold no other way), three nodes at most.
            # gemma's class at its most expensive option: 2 x a2-highgpu-1g on-demand.
            "the environment costs up to 49,272 USD/month at max nodes (GPU pools 48,180: a100: 10,726, h100: 27,709, "
            "l4: 4,382, class gemma-l4: 5,363; the platform 1,092), above the ceiling of 6,500 USD — lower maxNodes, "
            "use spot, or raise maxMonthlyUsd in the policy config",
        ),
    }


# The table's lines the stack's resources do not carry: what the weights keep (policies/rules/stack_cost.py).
WEIGHTS_LINES = ("model mirror bucket", "Hyperdisk ML ", "disk image of ", "fill disk of ")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_cost_policy_prices_what_the_cost_table_totals(env: str, previews: Callable[[str], Preview]) -> None:
    plan = previews(env).plan
    table = plan["cost"]
    weights = sum(line["monthly"]["max"] or 0.0 for line in table["lines"] if line["name"].startswith(WEIGHTS_LINES))
    policy = stack_cost(stack_resources(wrap(plan["resources"])))
    assert policy["total"]["monthly"]["max"] == pytest.approx(table["total"]["monthly"]["max"] - weights, abs=0.02)
    assert policy["total"]["monthly"]["max"] > policy["gpuPools"]["monthly"]["max"]


def test_a_stack_over_its_ceiling_only_by_its_platform_lines_is_refused(
    previews: Callable[[str], Preview], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resources = previews("dev").plan["resources"]
    cost = stack_cost(stack_resources(wrap(resources)))
    gpu, total = cost["gpuPools"]["monthly"]["max"], cost["total"]["monthly"]["max"]
    ceiling = round((gpu + total) / 2)  # above the GPU pools, below the whole bill
    (tmp_path / "dev.json").write_text(
        json.dumps({"all": "mandatory", "monthly-cost-ceiling": {"maxMonthlyUsd": ceiling}})
    )
    monkeypatch.setattr(evaluate_module, "CONFIG_DIR", tmp_path)
    found = [r for r in evaluate(resources, "dev") if r["policy"] == "monthly-cost-ceiling"]
    assert [r["enforcement"] for r in found] == ["mandatory"]
    assert found[0]["message"].startswith(f"the environment costs up to {total:,.0f} USD/month at max nodes")
    assert f"above the ceiling of {ceiling:,.0f} USD" in found[0]["message"]
