"""Terminal output in the shape of `pulumi preview`: a resource tree and counts."""

from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from typing import TextIO

from preview.engine import Registration


def resource_tree(project: str, stack: str, registrations: list[Registration]) -> str:
    children: dict[str, list[Registration]] = defaultdict(list)
    for r in registrations:
        children[r.parent].append(r)
    width = max((len(r.type) for r in registrations), default=20) + 12
    lines = [f"     {'Type':<{width}}Name", f" +   {'pulumi:pulumi:Stack':<{width}}{project}-{stack}"]

    def walk(parent: str, prefix: str) -> None:
        kids = children.get(parent, [])
        for i, r in enumerate(kids):
            last = i == len(kids) - 1
            branch = f"{prefix}{'└─ ' if last else '├─ '}"
            lines.append(f" +   {branch + r.type:<{width}}{r.name}")
            walk(r.urn, prefix + ("   " if last else "│  "))

    registered = {r.urn for r in registrations}
    for root in [p for p in children if p not in registered]:  # the stack (not recorded), or no parent
        walk(root, "")
    return "\n".join(lines)


def type_counts(registrations: list[Registration]) -> dict[str, int]:
    return dict(sorted(Counter(r.type for r in registrations).items()))


def summary(registrations: list[Registration]) -> str:
    counts = type_counts(registrations)
    lines = ["Resources:", f"    + {len(registrations) + 1} to create (stack included)", "", "By type:"]
    lines += [f"    {n:>4}  {t}" for t, n in counts.items()]
    return "\n".join(lines)


# What each exit code of `python -m preview` means (README, "Exit status"), for the verdict line.
EXIT_MEANINGS = {
    0: "clean — nothing refused",
    1: "a mandatory policy failed or a manifest fails its schema — the plan is written to read; `pulumi up` would be refused",
    2: "the environment file is invalid — nothing was created; fix each problem above, then run again",
}


def verdict(code: int) -> str:
    """The last line of a run: its exit code and what the code means."""
    return f"exit {code}: {EXIT_MEANINGS[code]}"


def invalid_summary(shown: str, problems: list[object]) -> list[str]:
    """The closing lines of a run refused for its environment file: how many problems, each one's config path,
    and the verdict (the problems themselves are printed in full above)."""
    paths = [str(getattr(p, "path", p)) for p in problems]
    return [
        "",
        f"Summary: {len(problems)} problem(s) in {shown}:",
        *(f"  {path}" for path in paths),
        verdict(2),
    ]


def run_summary(findings: list[tuple[str, str]], code: int) -> list[str]:
    """The closing lines of a preview that ran: every finding that refuses or is beyond its budget
    ((what, where) pairs), then the verdict."""
    lines = ["", f"Summary: {len(findings)} finding(s) to act on" + (":" if findings else ".")]
    lines += [f"  {what}: {where}" for what, where in findings]
    return [*lines, verdict(code)]


class Progress:
    """The preview's phases on a terminal, so a wait of several seconds says what it waits for. Silent when
    `--quiet`, when stderr is not a terminal (piped, captured) and in CI (CI set, as GitHub Actions sets it)."""

    def __init__(self, stream: TextIO, *, quiet: bool) -> None:
        self.stream = stream
        self.enabled = not quiet and stream.isatty() and os.environ.get("CI", "") in ("", "0", "false")
        self.started = time.perf_counter()

    def phase(self, what: str) -> None:
        if self.enabled:
            print(f"[{time.perf_counter() - self.started:5.1f}s] {what}…", file=self.stream, flush=True)
