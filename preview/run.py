"""The offline preview: run the program under mocks, write the plan and manifests, report."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import sys
import time
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from config.environment import decode, parse_environment
from config.platform import ClusterConfig
from policies.evaluate import evaluate_pack, load_config, properties
from policies.rules import PACK_NAME
from policies.rules.budget import DEFAULT_MAX_MONTHLY_USD, monthly_cost_ceiling
from policies.rules.class_memory import class_memory_report
from policies.rules.memory import memory_report
from policies.rules.node_fit import node_fit_report
from preview.cold_start import cold_start_report, cold_start_table, over_budget
from preview.costing import environment_cost
from preview.engine import ROOT, run_program
from preview.envfile import StackConfig, read_environment_file
from preview.manifests import Manifest, manifests_of, validate_manifest, write_manifests
from preview.plan import build_plan
from preview.report import Progress, invalid_summary, resource_tree, run_summary, summary
from settings.problems import InvalidEnvironment
from sizing.cost import format_cost

PROJECT = "gke-serving"
# The program's own exit codes (README, "Exit status"); `make` reports any failure as its own 2.
EXIT_OK, EXIT_POLICY, EXIT_INVALID, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
# Any value but "" or "0" prints an internal error's traceback (as `--debug` does).
DEBUG_ENV = "GKE_SERVING_DEBUG"
# A stack name that is also a safe path component (build/<env>, environments/Pulumi.<env>.yaml):
# a DNS label, so `../../etc`, `dev/x` or `dev\n` never reach the file system.
ENV_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
DASHBOARD_FILE = "dashboard.json"  # the Cloud Monitoring dashboard, as the API receives it
DASHBOARD_TYPE = "gcp:monitoring/dashboard:Dashboard"
# The file that marks a folder as one the preview created: the preview replaces its output folder whole, so
# it writes only into a new or empty folder or one holding this marker (files named plan.json or manifests
# prove nothing: a user's folder can hold those too).
MARKER = ".gke-serving-preview"
MARKER_TEXT = "Written by `python -m preview`, which replaces this folder whole on every run.\n"
# What the preview writes into its output folder; nothing else may be there.
OUTPUT_ENTRIES = frozenset({MARKER, "plan.json", "manifests", DASHBOARD_FILE})
# Kernel file systems: nothing can be created there, whatever the permissions say.
PSEUDO_FILESYSTEMS = (Path("/proc"), Path("/sys"), Path("/dev"))


class _Interrupts:
    """SIGINT and SIGTERM in the command (`python -m preview` installs `handle`).

    The first Ctrl-C must not raise KeyboardInterrupt into the Pulumi SDK: its `run_pulumi_func`
    catches BaseException around the program, then waits for every pending Output, and an interrupt
    that lands inside a resource constructor leaves Outputs that nothing will ever resolve, so the
    event loop waits forever. The handler instead removes the folder being written and leaves the
    process at once, with 128 + the signal (130 for SIGINT); while `held`, the output folder is
    being swapped, and the exit waits for the swap to finish, so the folder is whole either way.
    """

    def __init__(self) -> None:
        self.staging: set[Path] = set()
        self.holds = 0
        self.pending: int | None = None

    def handle(self, signum: int, frame: FrameType | None) -> None:  # noqa: ARG002 (signal handler signature)
        if self.holds:
            self.pending = signum
            return
        self.leave(signum)

    def leave(self, signum: int) -> None:
        for path in list(self.staging):
            shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        # os.write, not print: the handler may interrupt a print to the same stream.
        os.write(2, b"\ninterrupted: no partial output was written\n")
        os._exit(128 + signum)  # no interpreter shutdown: it would join the SDK's worker threads

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self.holds += 1
        try:
            yield
        finally:
            self.holds -= 1
            if not self.holds and self.pending is not None:
                self.leave(self.pending)


INTERRUPTS = _Interrupts()


class _Warnings(logging.Handler):
    """Collects the program's `pulumi.log.warn` lines (the mock engine logs them here)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def preview_environment(
    env: str, out_dir: str | None = None, *, quiet: bool = False, env_file: Path | None = None, debug: bool = False
) -> int:
    """Preview stack `env` from environments/Pulumi.<env>.yaml (or `env_file`); returns the exit code.

    The output folder (`out_dir`, default build/<env>) is complete or absent: a run that ends with 0
    or 1 replaces it whole, one that ends with 2 or 3 removes it, so no earlier result is mistaken
    for this one. An unexpected exception is exit 3 with one line; `debug` (or GKE_SERVING_DEBUG=1)
    adds the traceback.
    """
    if not ENV_NAME.fullmatch(env):
        print(
            f"error: {env!r} is not an environment name — use lowercase letters, digits and '-' (at most 63, "
            "starting and ending with a letter or digit), as in environments/Pulumi.<env>.yaml",
            file=sys.stderr,
        )
        return EXIT_INVALID
    # Absolute but not resolved: a symlink is refused below rather than followed.
    out = Path(os.path.abspath(out_dir)) if out_dir else ROOT / "build" / env
    if refusal := _out_dir_refusal(out, default=out_dir is None):
        print(f"error: --out-dir {out}: {refusal}", file=sys.stderr)
        return EXIT_INVALID
    try:
        code = _preview(env, out, quiet=quiet, env_file=env_file)
    except Exception as e:
        if debug or os.environ.get(DEBUG_ENV, "") not in ("", "0"):
            traceback.print_exc()
        message = str(e).strip().splitlines()
        print(f"internal error: {type(e).__name__}: {message[0] if message else '(no message)'}", file=sys.stderr)
        print(
            "exit 3: a bug in the preview, not in the environment file — rerun with --debug (or "
            f"{DEBUG_ENV}=1) for the traceback and report it to the platform team with that output",
            file=sys.stderr,
        )
        code = EXIT_INTERNAL
    if code in (EXIT_INVALID, EXIT_INTERNAL):
        _remove(out)
    return code


