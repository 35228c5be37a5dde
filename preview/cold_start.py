"""Cold start per service for the preview and plan.json (plan["coldStart"]): from node ready to serving on
the service's load path, against the startup budget the Hub path gave it before and the one it gets now."""

from __future__ import annotations

from typing import Any

from config import Environment
from config.services import load_of
from loads import default_path, load_path
from loads.facts import estimate
from runtimes import runtime_of
from workloads.model_mirror import weight_sources
from workloads.probes import served_files, startup_budget_seconds, weights_gib


def cold_start_report(env: Environment) -> dict[str, Any]:
    sources = weight_sources(env)
    rows: list[dict[str, Any]] = []
    for name, service in sorted(env.services.items()):
        load = load_of(service, env.model_mirror is not None)
        if load is None:
            continue  # the server reads its own repository (Triton): no load path to estimate
        source = sources.get(name)
        path = source.load if source else default_path().name
        gib = weights_gib(service)
        est = estimate(path, gib, generates=runtime_of(service).generates)
        rows.append(
            {
                "service": name,
                "load": path,
                "weightsGib": None if gib is None else round(gib, 1),
                "sizedFrom": _sized_from(service),
                "imagePullSeconds": est.image_pull_seconds,
                "weightsSeconds": est.weights_seconds,
                "warmupSeconds": est.warmup_seconds,
                "estimateSeconds": est.total_seconds,
                "hubBudgetSeconds": startup_budget_seconds(gib, default_path().name),
                "budgetSeconds": startup_budget_seconds(gib, path),
            }
        )
    used = sorted({str(r["load"]) for r in rows})
    return {"services": rows, "sources": {p: load_path(p).facts.source for p in used}}


def _sized_from(service: Any) -> str:
    """Where the weights' size comes from: the model's lock (read from the Hub, or collected by hand), the
    service's own figure, or its architecture (an estimate of the checkpoint)."""
    if runtime_of(service).checkpoint_gib(service) is not None:
        return "service"
    files = served_files(service)
    if files is not None and files.files:
        return "lock" if files.lock.verified else "lock (by hand)"
    return "architecture"


def _seconds(value: int | None) -> str:
    if value is None:
        return "?"
    return f"{value // 60}m{value % 60:02d}s" if value >= 60 else f"{value}s"


def cold_start_table(report: dict[str, Any]) -> str:
    """Estimated node-ready-to-serving time per service, next to its startup budget (Hub path vs now)."""
    rows = report["services"]
    if not rows:
        return ""
    lines = [
        "\nCold start per service (estimate, node ready to serving; catalog/load_paths.yaml):",
        f"    {'service':<12} {'load':<11} {'weights':>8} {'image':>7} {'load':>7} {'warm-up':>8} {'estimate':>9}"
        f" {'budget was':>11} {'budget':>8}  sized from",
    ]
    for r in rows:
        gib = "?" if r["weightsGib"] is None else f"{r['weightsGib']:.1f}G"
        lines.append(
            f"    {r['service']:<12} {r['load']:<11} {gib:>8} {_seconds(r['imagePullSeconds']):>7} "
            f"{_seconds(r['weightsSeconds']):>7} {_seconds(r['warmupSeconds']):>8} {_seconds(r['estimateSeconds']):>9}"
            f" {_seconds(r['hubBudgetSeconds']):>11} {_seconds(r['budgetSeconds']):>8}  {r['sizedFrom']}"
        )
    for path, source in report["sources"].items():
        lines.append(f"    {path}: {source}")
    return "\n".join(lines)
