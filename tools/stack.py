"""What `status` and `smoke` read about a deployed stack: its outputs, its environment file, durations.

Every failure here is a `CannotTell`: one line saying what could not be read and how to fix it, which
the commands print and turn into exit status 3 ("cannot tell"), never a traceback.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXIT_CANNOT_TELL = 3
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?")
# Pulumi's own messages about a stack it cannot find, for a clearer line than its last one.
_NO_STACK = ("no stack named", "stack not found", "no stack selected")


class CannotTell(Exception):
    """Something the command needs cannot be read: exit 3, with this one-line message."""


def duration(text: str) -> float:
    """Seconds in "45m", "1h30m", "90s" or "90" (seconds); argparse's type for --wait and --timeout."""
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration — write e.g. 90s, 30m or 1h")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every given secret and any bearer token replaced: nothing a command prints names a key."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    text = re.sub(r"(?i)(bearer\s+)[^\s\"',;]+", r"\1[redacted]", text)
    return re.sub(r"(?i)((?:api[_-]?key|token)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;}]+", r"\1[redacted]", text)


def stack_outputs(
    stack: str, names: Sequence[str], *, outputs_file: Path | None = None, reveal: str | None = None
) -> dict[str, Any]:
    """The named outputs of the stack (`pulumi stack output --json`), or of `outputs_file` (the same JSON).

    `reveal` names the one secret output read with `--show-secrets`; every other stays "[secret]"."""
    if outputs_file is not None:
        outputs = _read_json(outputs_file)
    else:
        outputs = _pulumi_json(["pulumi", "stack", "output", "--json", "--stack", stack], stack)
        if reveal is not None and reveal in outputs:
            shown = ["pulumi", "stack", "output", reveal, "--show-secrets", "--json", "--stack", stack]
            outputs = {**outputs, reveal: _pulumi_json(shown, stack)}
    missing = [name for name in names if outputs.get(name) in (None, "")]
    if missing:
        where = outputs_file or f"stack {stack}"
        raise CannotTell(
            f"{where} has no output {', '.join(missing)} — run `pulumi up` for the stack first "
            "(or check --stack names the deployed stack)"
        )
    return {name: outputs[name] for name in names}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise CannotTell(f"cannot read {path}: {e.strerror or e}") from None
    except ValueError as e:
        raise CannotTell(f"{path} is not JSON: {e}") from None
    if not isinstance(data, dict):
        raise CannotTell(f"{path} is not a JSON object of stack outputs")
    return data


def _pulumi_json(command: list[str], stack: str) -> Any:
    if shutil.which(command[0]) is None:
        raise CannotTell("the pulumi CLI is not on PATH — install it (https://www.pulumi.com/docs/install/)")
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)  # noqa: S603
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        last = redact(lines[-1] if lines else f"exit status {result.returncode}")
        if any(phrase in last.lower() for phrase in _NO_STACK):
            raise CannotTell(f"pulumi has no stack {stack}: {last} — `pulumi login` to its backend first")
        raise CannotTell(f"`{' '.join(command[:3])}` failed for stack {stack}: {last}")
    try:
        return json.loads(result.stdout)
    except ValueError:
        raise CannotTell(f"`{' '.join(command[:3])}` printed something other than JSON") from None


def environment(env: str, env_file: Path | None = None) -> Any:
    """The environment file of `env`, parsed and checked as the program parses it (config.Environment)."""
    from config.environment import decode, parse_environment  # noqa: PLC0415 (only the commands that need it)
    from preview.envfile import read_environment_file  # noqa: PLC0415
    from settings.problems import InvalidEnvironment  # noqa: PLC0415

    path = env_file or ROOT / "environments" / f"Pulumi.{env}.yaml"
    if not path.is_file():
        raise CannotTell(f"no environment file {path} — name an environment of environments/ (or --env-file)")
    try:
        config = read_environment_file(path)
        return parse_environment({k: decode(v) for k, v in config.values.items()}, stack=env)
    except InvalidEnvironment as e:
        first = str(e.problems[0]) if e.problems else "invalid"
        raise CannotTell(f"{path} is invalid ({first}) — `make preview ENV={env}` lists every problem") from None


def plan_rows(path: Path, section: str, key: str) -> Mapping[str, dict[str, Any]]:
    """Rows of a section of an offline preview's plan.json ("memory", "nodeFit") by `key`; {} when absent."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8")).get(section) or []
    except (OSError, ValueError, AttributeError):
        return {}
    return {str(row[key]): row for row in rows if isinstance(row, dict) and key in row}