def _preview(env: str, out: Path, *, quiet: bool, env_file: Path | None) -> int:
    started = time.perf_counter()
    env_file = env_file or ROOT / "environments" / f"Pulumi.{env}.yaml"
    warnings = _Warnings()
    logger = logging.getLogger("pulumi-preview")
    logger.propagate = False
    logger.handlers = [warnings]
    progress = Progress(sys.stderr, quiet=quiet)
    try:
        progress.phase(f"reading {env_file.name}")
        config = read_environment_file(env_file)
        progress.phase("running the program under the mock engine (the same code `pulumi up` runs)")
        run = run_program(PROJECT, env, config, logger=logger)
    except InvalidEnvironment as e:
        shown = env_file.relative_to(ROOT) if env_file.is_relative_to(ROOT) else env_file
        print(f"error: {shown}: {len(e.problems)} problem(s), nothing was created:", file=sys.stderr)
        for problem in e.problems:
            print(f"  {problem}", file=sys.stderr)
        print("\n".join(invalid_summary(str(shown), list(e.problems))), file=sys.stderr)
        return EXIT_INVALID
    progress.phase("pricing, cold starts and the policy pack")
    plan = build_plan(PROJECT, env, run)
    parsed = parse_environment({k: decode(v) for k, v in config.values.items()}, stack=env)
    plan["cost"] = environment_cost(parsed)
    plan["coldStart"] = cold_start_report(parsed)
    plan["policies"], plan["policyRuns"] = evaluate_pack(plan["resources"], env)
    plan["memory"] = memory_rows(plan["resources"])
    plan["nodeFit"] = node_fit_report(plan["resources"])
    # The engine registers from worker threads, in no fixed order: sorted, two runs write the same files.
    manifests = sorted(manifests_of(run.registrations), key=lambda m: m.file)
    progress.phase(f"validating {len(manifests)} manifests against the Kubernetes schemas")
    version = _kubernetes_version(config)
    schema_errors = {m.file: errs for m in manifests if (errs := validate_manifest(m.body, version))}
    plan["warnings"] = warnings.messages
    plan["manifests"] = {
        "kubernetesVersion": version,
        "files": [m.file for m in manifests],
        "schemaErrors": schema_errors,
    }
    progress.phase(f"writing {out.name}/")
    _write(out, plan, manifests)
    if not quiet:
        print(f"Previewing update ({env}), offline against mocks:\n")
        print(resource_tree(PROJECT, env, run.registrations))
        print(f"\n{summary(run.registrations)}\n\n{format_cost(plan['cost'], monthly_ceiling(env))}")
    print(policy_report(plan["policies"], plan["policyRuns"]))
    print(runs_report(plan["policyRuns"]))
    print(memory_table(plan["memory"]))
    print(cold_start_table(plan["coldStart"]))
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
    code = EXIT_POLICY if mandatory or schema_errors else EXIT_OK
    print("\n".join(run_summary(findings(plan, monthly_ceiling(env)), code)))
    return code


def monthly_ceiling(env: str) -> float:
    """The environment's monthly-cost-ceiling (policies/config/<env>.json, else the policy's default)."""
    value = properties(monthly_cost_ceiling, load_config(env)).get("maxMonthlyUsd", DEFAULT_MAX_MONTHLY_USD)
    return float(value)


def findings(plan: dict[str, Any], ceiling: float | None = None) -> list[tuple[str, str]]:
    """What the run's summary lists: mandatory policy failures, schema errors, and values beyond a budget."""
    found = [
        (f"[mandatory] {p['policy']}", p["urn"].rsplit("::", 1)[-1])
        for p in sorted(plan["policies"], key=lambda p: (p["policy"], p["urn"]))
        if p["enforcement"] == "mandatory"
    ]
    found += [("schema", f"{file}: {err}") for file, errs in plan["manifests"]["schemaErrors"].items() for err in errs]
    found += [
        ("cold start beyond its budget", f"gke-serving:services.{row['service']}")
        for row in over_budget(plan["coldStart"])
    ]
    total = plan["cost"]["total"]["monthly"]["max"]
    if ceiling is not None and total is not None and total > ceiling:
        found.append(("monthly cost beyond its ceiling", f"{total:,.0f} > {ceiling:,.0f} USD at max nodes"))
    return found


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


