"""The Makefile's variables reach the shell unquoted: a hostile value must be refused by make itself, in
one line with exit 2, before any shell runs it. Each case runs the real `make` on a copy of the Makefile
whose virtualenv stamp is up to date, so a recipe that got through would run its command for real.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAKE = shutil.which("make")
HOSTILE = ("x;touch pwned", "$(shell touch pwned)", "`touch pwned`", "$$(touch pwned)", "a b", "-rf", "x|touch pwned")
TARGETS = {  # variable -> a target that hands it to the shell, with the other variables it needs
    "NAME": ("env", {}),
    "FROM": ("env", {"NAME": "qa"}),
    "PROJECT": ("env", {"NAME": "qa"}),
    "LEVELS": ("env", {"NAME": "qa"}),
    "MODEL": ("model", {}),
    "REVISION": ("model", {"MODEL": "BAAI/bge-m3"}),
    "ENV": ("preview", {}),
    "BASE": ("diff", {}),
    "ARGS": ("status", {}),
}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    for requirements in ("requirements.txt", "requirements-dev.txt", "policies/requirements.txt"):
        (tmp_path / requirements).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / requirements).write_text("")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / ".installed").write_text("")  # written last: newer than the requirements
    return tmp_path


def make(
    workdir: Path, target: str, variables: dict[str, str], *, dry_run: bool = False
) -> subprocess.CompletedProcess[str]:
    assert MAKE, "GNU make is needed"
    command = [MAKE, "-s", *(["-n"] if dry_run else []), target, *(f"{k}={v}" for k, v in variables.items())]
    # Under `make test` the outer make's flags and command-line variables reach this one through MAKEFLAGS: the
    # copy must run as a user's make would, on its own.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=60, check=False, env=env)  # noqa: S603


# ARGS is options: several words, each may start with "-"; every other value is hostile for it too.
CASES = [(v, value) for v in sorted(TARGETS) for value in HOSTILE if not (v == "ARGS" and value in ("a b", "-rf"))]


@pytest.mark.parametrize(("variable", "value"), CASES)
def test_a_hostile_value_is_refused_by_make_before_any_shell_runs(workdir: Path, variable: str, value: str) -> None:
    target, others = TARGETS[variable]
    done = make(workdir, target, {**others, variable: value})
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and f"{variable}=" in lines[0] and "is refused: give" in lines[0], done.stderr
    assert not (workdir / "pwned").exists()
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("target", "variables", "command"),
    [
        ("env", {"NAME": "qa", "FROM": "staging"}, ".venv/bin/python -m tools.new_environment qa --from staging"),
        (
            "env",
            {"NAME": "qa", "PROJECT": "acme-ml-qa", "LEVELS": "source"},
            ".venv/bin/python -m tools.new_environment qa --from prod --project acme-ml-qa --levels source",
        ),
        (
            "model",
            {"MODEL": "Qwen/Qwen2.5-7B-Instruct-AWQ", "REVISION": "v1.0"},
            ".venv/bin/python -m tools.model_entry Qwen/Qwen2.5-7B-Instruct-AWQ --revision v1.0",
        ),
        ("diff", {"ENV": "prod", "BASE": "HEAD~1"}, ".venv/bin/python -m tools.manifest_diff --env prod --base HEAD~1"),
        (
            "status",
            {"ENV": "prod", "ARGS": "--json --wait=30m"},
            ".venv/bin/python -m tools.status prod --json --wait=30m",
        ),
        ("preview", {}, ".venv/bin/python -m preview dev"),
    ],
)
def test_good_values_reach_the_command_unchanged(
    workdir: Path, target: str, variables: dict[str, str], command: str
) -> None:
    done = make(workdir, target, variables, dry_run=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == command.split()
