"""The GitHub workflows: their structure as parsed YAML, and the shell and Python they run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
ENVIRONMENTS = ["dev", "staging", "prod"]
SHA = re.compile(r"[0-9a-f]{40}")
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<action>[^@\s]+)@(?P<ref>\S+)(?:\s+#\s*(?P<comment>.*))?$")


def load(name: str) -> dict[str, Any]:
    workflow: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return workflow


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # PyYAML follows YAML 1.1, where the bare key `on` is the boolean true.
    on: dict[str, Any] = workflow["on"] if "on" in workflow else workflow[True]
    return on


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = job["steps"]
    return result


def step_index(job: dict[str, Any], *, uses: str = "", name: str = "", command: str = "") -> int:
    """The index of the only step matching every given fragment."""
    wanted = {"uses": uses, "name": name, "run": command}
    matches = [
        index
        for index, step in enumerate(steps(job))
        if all(fragment in step.get(key, "") for key, fragment in wanted.items() if fragment)
    ]
    assert len(matches) == 1, f"expected one step with {uses=} {name=} {command=}, found {len(matches)}"
    return matches[0]


def step(job: dict[str, Any], **fragments: str) -> dict[str, Any]:
    return steps(job)[step_index(job, **fragments)]


def run_bash(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # The options GitHub's default `bash` shell runs a step's script with.
    return subprocess.run(  # noqa: S603 (an argument list, no shell)
        ["/bin/bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        env={"PATH": os.environ["PATH"], **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


@pytest.fixture(scope="module")
def pr() -> dict[str, Any]:
    return load("pr.yml")


@pytest.fixture(scope="module")
def deploy() -> dict[str, Any]:
    return load("deploy.yml")


# ---------------------------------------------------------------------------------------------
# Both workflows


@pytest.mark.parametrize("name", ["pr.yml", "deploy.yml"])
def test_every_action_is_pinned_by_commit_sha_with_its_version_in_a_comment(name: str) -> None:
    lines = [line for line in (WORKFLOWS / name).read_text().splitlines() if re.match(r"^\s*(-\s+)?uses:", line)]
    assert lines, "the workflow uses no actions"
    for line in lines:
        match = USES.match(line)
        assert match, line
        assert SHA.fullmatch(match["ref"]), f"not pinned by full commit SHA: {line.strip()}"
        assert re.fullmatch(r"v\d+\.\d+\.\d+", match["comment"] or ""), f"no version comment: {line.strip()}"


def test_both_workflows_pin_the_same_release_of_each_action() -> None:
    pins: dict[str, set[str]] = {}
    for name in ("pr.yml", "deploy.yml"):
        for line in (WORKFLOWS / name).read_text().splitlines():
            if match := USES.match(line):
                pins.setdefault(match["action"], set()).add(f"{match['ref']} {match['comment']}")
    assert {action: len(refs) for action, refs in pins.items() if len(refs) > 1} == {}


@pytest.mark.parametrize("name", ["pr.yml", "deploy.yml"])
def test_no_service_account_keys(name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    for key_input in ("credentials_json", "service_account_key", "GOOGLE_APPLICATION_CREDENTIALS"):
        assert key_input not in text


@pytest.mark.parametrize("name", ["pr.yml", "deploy.yml"])
def test_setup_python_caches_pip_keyed_on_the_requirements_files(name: str) -> None:
    setups = [s for job in load(name)["jobs"].values() for s in steps(job) if "setup-python" in s.get("uses", "")]
    assert setups
    for setup in setups:
        assert setup["with"]["cache"] == "pip"
        assert setup["with"]["cache-dependency-path"].split() == [
            "requirements.txt",
            "requirements-dev.txt",
            "policies/requirements.txt",
        ]


@pytest.mark.parametrize("name", ["pr.yml", "deploy.yml"])
def test_checkouts_do_not_leave_the_token_in_git_config(name: str) -> None:
    checkouts = [s for job in load(name)["jobs"].values() for s in steps(job) if "checkout" in s.get("uses", "")]
    assert checkouts
    assert all(s["with"]["persist-credentials"] is False for s in checkouts)


# ---------------------------------------------------------------------------------------------
# pr.yml


def test_pr_runs_on_pull_requests_only(pr: dict[str, Any]) -> None:
    # pull_request_target would run fork code with secrets.
    assert set(triggers(pr)) == {"pull_request"}


def test_pr_is_read_only_except_for_the_cloud_preview(pr: dict[str, Any]) -> None:
    assert pr["permissions"] == {"contents": "read"}
    widened = {name: job["permissions"] for name, job in pr["jobs"].items() if "permissions" in job}
    assert widened == {"cloud-preview": {"contents": "read", "id-token": "write", "pull-requests": "write"}}


def test_pr_concurrency_is_per_pull_request_and_cancels(pr: dict[str, Any]) -> None:
    assert "github.event.pull_request.number" in pr["concurrency"]["group"]
    assert pr["concurrency"]["cancel-in-progress"] is True


def test_pr_runs_make_test(pr: dict[str, Any]) -> None:
    assert step(pr["jobs"]["test"], command="make test")["run"].strip() == "make test"


def test_offline_preview_runs_for_every_environment(pr: dict[str, Any]) -> None:
    job = pr["jobs"]["offline-preview"]
    assert job["strategy"]["matrix"]["env"] == ENVIRONMENTS
    assert job["strategy"]["fail-fast"] is False
    assert job["env"]["ENV_NAME"] == "${{ matrix.env }}"
    assert '-m preview "$ENV_NAME" --out-dir "build/$ENV_NAME"' in step(job, name="Offline preview")["run"]


def test_offline_preview_uploads_build_env_then_summarises_then_fails(pr: dict[str, Any]) -> None:
    job = pr["jobs"]["offline-preview"]
    preview = step_index(job, name="Offline preview")
    upload = step_index(job, uses="actions/upload-artifact@")
    summary = step_index(job, name="Summary of resources")
    diff = step_index(job, command="tools.manifest_diff")
    fail = step_index(job, name="Fail when")
    assert preview < upload < summary < diff < fail == len(steps(job)) - 1
    assert steps(job)[upload]["with"]["path"] == "build/${{ matrix.env }}"
    assert steps(job)[upload]["with"]["name"] == "preview-${{ matrix.env }}"
    assert steps(job)[fail]["if"] == "steps.preview.outputs.status != '0'"


def test_offline_preview_keeps_the_exit_status_for_the_last_step(pr: dict[str, Any], tmp_path: Path) -> None:
    script = step(pr["jobs"]["offline-preview"], name="Offline preview")["run"]
    fake = tmp_path / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    result = run_bash(script, {"ENV_NAME": "dev", "GITHUB_OUTPUT": str(tmp_path / "out")}, tmp_path)
    assert result.returncode == 0
    assert outputs(tmp_path / "out") == {"status": "1"}


def test_manifest_diff_goes_to_the_job_summary_against_the_base_branch(pr: dict[str, Any]) -> None:
    job = pr["jobs"]["offline-preview"]
    diff = step(job, command="tools.manifest_diff")
    assert diff["env"] == {"BASE_REF": "${{ github.base_ref }}"}
    command = " ".join(diff["run"].split())
    assert '--env "$ENV_NAME" --base "origin/$BASE_REF"' in command
    assert "--markdown" in command
    assert '>> "$GITHUB_STEP_SUMMARY"' in command
    # Rendering origin/<base> in a git worktree needs the base branch's history.
    assert step(job, uses="actions/checkout@")["with"]["fetch-depth"] == 0


def resource(type_: str, name: str) -> dict[str, Any]:
    urn = f"urn:pulumi:dev::gke-serving::{type_}::{name}"
    return {"urn": urn, "type": type_, "name": name, "parent": None, "inputs": {}}


def violation(policy: str, enforcement: str, type_: str, name: str, message: str) -> dict[str, str]:
    urn = resource(type_, name)["urn"]
    return {"policy": policy, "enforcement": enforcement, "urn": urn, "message": message}


PLAN = {
    "project": "gke-serving",
    "stack": "dev",
    "resources": [
        resource("gcp:container/cluster:Cluster", "serving"),
        resource("kubernetes:apps/v1:Deployment", "embed"),
        resource("kubernetes:apps/v1:Deployment", "gemma"),
    ],
    "outputs": {},
    "policies": [
        violation("spot-pool-min-zero", "advisory", "gcp:container/nodePool:NodePool", "l4", "min 1 | costs\nat night"),
        violation("gpu-fits-model", "mandatory", "kubernetes:apps/v1:Deployment", "gemma", "needs 2 GPUs"),
    ],
    "cost": {"total": {"hourly": {"min": 1.2345, "max": 4.5}, "monthly": {"min": 901.2, "max": 3285.0}}},
}


def run_summary(pr: dict[str, Any], tmp_path: Path, status: str, plan: dict[str, Any] | None) -> str:
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.symlink_to(sys.executable)
    if plan is not None:
        (tmp_path / "build" / "dev").mkdir(parents=True)
        (tmp_path / "build" / "dev" / "plan.json").write_text(json.dumps(plan))
    summary = tmp_path / "summary.md"
    script = step(pr["jobs"]["offline-preview"], name="Summary of resources")["run"]
    result = run_bash(
        script, {"ENV_NAME": "dev", "PREVIEW_STATUS": status, "GITHUB_STEP_SUMMARY": str(summary)}, tmp_path
    )
    assert result.returncode == 0, result.stderr
    return summary.read_text()


def test_summary_shows_resource_counts_policies_and_cost(pr: dict[str, Any], tmp_path: Path) -> None:
    summary = run_summary(pr, tmp_path, "1", PLAN)

    assert "## Offline preview of `dev`" in summary
    assert "Exit status 1: a mandatory policy failed." in summary
    assert "### Resources (3)" in summary
    assert "| `gcp:container/cluster:Cluster` | 1 |" in summary
    assert "| `kubernetes:apps/v1:Deployment` | 2 |" in summary
    assert "### Policies (1 advisory, 1 mandatory)" in summary
    rows = [line for line in summary.splitlines() if line.startswith(("| mandatory", "| advisory"))]
    assert rows == [
        "| mandatory | `gpu-fits-model` | `gemma` | needs 2 GPUs |",
        "| advisory | `spot-pool-min-zero` | `l4` | min 1 \\| costs at night |",
    ]
    assert "| hourly | 1.23 | 4.50 |" in summary
    assert "| monthly | 901.20 | 3,285.00 |" in summary


def test_summary_without_violations(pr: dict[str, Any], tmp_path: Path) -> None:
    summary = run_summary(pr, tmp_path, "0", {**PLAN, "policies": []})

    assert "Exit status 0: clean." in summary
    assert "### Policies (no violations)" in summary
    assert "| Enforcement |" not in summary


def test_summary_when_the_preview_wrote_no_plan(pr: dict[str, Any], tmp_path: Path) -> None:
    summary = run_summary(pr, tmp_path, "2", None)

    assert "Exit status 2: the environment file is invalid." in summary
    assert "No plan.json was written" in summary


def test_cloud_preview_waits_for_the_credentials_check(pr: dict[str, Any]) -> None:
    job = pr["jobs"]["cloud-preview"]
    assert job["needs"] == ["cloud-credentials", "offline-preview"]
    assert job["if"] == "needs.cloud-credentials.outputs.enabled == 'true'"
    assert pr["jobs"]["cloud-credentials"]["outputs"]["enabled"] == "${{ steps.check.outputs.enabled }}"


CREDENTIALS = {
    "HEAD_REPO": "acme/serving",
    "BASE_REPO": "acme/serving",
    "ACTOR": "alice",
    "WIF_PROVIDER": "projects/1/locations/global/workloadIdentityPools/gh/providers/gh",
    "BACKEND_URL": "",
    "HAS_PULUMI_TOKEN": "true",
}


@pytest.mark.parametrize(
    ("overrides", "enabled", "notice"),
    [
        ({}, "true", ""),
        ({"BACKEND_URL": "gs://acme-pulumi-state", "HAS_PULUMI_TOKEN": "false"}, "true", ""),
        ({"HEAD_REPO": "mallory/serving", "HAS_PULUMI_TOKEN": "false", "WIF_PROVIDER": ""}, "false", "fork"),
        ({"ACTOR": "dependabot[bot]"}, "false", "Dependabot"),
        ({"WIF_PROVIDER": ""}, "false", "GCP_WORKLOAD_IDENTITY_PROVIDER is not set"),
        ({"HAS_PULUMI_TOKEN": "false"}, "false", "PULUMI_ACCESS_TOKEN is not set"),
    ],
)
def test_pulumi_preview_is_skipped_with_a_notice_without_credentials(
    pr: dict[str, Any], tmp_path: Path, overrides: dict[str, str], enabled: str, notice: str
) -> None:
    check = step(pr["jobs"]["cloud-credentials"], name="Check for cloud credentials")
    assert set(CREDENTIALS) <= set(check["env"])
    env = {**CREDENTIALS, **overrides, "GITHUB_OUTPUT": str(tmp_path / "out")}

    result = run_bash(check["run"], env, tmp_path)

    assert result.returncode == 0  # skipped, never failed
    assert outputs(tmp_path / "out") == {"enabled": enabled}
    if notice:
        assert result.stdout.startswith("::notice title=pulumi preview skipped::")
        assert notice in result.stdout
    else:
        assert result.stdout == ""


def test_cloud_preview_runs_pulumi_preview_with_the_policy_pack_and_comments(pr: dict[str, Any]) -> None:
    job = pr["jobs"]["cloud-preview"]
    assert job["strategy"]["matrix"]["env"] == ENVIRONMENTS
    preview = step(job, name="pulumi preview")
    assert preview["uses"].startswith("pulumi/actions@")
    assert preview["with"] == {
        "command": "preview",
        "stack-name": "${{ steps.stack.outputs.name }}",
        "cloud-url": "${{ vars.PULUMI_BACKEND_URL }}",
        "comment-on-pr": True,
        "policyPacks": "policies",
        "policyPackConfigs": "policies/config/${{ matrix.env }}.json",
    }


def test_cloud_preview_authenticates_with_workload_identity_federation(pr: dict[str, Any]) -> None:
    auth = step(pr["jobs"]["cloud-preview"], uses="google-github-actions/auth@")
    assert auth["with"]["workload_identity_provider"] == "${{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER }}"


# ---------------------------------------------------------------------------------------------
# deploy.yml

STACK_JOBS = ["dev", "staging", "prod"]


def test_deploy_runs_on_push_to_main_and_on_demand(deploy: dict[str, Any]) -> None:
    assert triggers(deploy) == {"push": {"branches": ["main"]}, "workflow_dispatch": None}
    assert deploy["permissions"] == {"contents": "read"}


def test_deploy_order_is_dev_then_staging_then_prod(deploy: dict[str, Any]) -> None:
    jobs = deploy["jobs"]
    # `needs` is a job name or a list of them.
    graph = {
        name: {job["needs"]} if isinstance(job.get("needs"), str) else set(job.get("needs", []))
        for name, job in jobs.items()
    }

    assert list(TopologicalSorter(graph).static_order()) == ["gate", "dev", "staging", "prod"]
    assert [jobs[name]["needs"] for name in STACK_JOBS] == ["gate", "dev", "staging"]


def test_each_stack_deploys_through_its_github_environment(deploy: dict[str, Any]) -> None:
    jobs = deploy["jobs"]
    assert [jobs[name]["environment"] for name in STACK_JOBS] == ["dev", "staging", "prod"]
    assert [jobs[name]["env"]["STACK"] for name in STACK_JOBS] == ["dev", "staging", "prod"]


def test_one_update_per_stack_at_a_time_never_cancelled(deploy: dict[str, Any]) -> None:
    groups = [deploy["jobs"][name]["concurrency"] for name in STACK_JOBS]
    assert [group["group"] for group in groups] == ["pulumi-up-dev", "pulumi-up-staging", "pulumi-up-prod"]
    assert all(group["cancel-in-progress"] is False for group in groups)
    assert "concurrency" not in deploy  # a workflow-level group would serialise unrelated stacks


def test_stack_jobs_may_request_an_oidc_token(deploy: dict[str, Any]) -> None:
    for name in STACK_JOBS:
        assert deploy["jobs"][name]["permissions"] == {"contents": "read", "id-token": "write"}


def test_every_stack_runs_the_same_steps(deploy: dict[str, Any]) -> None:
    dev, staging, prod = (steps(deploy["jobs"][name]) for name in STACK_JOBS)
    assert dev == staging == prod


def test_gcp_auth_is_workload_identity_federation(deploy: dict[str, Any]) -> None:
    auth = step(deploy["jobs"]["prod"], uses="google-github-actions/auth@")
    assert auth["with"] == {
        "workload_identity_provider": "${{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER }}",
        "service_account": "${{ vars.GCP_SERVICE_ACCOUNT }}",
    }


def test_gke_auth_plugin_and_dependencies_are_installed_before_pulumi_up(deploy: dict[str, Any]) -> None:
    job = deploy["jobs"]["prod"]
    auth = step_index(job, uses="google-github-actions/auth@")
    gcloud = step_index(job, uses="google-github-actions/setup-gcloud@")
    venv = step_index(job, command="python -m venv .venv")
    policy_deps = step_index(job, command="pulumi install")
    up = step_index(job, name="pulumi up")
    assert auth < gcloud < up
    assert venv < policy_deps < up
    assert steps(job)[gcloud]["with"] == {"install_components": "gke-gcloud-auth-plugin"}
    assert ".venv/bin/python -m pip install -r requirements.txt" in steps(job)[venv]["run"]
    assert steps(job)[policy_deps]["working-directory"] == "policies"


def test_the_venv_is_the_one_pulumi_yaml_names() -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["runtime"]["options"] == {"toolchain": "pip", "virtualenv": ".venv"}


def test_pulumi_up_runs_the_policy_pack_with_the_stack_config(deploy: dict[str, Any]) -> None:
    up = step(deploy["jobs"]["prod"], name="pulumi up")
    assert up["uses"].startswith("pulumi/actions@")
    assert up["with"]["command"] == "up"
    assert up["with"]["stack-name"] == "${{ steps.stack.outputs.name }}"
    assert up["with"]["policyPacks"] == "policies"
    assert up["with"]["policyPackConfigs"] == "policies/config/${{ env.STACK }}.json"


def test_backend_is_chosen_by_pulumi_backend_url(deploy: dict[str, Any]) -> None:
    up = step(deploy["jobs"]["prod"], name="pulumi up")
    assert up["with"]["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}"
    assert up["env"] == {
        "PULUMI_ACCESS_TOKEN": (
            "${{ !startsWith(vars.PULUMI_BACKEND_URL, 'gs://') && secrets.PULUMI_ACCESS_TOKEN || '' }}"
        ),
        "PULUMI_CONFIG_PASSPHRASE": (
            "${{ startsWith(vars.PULUMI_BACKEND_URL, 'gs://') && secrets.PULUMI_CONFIG_PASSPHRASE || '' }}"
        ),
    }


@pytest.mark.parametrize(
    ("backend", "org", "name"),
    [
        ("gs://acme-pulumi-state", "acme", "prod"),
        ("", "acme", "acme/prod"),
        ("https://api.pulumi.com", "", "prod"),
    ],
)
def test_stack_name_per_backend(deploy: dict[str, Any], tmp_path: Path, backend: str, org: str, name: str) -> None:
    resolve = step(deploy["jobs"]["prod"], name="Resolve the stack name")
    env = {"STACK": "prod", "BACKEND_URL": backend, "PULUMI_ORG": org, "GITHUB_OUTPUT": str(tmp_path / "out")}

    result = run_bash(resolve["run"], env, tmp_path)

    assert result.returncode == 0, result.stderr
    assert outputs(tmp_path / "out") == {"name": name}


@pytest.mark.parametrize(
    ("ref", "provider", "status", "enabled", "message"),
    [
        ("refs/heads/main", "projects/1/locations/global/workloadIdentityPools/gh/providers/gh", 0, "true", ""),
        ("refs/heads/main", "", 0, "false", "::notice title=deploy skipped::"),
        ("refs/heads/feature", "projects/1/x", 1, None, "::error title=deploy refused::"),
    ],
)
def test_deploy_gate(
    deploy: dict[str, Any], tmp_path: Path, ref: str, provider: str, status: int, enabled: str | None, message: str
) -> None:
    gate = deploy["jobs"]["gate"]
    check = step(gate, name="Check the branch")
    (tmp_path / "out").touch()

    result = run_bash(
        check["run"], {"REF": ref, "WIF_PROVIDER": provider, "GITHUB_OUTPUT": str(tmp_path / "out")}, tmp_path
    )

    assert result.returncode == status
    assert outputs(tmp_path / "out") == ({"enabled": enabled} if enabled else {})
    assert result.stdout.startswith(message)
    assert deploy["jobs"]["dev"]["if"] == "needs.gate.outputs.enabled == 'true'"
