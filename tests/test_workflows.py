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


def test_pr_token_is_read_only_and_no_job_widens_it(pr: dict[str, Any]) -> None:
    assert pr["permissions"] == {"contents": "read"}
    assert {name: job["permissions"] for name, job in pr["jobs"].items() if "permissions" in job} == {}


def test_pr_concurrency_is_per_pull_request_and_cancels(pr: dict[str, Any]) -> None:
    assert "github.event.pull_request.number" in pr["concurrency"]["group"]
    assert pr["concurrency"]["cancel-in-progress"] is True


def test_pr_runs_make_test(pr: dict[str, Any]) -> None:
    assert step(pr["jobs"]["test"], command="make test")["run"].strip() == "make test"


def test_offline_preview_runs_for_every_environment_file(pr: dict[str, Any]) -> None:
    job = pr["jobs"]["offline-preview"]
    assert job["needs"] == "environments"
    assert job["strategy"]["matrix"]["env"] == "${{ fromJSON(needs.environments.outputs.names) }}"
    listing = step(pr["jobs"]["environments"], name="List the environment files")["run"]
    command = listing.split("names=$(", 1)[1].split(")\n", 1)[0]
    # The job's own command, run here: it lists every environments/Pulumi.<env>.yaml, a new one included.
    found = subprocess.run(command, shell=True, capture_output=True, text=True, check=True, cwd=ROOT)  # noqa: S602
    expected = sorted(
        p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in (ROOT / "environments").glob("Pulumi.*.yaml")
    )
    assert json.loads(found.stdout) == expected
    assert set(ENVIRONMENTS) <= set(expected)
    assert job["strategy"]["fail-fast"] is False
    assert job["env"]["ENV_NAME"] == "${{ matrix.env }}"
    assert '-m preview "$ENV_NAME" --out-dir "build/$ENV_NAME"' in step(job, name="Offline preview")["run"]


def test_offline_preview_checks_then_uploads_build_env_then_summarises_then_fails(pr: dict[str, Any]) -> None:
    job = pr["jobs"]["offline-preview"]
    # In this order, failing last: the artifact and the summary exist whatever the preview found.
    order = [
        step_index(job, name="Offline preview"),
        step_index(job, name="Check build/"),
        upload := step_index(job, uses="actions/upload-artifact@"),
        step_index(job, name="Summary of resources"),
        step_index(job, command="tools.manifest_diff"),
        fail := step_index(job, name="Fail when"),
    ]
    assert order == sorted(order) and fail == len(steps(job)) - 1
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


# ---------------------------------------------------------------------------------------------
# The trust boundary (docs/operations.md, "CI trust model"): a pull request runs its own code, so
# its jobs must hold nothing worth stealing; stack secrets and the deployer live only in the
# deploy workflow's protected environments; nothing leaves a runner before the secret check.
# Each checker returns its findings, and is shown to find the defect it exists for.

WORKFLOW_NAMES = ["pr.yml", "deploy.yml"]
PULL_REQUEST_EVENTS = {"pull_request", "pull_request_target"}
STACK_SECRETS = {"PULUMI_CONFIG_PASSPHRASE", "PULUMI_ACCESS_TOKEN"}
DEPLOY_IDENTITY = "GCP_SERVICE_ACCOUNT"
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
# `secrets.NAME`, `secrets['NAME']`, or the whole context (`toJSON(secrets)`): NAME is then "*".
CONTEXT_USE = re.compile(
    r"\b(?P<context>secrets|vars)\b(?:\s*\.\s*(?P<dotted>[\w-]+)|\s*\[\s*'(?P<indexed>[^']+)'\s*\])?"
)
STATUS_OVERRIDE = re.compile(r"\b(always|failure|cancelled)\s*\(|\|\|")

