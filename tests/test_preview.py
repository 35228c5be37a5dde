"""The offline preview runner: plan shape, manifests, policies, cost and its three exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from policies.rules import POLICIES
from preview.manifests import validate_manifest
from preview.run import EXIT_INVALID, EXIT_OK, EXIT_POLICY, preview_environment
from tests.conftest import ENVIRONMENTS, PROMOTION, Preview

# A commit-shaped revision: revision-pinned passes, and these tests see only what they are about.
PINNED = "0123456789abcdef0123456789abcdef01234567"
GEMMA_ON_L4: dict[str, Any] = {
    "gcp:project": "acme-ml-prod",
    "gcp:region": "us-central1",
    "gke-serving:hfToken": {"secure": "v1:test"},
    "gke-serving:cluster": {"name": "serving-prod", "location": "us-central1"},
    "gke-serving:gateway": {"className": "gke-l7-rilb"},
    "gke-serving:nodePools": {
        "l4": {"machineType": "g2-standard-8", "gpu": {"type": "nvidia-l4", "count": 1}, "maxNodes": 2},
        # Two nodes: the single replica and the surge replica of a rollout.
        "l4x2": {"machineType": "g2-standard-24", "gpu": {"type": "nvidia-l4", "count": 2}, "maxNodes": 2},
    },
    "gke-serving:services": {
        "gemma": {
            "runtime": "vllm",
            "model": "google/gemma-7b",
            "revision": PINNED,
            "pool": "l4",
            "dtype": "bfloat16",
            "maxModelLen": 8192,
        },
    },
}


def preview_file(tmp_path: Path, config: dict[str, Any], stack: str = "prod") -> tuple[int, Path]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    env_file = tmp_path / f"Pulumi.{stack}.yaml"
    env_file.write_text(yaml.safe_dump({"config": config}))
    out = tmp_path / "out"
    return preview_environment(stack, str(out), quiet=True, env_file=env_file), out


# Advisory in prod until every image digest is sourced (policies/config/prod.json); not what these test.
DIGESTS = "prod-images-pinned-by-digest"


def findings(out: Path) -> list[dict[str, str]]:
    policies: list[dict[str, str]] = json.loads((out / "plan.json").read_text())["policies"]
    return [p for p in policies if p["policy"] != DIGESTS]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_plan_has_the_documented_shape(previews: Callable[[str], Preview], env: str) -> None:
    p = previews(env)
    assert p.exit_code == EXIT_OK
    assert {"project", "stack", "resources", "outputs", "policies", "cost"} <= set(p.plan)
    assert (p.plan["project"], p.plan["stack"]) == ("gke-serving", env)
    for r in p.plan["resources"]:
        assert set(r) == {"urn", "type", "name", "parent", "inputs", "options"}
        assert r["urn"].startswith(f"urn:pulumi:{env}::gke-serving::")
        assert set(r["options"]) == {
            "customTimeouts",
            "dependsOn",
            "provider",
            "protect",
            "deleteBeforeReplace",
            "ignoreChanges",
            "replaceOnChanges",
            "retainOnDelete",
        }
    urns = [r["urn"] for r in p.plan["resources"]]
    assert urns == sorted(urns)  # a stable order: two runs of the same input give the same file
    # dev knowingly runs three single-replica services on four GPUs: simultaneous rollouts queue for a
    # GPU there, which its advisory level reports (environments/Pulumi.dev.yaml); and it follows branches.
    found = {(r["policy"], r["enforcement"]) for r in p.plan["policies"] if r["policy"] != DIGESTS}
    if env in PROMOTION:
        dev = {("rollout-keeps-serving", "advisory"), ("revision-pinned", "advisory")}
        assert found == {"dev": dev}.get(env, set())
    else:  # an environment made with `make env`: its own advisories, never a mandatory finding
        assert all(level == "advisory" for _, level in found)
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
    (violation,) = findings(out)
    assert (violation["policy"], violation["enforcement"]) == ("model-fits-gpu-memory", "mandatory")
    assert "Fits up to 5,968 tokens: set maxModelLen ≤ 5968" in violation["message"]


def test_a_failing_preview_ends_with_its_findings_and_the_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = preview_file(tmp_path, GEMMA_ON_L4)
    lines = capsys.readouterr().out.rstrip("\n").splitlines()
    assert code == EXIT_POLICY
    assert lines[-1] == (
        "exit 1: a mandatory policy failed or a manifest fails its schema — the plan is written to read; "
        "`pulumi up` would be refused"
    )
    summary = lines[lines.index(next(line for line in lines if line.startswith("Summary: "))) :]
    assert "  [mandatory] model-fits-gpu-memory: gemma-deployment" in summary
    assert summary[0] == f"Summary: {len(summary) - 2} finding(s) to act on:"


@pytest.mark.parametrize("change", [{"maxModelLen": 600}, {"pool": "l4x2", "tensorParallelSize": 2}])
def test_gemma_7b_fits_with_a_short_context_or_two_l4s(tmp_path: Path, change: dict[str, Any]) -> None:
    config = json.loads(json.dumps(GEMMA_ON_L4))
    config["gke-serving:services"]["gemma"].update(change)
    code, out = preview_file(tmp_path, config)
    assert code == EXIT_OK
    assert findings(out) == []


def test_a_model_that_cannot_fit_fails_even_in_dev(tmp_path: Path) -> None:
    # dev relaxes most policies to advisory, but not what the cloud would refuse: a model that does not
    # fit its GPUs crash-loops whatever the environment.
    code, out = preview_file(tmp_path, GEMMA_ON_L4, stack="dev")
    assert code == EXIT_POLICY
    results = {r["policy"]: r["enforcement"] for r in findings(out)}
    # dev's own ceilings (4 GPUs, 1,000 USD) are advisory and the test file's pools exceed them.
    assert results == {
        "model-fits-gpu-memory": "mandatory",
        "max-gpus-at-max-scale": "advisory",
        "monthly-cost-ceiling": "advisory",
    }


def test_an_unknown_model_is_a_warning_in_dev_and_refused_in_prod(tmp_path: Path) -> None:
    config = json.loads(json.dumps(GEMMA_ON_L4))
    config["gke-serving:services"]["gemma"] = {
        "runtime": "vllm",
        "model": "acme/private-7b",
        "revision": PINNED,
        "pool": "l4",
    }
    code, out = preview_file(tmp_path / "dev", config, stack="dev")
    (dev,) = [r for r in findings(out) if r["policy"] == "model-architecture-known"]
    assert (code, dev["policy"], dev["enforcement"]) == (EXIT_OK, "model-architecture-known", "advisory")
    assert "acme/private-7b is not in sizing/models.yaml" in dev["message"]
    code, out = preview_file(tmp_path / "prod", config, stack="prod")
    (prod,) = findings(out)
    assert (code, prod["policy"], prod["enforcement"]) == (EXIT_POLICY, "model-architecture-known", "mandatory")
    runs = {r["policy"]: r for r in json.loads((out / "plan.json").read_text())["policyRuns"]}
    # The memory fit did not pass: it could not run, and the plan says so.
    assert runs["model-fits-gpu-memory"]["violations"] == 0
    assert "acme/private-7b is not in sizing/models.yaml" in runs["model-fits-gpu-memory"]["notChecked"][0]["reason"]


def test_a_passing_preview_lists_the_policies_it_ran_and_the_memory_headroom(
    previews: Callable[[str], Preview],
) -> None:
    plan = previews("prod").plan
    # Every policy of the pack, each once: a rule added to POLICIES but not run offline shows here.
    assert sorted(r["policy"] for r in plan["policyRuns"]) == sorted(p.name for p in POLICIES)
    memory = {row["service"]: row for row in plan["memory"]}
    assert set(memory) == {"embed", "rerank", "gemma", "llama", "qwen"}
    assert all(row["fits"] and row["headroomGib"] > 0 for row in memory.values())


def test_triton_behind_iap_renders_the_policy_and_its_secret(tmp_path: Path) -> None:
    config = json.loads(json.dumps(GEMMA_ON_L4))
    config["gke-serving:services"] = {
        "detector": {"runtime": "triton", "model": "toxicity", "pool": "l4", "modelRepository": "gs://acme-models/t"}
    }
    config["gke-serving:gateway"] = {
        "domain": "models.acme.example",
        "iap": {"oauthClientId": "1234-abc.apps.googleusercontent.com"},
    }
    config["gke-serving:iapClientSecret"] = {"secure": "v1:test"}
    code, out = preview_file(tmp_path, config)
    assert code == EXIT_OK
    policy = yaml.safe_load((out / "manifests" / "serving_gcpbackendpolicy_detector.yaml").read_text())
    assert policy["spec"]["default"]["iap"]["oauth2ClientSecret"] == {"name": "iap-oauth-client"}
    secret = yaml.safe_load((out / "manifests" / "serving_secret_iap-oauth-client.yaml").read_text())
    assert secret["stringData"] == {"key": "[secret]"}
