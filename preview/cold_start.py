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
from workloads.probes import startup_budget_seconds, weights_size


def cold_start_report(env: Environment) -> dict[str, Any]:
    sources = weight_sources(env)
    rows: list[dict[str, Any]] = []
    for name, service in sorted(env.services.items()):
        load = load_of(service, env.model_mirror is not None)
        if load is None:
            continue  # the server reads its own repository (Triton): no load path to estimate
        source = sources.get(name)
        path = source.load if source else default_path().name
        gib, sized_from = weights_size(service)
        est = estimate(path, gib, generates=runtime_of(service).generates)
        rows.append(
            {
                "service": name,
                "load": path,
                "weightsGib": None if gib is None else round(gib, 1),
                "sizedFrom": sized_from,
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


def _seconds(value: int | None) -> str:
    if value is None:
        return "?"
    return f"{value // 60}m{value % 60:02d}s" if value >= 60 else f"{value}s"


# What each column of the table is (printed under it): a reader should not need the source to read a row.
COLUMN_NOTES = (
    "weights: the checkpoint files the server reads; image: pulling the server image;",
    "load: the weights from their store to the server, by the path in the second column;",
    "warm-up: the server's own start (CUDA graphs, compilation); estimate: image + load + warm-up;",
    "budget was: the startup probe's window on the Hub path; budget: its window now; ! an estimate beyond it;",
    "sized from: the model's lock (read from the Hub, or collected by hand), the service's own figure, or its"
    " architecture (an estimate).",
)


def over_budget(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows whose estimate exceeds the startup budget they have now (the summary counts them)."""
    return [
        r
        for r in report["services"]
        if r["estimateSeconds"] is not None
        and r["budgetSeconds"] is not None
        and r["estimateSeconds"] > r["budgetSeconds"]
    ]


def cold_start_table(report: dict[str, Any]) -> str:
    """Estimated node-ready-to-serving time per service, next to its startup budget (Hub path vs now)."""
    rows = report["services"]
    if not rows:
        return ""
    late = {r["service"] for r in over_budget(report)}
    lines = [
        "\nCold start per service (estimate, node ready to serving; catalog/load_paths.yaml):",
        f"    {'service':<12} {'load':<11} {'weights':>8} {'image':>7} {'load':>7} {'warm-up':>8} {'estimate':>9}"
        f" {'budget was':>11} {'budget':>8}  sized from",
    ]
    for r in rows:
        gib = "?" if r["weightsGib"] is None else f"{r['weightsGib']:.1f}G"
        mark = "!" if r["service"] in late else " "
        lines.append(
            f"    {r['service']:<12} {r['load']:<11} {gib:>8} {_seconds(r['imagePullSeconds']):>7} "
            f"{_seconds(r['weightsSeconds']):>7} {_seconds(r['warmupSeconds']):>8} "
            f"{_seconds(r['estimateSeconds']) + mark:>10}{_seconds(r['hubBudgetSeconds']):>11} "
            f"{_seconds(r['budgetSeconds']):>8}  {r['sizedFrom']}"
        )
    lines += [f"    {note}" for note in COLUMN_NOTES]
    for path, source in report["sources"].items():
        lines.append(f"    {path}: {source}")
    return "\n".join(lines)