# The pull-request job this boundary replaced (issue 10), cut down to what the checkers look at.
LEAKY_PULL_REQUEST_WORKFLOW = """
on:
  pull_request_target:
permissions:
  contents: read
jobs:
  cloud-preview:
    runs-on: ubuntu-24.04
    environment: prod
    permissions:
      contents: read
      id-token: write
    steps:
      - uses: google-github-actions/auth@7c6bc770dae815cd3e89ee6cdf493a5fab2cc093
        with:
          workload_identity_provider: ${{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER }}
          service_account: ${{ vars.GCP_PREVIEW_SERVICE_ACCOUNT || vars.GCP_SERVICE_ACCOUNT }}
      - run: pulumi preview
        env:
          PULUMI_CONFIG_PASSPHRASE: ${{ secrets['PULUMI_CONFIG_PASSPHRASE'] }}
          ALL: ${{ toJSON(secrets) }}
      - uses: actions/upload-artifact@043fb46d1a93c77aae656e7c1c64a875d1fc6a0a
        if: always()
        with:
          path: build/dev
"""


def strings(node: Any) -> list[str]:
    """Every string value under a parsed YAML node (mapping keys are names, not expressions)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [text for value in node.values() for text in strings(value)]
    if isinstance(node, list):
        return [text for item in node for text in strings(item)]
    return []


def context_uses(node: Any, context: str) -> set[str]:
    """The names of `context` (secrets or vars) that the expressions under node read."""
    names = set()
    for text in strings(node):
        for expression in EXPRESSION.findall(text):
            for use in CONTEXT_USE.finditer(expression):
                if use["context"] == context:
                    names.add(use["dotted"] or use["indexed"] or "*")
    return names


def job_scope(workflow: dict[str, Any], job: dict[str, Any]) -> list[Any]:
    # A job also sees the workflow-level `env`, which may read secrets too.
    return [workflow.get("env", {}), job]


def grants_id_token(workflow: dict[str, Any], job: dict[str, Any]) -> bool:
    permissions = job.get("permissions", workflow.get("permissions"))
    if permissions is None or permissions == "write-all":
        return True  # no explicit block: the repository default decides, which is not this file's to prove
    return isinstance(permissions, dict) and permissions.get("id-token") == "write"


def pull_request_exposure(workflow: dict[str, Any]) -> list[str]:
    """What a job triggered by a pull request could hand to the pull request's own code."""
    events = set(triggers(workflow))
    findings = [f"triggered by {event}" for event in sorted(events & {"pull_request_target"})]
    if not events & PULL_REQUEST_EVENTS:
        return findings
    for name, job in workflow["jobs"].items():
        if grants_id_token(workflow, job):
            findings.append(f"{name}: may request an OIDC token (id-token: write)")
        if "environment" in job:
            findings.append(f"{name}: runs in the environment {job['environment']}, with its secrets")
        findings += [
            f"{name}: reads secrets.{secret}"
            for secret in sorted(context_uses(job_scope(workflow, job), "secrets") - {"GITHUB_TOKEN"})
        ]
        if DEPLOY_IDENTITY in context_uses(job_scope(workflow, job), "vars"):
            findings.append(f"{name}: names the deploy identity vars.{DEPLOY_IDENTITY}")
        if any("google-github-actions/auth@" in s.get("uses", "") for s in steps(job)):
            findings.append(f"{name}: authenticates to Google Cloud")
    return findings


def identity_fallbacks(workflow: dict[str, Any]) -> list[str]:
    """Identity inputs that are anything but one variable: `a || b` is a way from one account to another."""
    findings = []
    for name, job in workflow["jobs"].items():
        for s in steps(job):
            if "google-github-actions/auth@" not in s.get("uses", ""):
                continue
            for key, value in s.get("with", {}).items():
                if not re.fullmatch(r"\$\{\{ vars\.[A-Z_]+ \}\}", str(value)):
                    findings.append(f"{name}: {key} is {value}")
    for text in strings(workflow["jobs"]):
        findings += [
            f"fallback between identities: {expression.strip()}"
            for expression in EXPRESSION.findall(text)
            if "||" in expression and re.search(r"SERVICE_ACCOUNT|WORKLOAD_IDENTITY", expression)
        ]
    return findings


