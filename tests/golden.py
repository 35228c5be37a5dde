"""Golden rendered manifests per environment. `make golden` (python -m tests.golden) rewrites them
from the current program; review the diff like code."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

import yaml

from preview.run import EXIT_INVALID, preview_environment
from tools.new_environment import environment_names

GOLDEN = Path(__file__).parent / "golden"
ENVIRONMENTS = tuple(environment_names())


def inventory(plan: dict[str, object]) -> dict[str, int]:
    """Resources per type: the part of the plan that is not a Kubernetes manifest."""
    resources = plan["resources"]
    assert isinstance(resources, list)
    return dict(sorted(Counter(str(r["type"]) for r in resources).items()))


def render(env: str, out: Path) -> None:
    """Preview `env` into `out`: manifests/ and inventory.yaml, as stored under tests/golden/<env>/."""
    with tempfile.TemporaryDirectory() as tmp:
        if preview_environment(env, tmp, quiet=True) == EXIT_INVALID:
            raise SystemExit(f"{env}: the environment file is invalid")
        plan = json.loads((Path(tmp) / "plan.json").read_text())
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(Path(tmp) / "manifests", out / "manifests")
        (out / "inventory.yaml").write_text(yaml.safe_dump(inventory(plan), sort_keys=True))


def main() -> None:
    for env in sys.argv[1:] or ENVIRONMENTS:
        render(env, GOLDEN / env)
        print(f"wrote {GOLDEN / env}")


if __name__ == "__main__":
    main()
