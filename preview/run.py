"""The offline preview: run the program under mocks, write the plan and manifests, report."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from config.environment import decode, parse_environment
from config.platform import ClusterConfig
from config.problems import InvalidEnvironment
from policies.evaluate import evaluate_pack
from policies.rules import PACK_NAME
from policies.rules.memory import memory_report
from policies.rules.node_fit import node_fit_report
from preview.costing import environment_cost
from preview.engine import ROOT, run_program
from preview.envfile import StackConfig, read_environment_file
from preview.manifests import Manifest, manifests_of, validate_manifest, write_manifests
from preview.plan import build_plan
from preview.report import resource_tree, summary
from sizing.cost import format_cost

PROJECT = "gke-serving"
EXIT_OK, EXIT_POLICY, EXIT_INVALID = 0, 1, 2


class _Warnings(logging.Handler):
    """Collects the program's `pulumi.log.warn` lines (the mock engine logs them here)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def preview_environment(
    env: str, out_dir: str | None = None, *, quiet: bool = False, env_file: Path | None = None
) -> int:
    """Preview stack `env` from environments/Pulumi.<env>.yaml (or `env_file`); returns the exit code."""
    started = time.perf_counter()
    env_file = env_file or ROOT / "environments" / f"Pulumi.{env}.yaml"
    out = Path(out_dir) if out_dir else ROOT / "build" / env
    warnings = _Warnings()
    logger = logging.getLogger("pulumi-preview")
    logger.propagate = False
    logger.handlers = [warnings]
    try:
        config = read_environment_file(env_file)
        run = run_program(PROJECT, env, config, logger=logger)
    except InvalidEnvironment as e:
        print(
            f"error: {env_file.relative_to(ROOT) if env_file.is_relative_to(ROOT) else env_file}: "
            f"{len(e.problems)} problem(s), nothing was created:",
            file=sys.stderr,
        )
        for problem in e.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_INVALID
    plan = build_plan(PROJECT, env, run)
    plan["cost"] = environment_cost(parse_environment({k: decode(v) for k, v in config.values.items()}, stack=env))
    plan["policies"], plan["policyRuns"] = evaluate_pack(plan["resources"], env)
    plan["memory"] = memory_report(plan["resources"])
    plan["nodeFit"] = node_fit_report(plan["resources"])
    manifests = manifests_of(run.registrations)
    version = _kubernetes_version(config)
    schema_errors = {m.file: errs for m in manifests if (errs := validate_manifest(m.body, version))}
    plan["warnings"] = warnings.messages
    plan["manifests"] = {
        "kubernetesVersion": version,
        "files": [m.file for m in manifests],
        "schemaErrors": schema_errors,
    }
    _write(out, plan, manifests)
    if not quiet:
        print(f"Previewing update ({env}), offline against mocks:\n")
        print(resource_tree(PROJECT, env, run.registrations))
        print(f"\n{summary(run.registrations)}\n\n{format_cost(plan['cost'])}")
    print(policy_report(plan["policies"], plan["policyRuns"]))
    print(runs_report(plan["policyRuns"]))
    print(memory_table(plan["memory"]))
    print(node_fit_table(plan["nodeFit"]))
    for message in warnings.messages:
        print(f"warning: {message}")
    for file, errs in schema_errors.items():
        for err in errs:
            print(f"schema: {file}: {err}")
    where = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    print(
        f"\n{len(run.registrations) + 1} resources, {len(manifests)} manifests (Kubernetes {version}) in {where}; "
        f"{time.perf_counter() - started:.1f}s"
    )
    # A manifest the API server would reject fails like a mandatory policy: the change cannot apply.
    mandatory = any(p["enforcement"] == "mandatory" for p in plan["policies"])
    return EXIT_POLICY if mandatory or schema_errors else EXIT_OK


def policy_report(results: list[dict[str, str]], runs: list[dict[str, Any]]) -> str:
    if not results:
        ran = [r for r in runs if r["enforcement"] != "disabled"]
        unchecked = sum(len(r["notChecked"]) for r in ran)
        note = f"; {unchecked} check(s) could not run, listed below" if unchecked else ""
        return f"\nPolicies: all {len(ran)} that ran passed ({PACK_NAME}){note}"
    lines = [f"\nPolicies ({PACK_NAME}):"]
    for r in sorted(results, key=lambda r: (r["enforcement"] != "mandatory", r["policy"], r["urn"])):
        name = r["urn"].rsplit("::", 1)[-1]
        lines.append(f"    [{r['enforcement']}] {r['policy']} ({name})\n        {r['message']}")
    return "\n".join(lines)


def runs_report(runs: list[dict[str, Any]]) -> str:
    """Every policy that ran, at its level, and what it could not check: a pass names its scope."""
    lines = [f"\nPolicies run ({len([r for r in runs if r['enforcement'] != 'disabled'])} of {len(runs)}):"]
    for run in runs:
        verdict = (
            "disabled"
            if run["enforcement"] == "disabled"
            else (f"{run['violations']} violation(s)" if run["violations"] else "passed")
        )
        lines.append(f"    {run['policy']:<34} {run['enforcement']:<9} {verdict}")
        for skipped in run["notChecked"]:
            lines.append(f"        not checked ({skipped['urn'].rsplit('::', 1)[-1]}): {skipped['reason']}")
    return "\n".join(lines)


def memory_table(rows: list[dict[str, Any]]) -> str:
    """GPU memory per model server: what the estimate left after one full-length sequence."""
    if not rows:
        return ""
    lines = [
        "\nGPU memory per GPU (estimate):",
        f"    {'service':<12} {'GPU':<18} {'usable':>8} {'weights':>8} "
        f"{'KV budget':>10} {'KV needed':>10} {'headroom':>9}",
    ]
    for row in rows:
        if "notChecked" in row:
            lines.append(f"    {row['service']:<12} not checked: {row['notChecked']}")
            continue
        lines.append(
            f"    {row['service']:<12} {row['gpu']:<18} {row['usableGib']:>7.2f}G {row['weightsGib']:>7.2f}G "
            f"{row['kvBudgetGib']:>9.2f}G {row['kvNeededGib']:>9.2f}G {row['headroomGib']:>8.2f}G"
        )
    return "\n".join(lines)


def node_fit_table(rows: list[dict[str, Any]]) -> str:
    """Each workload's requests against what one node of its pool gives pods (GKE's node model)."""
    if not rows:
        return ""
    lines = ["\nPod requests vs what a node gives pods (cpu m / memory Mi / ephemeral Gi):"]
    for row in rows:
        need, free = row["requests"], row["free"]
        lines.append(
            f"    {row['workload']:<36} {row['pool']:<8} {row['machine']:<15} "
            f"{need['cpuM']:>6}/{free['cpuM']:<6} {need['memoryMi']:>7}/{free['memoryMi']:<7} "
            f"{need['ephemeralGi']:>4}/{free['ephemeralGi']:<4} {'fits' if row['fits'] else 'DOES NOT FIT'}"
        )
    return "\n".join(lines)


def _kubernetes_version(config: StackConfig) -> str:
    cluster = json.loads(config.values.get(f"{PROJECT}:cluster", "{}"))
    return str(cluster.get("kubernetesVersion", ClusterConfig.model_fields["kubernetes_version"].default))


def _write(out: Path, plan: dict[str, Any], manifests: list[Manifest]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "plan.json").write_text(json.dumps(plan, indent=2, sort_keys=True) + "\n")
    write_manifests(manifests, out / "manifests")