def unprotected_credentials(workflow: dict[str, Any]) -> list[str]:
    """Jobs that hold an OIDC token or a secret outside one of the stacks' GitHub environments."""
    findings = []
    for name, job in workflow["jobs"].items():
        secrets = context_uses(job_scope(workflow, job), "secrets") - {"GITHUB_TOKEN"}
        if (grants_id_token(workflow, job) or secrets) and job.get("environment") not in ENVIRONMENTS:
            held = sorted(secrets) + (["id-token"] if grants_id_token(workflow, job) else [])
            findings.append(f"{name}: holds {', '.join(held)} outside a protected environment")
    return findings


def unchecked_uploads(workflow: dict[str, Any]) -> list[str]:
    """Artifact uploads that can run without the job's secret check having passed."""
    findings = []
    for name, job in workflow["jobs"].items():
        ids = [s.get("id") for s in steps(job)]
        for index, s in enumerate(steps(job)):
            if "actions/upload-artifact@" not in s.get("uses", ""):
                continue
            condition = str(s.get("if", ""))
            if "secret-check" not in ids[:index]:
                findings.append(f"{name}: uploads {s['with']['path']} before any secret check")
            elif "steps.secret-check.outcome == 'success'" not in condition or STATUS_OVERRIDE.search(condition):
                findings.append(f"{name}: uploads {s['with']['path']} if {condition or 'the job has not failed'}")
    return findings


@pytest.fixture(scope="module")
def leaky() -> dict[str, Any]:
    workflow: dict[str, Any] = yaml.safe_load(LEAKY_PULL_REQUEST_WORKFLOW)
    return workflow


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_no_workflow_runs_on_pull_request_target_or_workflow_run(name: str) -> None:
    # Both run with the base repository's secrets for an event a fork can cause.
    assert not set(triggers(load(name))) & {"pull_request_target", "workflow_run"}


def test_pull_request_jobs_hold_no_token_secret_or_cloud_identity(pr: dict[str, Any], leaky: dict[str, Any]) -> None:
    assert set(triggers(pr)) == {"pull_request"}
    assert pull_request_exposure(pr) == []
    assert pull_request_exposure(leaky) == [
        "triggered by pull_request_target",
        "cloud-preview: may request an OIDC token (id-token: write)",
        "cloud-preview: runs in the environment prod, with its secrets",
        "cloud-preview: reads secrets.*",
        "cloud-preview: reads secrets.PULUMI_CONFIG_PASSPHRASE",
        "cloud-preview: names the deploy identity vars.GCP_SERVICE_ACCOUNT",
        "cloud-preview: authenticates to Google Cloud",
    ]


def test_a_job_without_explicit_permissions_counts_as_holding_a_token() -> None:
    workflow = {"on": {"pull_request": None}, "jobs": {"lint": {"steps": [{"run": "make lint"}]}}}
    assert pull_request_exposure(workflow) == ["lint: may request an OIDC token (id-token: write)"]
    assert grants_id_token({"permissions": "write-all"}, {})
    assert not grants_id_token({"permissions": "read-all"}, {})