def memory_rows(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The memory estimate of each model server; of a server on a compute class, one per option of the class."""
    by_option = class_memory_report(resources)
    on_classes = {row["service"] for row in by_option}
    return [row for row in memory_report(resources) if row["service"] not in on_classes] + by_option


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
        # A class's server has a row per option: `gemma @option 2` (the class's options are numbered from 0).
        service = f"{row['service']} @{row['option'].rsplit(' ', 1)[-1]}" if "option" in row else row["service"]
        if "notChecked" in row:
            lines.append(f"    {service:<12} not checked: {row['notChecked']}")
            continue
        lines.append(
            f"    {service:<12} {row['gpu']:<18} {row['usableGib']:>7.2f}G {row['weightsGib']:>7.2f}G "
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


def _out_dir_refusal(out: Path, *, default: bool = False) -> str | None:
    """Why the preview may not make `out` its output folder (what is wrong — the fix); None if it may. The
    default folder (build/<env> of this repository, ignored by git) written before the marker existed holds
    only the preview's own entries: it is the preview's, and adopted."""
    fix = "pass an --out-dir that is new, empty or an earlier preview's (it holds " + MARKER + ")"
    if out == out.parent or out.is_symlink() or (out.exists() and not out.is_dir()):
        return f"not a folder the preview can own — {fix}"
    if any(out.is_relative_to(pseudo) for pseudo in PSEUDO_FILESYSTEMS):
        return f"inside a kernel file system, where nothing can be written — {fix}"
    if not out.exists():
        return _parent_refusal(out, fix)
    entries = sorted(p.name for p in out.iterdir())
    earlier_default = default and set(entries) <= OUTPUT_ENTRIES
    if entries and MARKER not in entries and not earlier_default:
        return f"holds {', '.join(entries[:5])} and the preview did not create it (no {MARKER}) — {fix}"
    foreign = [name for name in entries if name not in OUTPUT_ENTRIES]
    if foreign:
        return f"holds {', '.join(foreign[:5])}, which the preview did not write — move them out, or {fix}"
    return _parent_refusal(out, fix)


def _parent_refusal(out: Path, fix: str) -> str | None:
    """The nearest existing folder above `out` must be one the preview can create folders in."""
    above = out.parent
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        return f"{above} is a file, not a folder — {fix}"
    if not os.access(above, os.W_OK | os.X_OK):
        return f"{above} is not writable by this user — {fix}"
    return None


def _write(out: Path, plan: dict[str, Any], manifests: list[Manifest]) -> None:
    """Write into a new folder beside `out` (the same file system), then rename it into place: `out` is
    the complete output of one run or absent, never part of one, nor one run's plan beside another's
    manifests. A failure or an interrupt before the rename leaves `out` as it was."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.{uuid.uuid4().hex[:12]}.partial"
    staging.mkdir()  # not mkdtemp: its 0700 would become the output's mode
    INTERRUPTS.staging.add(staging)
    try:
        (staging / MARKER).write_text(MARKER_TEXT)
        (staging / "plan.json").write_text(json.dumps(plan, indent=2, sort_keys=True) + "\n")
        if board := dashboard_json(plan):
            (staging / DASHBOARD_FILE).write_text(board)
        write_manifests(manifests, staging / "manifests")
        with INTERRUPTS.held():
            aside = _move_aside(out)
            try:
                staging.rename(out)
            finally:
                if aside:
                    shutil.rmtree(aside, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        INTERRUPTS.staging.discard(staging)


def dashboard_json(plan: dict[str, Any]) -> str | None:
    """The environment's dashboard JSON from its registered inputs, pretty-printed; None without one."""
    boards = [r["inputs"].get("dashboardJson") for r in plan["resources"] if r["type"] == DASHBOARD_TYPE]
    if not boards or not isinstance(boards[0], str):
        return None
    return json.dumps(json.loads(boards[0]), indent=2, sort_keys=True) + "\n"


def _remove(out: Path) -> None:
    """Remove an earlier run's output: a failed run leaves nothing to mistake for its result."""
    with INTERRUPTS.held():
        if aside := _move_aside(out):
            shutil.rmtree(aside)


def _move_aside(out: Path) -> Path | None:
    """Rename `out` out of the way (one atomic step) and return where it went; None if absent."""
    aside = out.parent / f".{out.name}.{uuid.uuid4().hex[:12]}.old"
    try:
        out.rename(aside)
    except FileNotFoundError:
        return None
    return aside
