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


def shown_key(key: object) -> str:
    """A key from the file as it goes into a config path: as written, or quoted when it is empty,
    has blanks at its ends or holds a line break (a problem is one line)."""
    text = str(key)
    return text if text and text.isprintable() and text.strip() == text else repr(text)


class InvalidEnvironment(RunError):
    """Raised before any resource is registered; Pulumi prints a RunError without a traceback."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"the environment file is invalid ({len(problems)} problem(s)):\n{lines}")
