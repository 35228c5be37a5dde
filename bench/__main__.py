"""Preview wall time and peak memory for 10, 50 and 200 services, beside the bare mock engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.generate import environment

SIZES = (10, 50, 200)


def measure(argv: list[str], ok: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) of one fresh child process, which must exit with a code in `ok`."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL)  # noqa: S603 (our own interpreter and modules)
    _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage, not the running maximum
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode not in ok:
        raise SystemExit(f"{' '.join(argv)} exited {child.returncode}")
    return wall, usage.ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in SIZES:
            env_file = Path(tmp) / f"Pulumi.bench{size}.yaml"
            env_file.write_text(environment(size))
            out = Path(tmp) / f"out{size}"
            preview = measure(
                [
                    sys.executable,
                    "-m",
                    "preview",
                    f"bench{size}",
                    "--quiet",
                    "--file",
                    str(env_file),
                    "--out-dir",
                    str(out),
                ],
                # A synthetic environment trips the default stack policies (GPU and cost ceilings):
                # exit 1 is a complete preview, with its policy results.
                ok=(0, 1),
            )
            resources = len(json.loads((out / "plan.json").read_text())["resources"])
            bare = measure([sys.executable, "-m", "bench.bare", str(out / "plan.json")])
            sdk = measure([sys.executable, "-m", "bench.sdk", str(out / "plan.json")])
            rows.append((size, resources, preview, bare, sdk[0]))
    print(
        f"{'services':>8} {'resources':>9} {'preview s':>9} {'bare s':>7} {'SDK s':>6} {'ratio':>6} "
        f"{'preview MiB':>11} {'bare MiB':>8}  {'ms/resource (preview, bare)':>27}"
    )
    for size, resources, (p_wall, p_mem), (b_wall, b_mem), sdk_wall in rows:
        print(
            f"{size:>8} {resources:>9} {p_wall:>9.2f} {b_wall:>7.2f} {sdk_wall:>6.2f} "
            f"{p_wall / (b_wall + sdk_wall):>6.2f} {p_mem:>11.0f} {b_mem:>8.0f}  "
            f"{1000 * p_wall / resources:>13.2f}, {1000 * b_wall / resources:.2f}"
        )
    print(
        "ratio: preview / (SDK import + bare engine); the target is at most 2 at 200 services. SDK: importing the "
        "provider modules of the registered types (bench/sdk.py); bare: the same registrations without the program."
    )


if __name__ == "__main__":
    main()
