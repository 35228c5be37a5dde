"""Problems found in an environment file, reported as `path: what is wrong — how to fix it`."""

from __future__ import annotations

from dataclasses import dataclass

from pulumi import RunError


@dataclass(frozen=True)
class Problem:
    path: str
    what: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path}: {self.what} — {self.fix}"


class InvalidEnvironment(RunError):
    """Raised before any resource is registered; Pulumi prints a RunError without a traceback."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"the environment file is invalid ({len(problems)} problem(s)):\n{lines}")
