"""The offline preview runner: plan shape, manifests, policies, cost and its three exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from preview.manifests import validate_manifest
from preview.run import EXIT_INVALID, EXIT_OK, EXIT_POLICY, preview_environment
from tests.conftest import ENVIRONMENTS, Preview

GEMMA_ON_L4: dict[str, Any] = {
    "gcp:project": "acme-ml-prod",
    "gcp:region": "us-central1",
    "gke-serving:hfToken": {"secure": "v1:test"},
    "gke-serving:cluster": {"name": "serving-prod", "location": "us-central1"},
    "gke-serving:nodePools": {
        "l4": {"machineType": "g2-standard-8", "gpu": {"type": "nvidia-l4", "count": 1}, "maxNodes": 2},
        "l4x2": {"machineType": "g2-standard-24", "gpu": {"type": "nvidia-l4", "count": 2}, "maxNodes": 1},
    },
    "gke-serving:services": {
        "gemma": {
            "runtime": "vllm",
            "model": "google/gemma-7b",
            "pool": "l4",
            "dtype": "bfloat16",
            "maxModelLen": 8192,
        },
    },
}


def preview_file(tmp_path: Path, config: dict[str, Any], stack: str = "prod") -> tuple[int, Path]:
    env_file = tmp_path / f"Pulumi.{stack}.yaml"
    env_file.write_text(yaml.safe_dump({"config": config}))
    out = tmp_path / "out"
    return preview_environment(stack, str(out), quiet=True, env_file=env_file), out


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_plan_has_the_documented_shape(previews: Callable[[str], Preview], env: str) -> None:
    p = previews(env)
    assert p.exit_code == EXIT_OK
    assert {"project", "stack", "resources", "outputs", "policies", "cost"} <= set(p.plan)
    assert (p.plan["project"], p.plan["stack"]) == ("gke-serving", env)
    for r in p.plan["resources"]:
        assert set(r) == {"urn", "type", "name", "parent", "inputs"}
        assert r["urn"].startswith(f"urn:pulumi:{env}::gke-serving::")
    assert p.plan["policies"] == []
    assert p.plan["cost"]["total"]["monthly"]["max"] > 0


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_manifest_is_written_and_schema_valid(previews: Callable[[str], Preview], env: str) -> None:
    p = previews(env)
    assert p.plan["manifests"]["schemaErrors"] == {}
    assert sorted(p.plan["manifests"]["files"]) == sorted(p.manifests)
    kinds = {m["kind"] for m in p.manifests.values()}
    assert {
        "Namespace",
        "Secret",
        "Deployment",
        "Service",
        "HTTPRoute",
        "Gateway",
        "HealthCheckPolicy",
        "GCPBackendPolicy",
        "PodMonitoring",
        "NetworkPolicy",
    } <= kinds


def test_schema_validation_catches_a_misspelt_field() -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x"},
        "spec": {"selector": {"a": "b"}, "ports": [{"port": 80, "targetPrt": "http"}]},
    }
    (error,) = validate_manifest(body, "1.34")
    assert error.startswith("spec.ports.0: Additional properties are not allowed ('targetPrt' was unexpected)")


def test_an_invalid_environment_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = json.loads(json.dumps(GEMMA_ON_L4))
    config["gke-serving:nodePools"]["l4"]["machineType"] = "g2-standard-24"
    code, out = preview_file(tmp_path, config)
    assert code == EXIT_INVALID
    assert not out.exists()
    err = capsys.readouterr().err
    assert (
        "gke-serving:nodePools.l4.machineType: g2-standard-24 carries 2 x nvidia-l4, not 1 x nvidia-l4 — use "
        "machineType g2-standard-4"
    ) in err
    assert "Traceback" not in err


def test_gemma_7b_bf16_with_8k_context_on_one_l4_fails_mandatory_fit(tmp_path: Path) -> None:
    code, out = preview_file(tmp_path, GEMMA_ON_L4)
    assert code == EXIT_POLICY
    (violation,) = json.loads((out / "plan.json").read_text())["policies"]
    assert (violation["policy"], violation["enforcement"]) == ("model-fits-gpu-memory", "mandatory")
    assert "Fits up to 5,968 tokens: set maxModelLen ≤ 5968" in violation["message"]


@pytest.mark.parametrize("change", [{"maxModelLen": 600}, {"pool": "l4x2", "tensorParallelSize": 2}])
def test_gemma_7b_fits_with_a_short_context_or_two_l4s(tmp_path: Path, change: dict[str, Any]) -> None:
    config = json.loads(json.dumps(GEMMA_ON_L4))
    config["gke-serving:services"]["gemma"].update(change)
    code, out = preview_file(tmp_path, config)
    assert code == EXIT_OK
    assert json.loads((out / "plan.json").read_text())["policies"] == []


def test_the_same_violation_is_only_advisory_in_dev(tmp_path: Path) -> None:
    code, out = preview_file(tmp_path, GEMMA_ON_L4, stack="dev")
    assert code == EXIT_OK
    results = {r["policy"]: r["enforcement"] for r in json.loads((out / "plan.json").read_text())["policies"]}
    assert results["model-fits-gpu-memory"] == "advisory"
    assert set(results.values()) == {"advisory"}


def test_triton_behind_iap_renders_the_policy_and_its_secret(tmp_path: Path) -> None:
    config = json.loads(json.dumps(GEMMA_ON_L4))
    config["gke-serving:services"] = {
        "detector": {"runtime": "triton", "model": "toxicity", "pool": "l4", "modelRepository": "gs://acme-models/t"}
    }
    config["gke-serving:gateway"] = {"iap": {"oauthClientId": "1234-abc.apps.googleusercontent.com"}}
    config["gke-serving:iapClientSecret"] = {"secure": "v1:test"}
    code, out = preview_file(tmp_path, config)
    assert code == EXIT_OK
    policy = yaml.safe_load((out / "manifests" / "serving_gcpbackendpolicy_detector.yaml").read_text())
    assert policy["spec"]["default"]["iap"]["oauth2ClientSecret"] == {"name": "iap-oauth-client"}
    secret = yaml.safe_load((out / "manifests" / "serving_secret_iap-oauth-client.yaml").read_text())
    assert secret["stringData"] == {"key": "[secret]"}