def test_the_stack_secrets_and_the_deployer_appear_in_no_pull_request_file(pr: dict[str, Any]) -> None:
    # A textual check besides the parsed one: not even in a comment or a disabled step.
    text = (WORKFLOWS / "pr.yml").read_text()
    for name in (*STACK_SECRETS, DEPLOY_IDENTITY, "id-token", "google-github-actions/auth"):
        assert name not in text, name
    assert context_uses(pr, "secrets") == set()


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_no_fallback_from_one_identity_to_another(name: str, leaky: dict[str, Any]) -> None:
    assert identity_fallbacks(load(name)) == []
    assert identity_fallbacks(leaky) == [
        "cloud-preview: service_account is ${{ vars.GCP_PREVIEW_SERVICE_ACCOUNT || vars.GCP_SERVICE_ACCOUNT }}",
        "fallback between identities: vars.GCP_PREVIEW_SERVICE_ACCOUNT || vars.GCP_SERVICE_ACCOUNT",
    ]


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_tokens_and_secrets_only_inside_a_stack_environment(name: str) -> None:
    assert unprotected_credentials(load(name)) == []
    gate_with_secret = {
        "permissions": {"contents": "read"},
        "jobs": {"gate": {"steps": [{"run": "true", "env": {"P": "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"}}]}},
    }
    assert unprotected_credentials(gate_with_secret) == [
        "gate: holds PULUMI_CONFIG_PASSPHRASE outside a protected environment"
    ]


def test_only_the_stack_jobs_hold_a_token_and_each_in_its_own_environment(deploy: dict[str, Any]) -> None:
    holders = {name: job.get("environment") for name, job in deploy["jobs"].items() if grants_id_token(deploy, job)}
    # The gate decides without credentials, so a refused ref never reaches an environment.
    assert holders == {"dev": "dev", "staging": "staging", "prod": "prod"}


def test_stack_secrets_reach_only_the_pulumi_step(deploy: dict[str, Any]) -> None:
    assert context_uses(deploy.get("env", {}), "secrets") == set()
    for name in STACK_JOBS:
        job = deploy["jobs"][name]
        assert context_uses(job.get("env", {}), "secrets") == set()
        readers = {s.get("name", s.get("uses")): context_uses(s, "secrets") for s in steps(job)}
        assert {step_name: used for step_name, used in readers.items() if used} == {
            "pulumi up with the policy pack": STACK_SECRETS
        }


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_artifacts_upload_only_after_the_secret_check_passed(name: str, leaky: dict[str, Any]) -> None:
    assert unchecked_uploads(load(name)) == []
    assert unchecked_uploads(leaky) == ["cloud-preview: uploads build/dev before any secret check"]
    always = {"jobs": {"j": {"steps": [{"id": "secret-check"}, {**steps(leaky["jobs"]["cloud-preview"])[2]}]}}}
    assert unchecked_uploads(always) == ["j: uploads build/dev if always()"]
    del always["jobs"]["j"]["steps"][1]["if"]
    assert unchecked_uploads(always) == ["j: uploads build/dev if the job has not failed"]


def test_nothing_from_build_is_published_unless_the_secret_check_passed(pr: dict[str, Any]) -> None:
    job = pr["jobs"]["offline-preview"]
    check = step(job, name="Check build/")
    assert check["id"] == "secret-check"
    # It runs whatever the preview found, and its failure fails the job.
    assert "if" not in check
    assert "continue-on-error" not in check
    for publisher in (
        step(job, uses="actions/upload-artifact@"),
        step(job, name="Summary of resources"),
        step(job, command="tools.manifest_diff"),
    ):
        assert publisher["if"] == "steps.secret-check.outcome == 'success'"


def secret_check(pr: dict[str, Any], tmp_path: Path, files: dict[str, str]) -> subprocess.CompletedProcess[str]:
    for relative, text in files.items():
        path = tmp_path / "build" / "dev" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    script = step(pr["jobs"]["offline-preview"], name="Check build/")["run"]
    return run_bash(script, {"ENV_NAME": "dev"}, tmp_path)


# Built from pieces, so that no scanner mistakes this file for a leak.
SECRET_SAMPLES = {
    "hugging face": "hf_" + "Ab3d" * 9,
    "google api key": "AIza" + "Sy-b_" * 7,
    "oauth client secret": "GOCSPX-" + "x1Y2" * 7,
    "oauth access token": "ya29." + "a0Af_" * 8,
    "private key": "-----BEGIN " + "PRIVATE KEY-----\nMIIE",
    "pulumi token": "pul-" + "0123456789abcdef" * 2 + "01234567",
    "github token": "ghp_" + "Zz09" * 9,
}


@pytest.mark.parametrize("secret", SECRET_SAMPLES.values(), ids=SECRET_SAMPLES.keys())
def test_secret_check_fails_on_a_secret_without_printing_it(pr: dict[str, Any], tmp_path: Path, secret: str) -> None:
    manifest = f"spec:\n  args: [--model-id, org/model, --revision, {secret}]\n"
    result = secret_check(pr, tmp_path, {"plan.json": "{}", "manifests/deployment-gemma.yaml": manifest})

    assert result.returncode == 1
    assert result.stdout.startswith("::error file=build/dev/manifests/deployment-gemma.yaml,")
    assert "plan.json" not in result.stdout
    assert secret not in result.stdout + result.stderr
    assert secret[:12] not in result.stdout + result.stderr


def test_secret_check_passes_placeholders_and_lookalikes(pr: dict[str, Any], tmp_path: Path) -> None:
    plan = {
        "hfToken": "[secret]",
        "env": ["HF_HUB_ENABLE_HF_TRANSFER=1", "hf_transfer", "org/model_hf_" + "a" * 8],
        "digest": "sha256:" + "0" * 64,
    }
    result = secret_check(pr, tmp_path, {"plan.json": json.dumps(plan)})

    assert result.returncode == 0, result.stdout
    assert result.stdout == "no secret-shaped value in build/dev\n"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_secret_check_passes_the_rendered_golden_manifests(pr: dict[str, Any], tmp_path: Path, env: str) -> None:
    golden = ROOT / "tests" / "golden" / env
    files = {str(path.relative_to(golden)): path.read_text() for path in golden.rglob("*") if path.is_file()}
    assert files
    assert secret_check(pr, tmp_path, files).returncode == 0


def test_secret_check_when_the_preview_wrote_nothing(pr: dict[str, Any], tmp_path: Path) -> None:
    script = step(pr["jobs"]["offline-preview"], name="Check build/")["run"]
    result = run_bash(script, {"ENV_NAME": "dev"}, tmp_path)
    assert result.returncode == 0
    assert result.stdout == "nothing to check: the preview wrote no build/dev\n"


def test_secret_check_fails_when_it_cannot_read_the_output(pr: dict[str, Any], tmp_path: Path) -> None:
    # grep's status 2 (an unreadable file, an I/O error) must not read as "nothing found".
    broken = tmp_path / "bin"
    broken.mkdir()
    (broken / "grep").write_text("#!/bin/sh\nexit 2\n")
    (broken / "grep").chmod(0o755)
    (tmp_path / "build" / "dev").mkdir(parents=True)
    script = step(pr["jobs"]["offline-preview"], name="Check build/")["run"]

    result = run_bash(script, {"ENV_NAME": "dev", "PATH": f"{broken}:{os.environ['PATH']}"}, tmp_path)

    assert result.returncode == 1
    assert result.stdout == "::error title=secret check::could not read build/dev (grep exit status 2)\n"


def test_summary_reports_an_internal_error_as_such_not_as_a_policy_failure(pr: dict[str, Any], tmp_path: Path) -> None:
    # Exit 3 (preview/run.py): a crash of the preview, which leaves no plan.json.
    summary = run_summary(pr, tmp_path, "3", None)

    assert "Exit status 3: internal error in the preview, not a policy result" in summary
    assert "policy failed" not in summary
    assert "No plan.json was written" in summary


# The steps after `pulumi up`: make status, then make smoke, on the outputs the pulumi step publishes.


@pytest.mark.parametrize("name", STACK_JOBS)
def test_status_then_smoke_run_after_pulumi_up_in_every_stack_job(deploy: dict[str, Any], name: str) -> None:
    job = deploy["jobs"][name]
    gcloud = step_index(job, uses="google-github-actions/setup-gcloud@")
    up = step_index(job, name="pulumi up")
    status = step_index(job, command="make status")
    smoke = step_index(job, command="make smoke")

    assert gcloud < up < status < smoke == len(steps(job)) - 1
    assert steps(job)[up]["id"] == "up"
    # Only after a successful pulumi up, and their failure fails the job (no continue-on-error).
    for index in (status, smoke):
        assert not {"if", "continue-on-error"} & set(steps(job)[index])
    assert job["env"]["STACK"] == name


def test_the_api_keys_reach_only_the_smoke_step(deploy: dict[str, Any]) -> None:
    job = deploy["jobs"]["prod"]
    assert step(job, command="make status")["env"] == {
        "CLUSTER": "${{ steps.up.outputs.cluster }}",
        "NAMESPACE": "${{ steps.up.outputs.namespace }}",
    }
    assert step(job, command="make smoke")["env"] == {
        "SERVICE_URLS": "${{ steps.up.outputs.serviceUrls }}",
        "API_KEYS": "${{ steps.up.outputs.apiKeys }}",
    }
    readers = [s.get("name") for s in steps(job) if "outputs.apiKeys" in json.dumps(s)]
    assert readers == [step(job, command="make smoke")["name"]]
    # Neither step asks Pulumi for anything (no credential, no --show-secrets), and status reveals no output.
    assert "show-secrets" not in (WORKFLOWS / "deploy.yml").read_text()
    assert "apiKeys" not in (ROOT / "tools" / "status.py").read_text()


def run_after_up_step(deploy: dict[str, Any], tmp_path: Path, command: str, env: dict[str, str]) -> list[str]:
    """Runs the step's script with a stand-in `make` that records its arguments and the JSON on its stdin."""
    fake = tmp_path / "bin" / "make"
    fake.parent.mkdir()
    fake.write_text(
        f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done > {tmp_path / "argv"}\ncat > {tmp_path / "stdin"}\n'
    )
    fake.chmod(0o755)
    script = step(deploy["jobs"]["prod"], command=command)["run"]
    result = subprocess.run(  # noqa: S603
        ["/bin/bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        env={"PATH": f"{fake.parent}:{os.environ['PATH']}", "STACK": "prod", **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    return (tmp_path / "argv").read_text().splitlines()


def test_status_step_gives_make_status_the_cluster_and_namespace(deploy: dict[str, Any], tmp_path: Path) -> None:
    argv = run_after_up_step(deploy, tmp_path, "make status", {"CLUSTER": "serving-prod", "NAMESPACE": "serving"})

    assert argv == ["status", "ENV=prod", "ARGS=--wait 45m --outputs /dev/stdin"]
    assert json.loads((tmp_path / "stdin").read_text()) == {"cluster": "serving-prod", "namespace": "serving"}


def test_smoke_step_gives_make_smoke_the_urls_and_keys(deploy: dict[str, Any], tmp_path: Path) -> None:
    urls, keys = {"embed": "https://models.acme.example/embed"}, {"embed": "k" * 48}
    env = {"SERVICE_URLS": json.dumps(urls), "API_KEYS": json.dumps(keys)}

    argv = run_after_up_step(deploy, tmp_path, "make smoke", env)

    assert argv == ["smoke", "ENV=prod", "ARGS=--wait 10m --outputs /dev/stdin"]
    assert json.loads((tmp_path / "stdin").read_text()) == {"serviceUrls": urls, "apiKeys": keys}


def test_smoke_step_without_the_outputs_leaves_the_message_to_smoke(deploy: dict[str, Any], tmp_path: Path) -> None:
    # An empty step output (none published) reaches tools/smoke.py as null: its one-line "no output" error.
    run_after_up_step(deploy, tmp_path, "make smoke", {"SERVICE_URLS": "", "API_KEYS": ""})

    assert json.loads((tmp_path / "stdin").read_text()) == {"serviceUrls": None, "apiKeys": None}
