"""The preview's output folder is complete or absent, the same input gives the same bytes, and the exit
status tells a policy failure (1) from an invalid environment (2), an internal error (3) and an
interrupt (130)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml

import preview.run
from bench.generate import environment
from preview.manifests import Manifest, write_manifests
from preview.report import Progress
from preview.run import (
    DEBUG_ENV,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_POLICY,
    INTERRUPTS,
    preview_environment,
)
from tests.test_preview import GEMMA_ON_L4, preview_file

ROOT = Path(__file__).resolve().parent.parent
BAD_FILE = ROOT / "tests" / "bad_environments" / "yaml-tab.yaml"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "preview", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def small(tmp_path: Path) -> Path:
    """An environment file of one model server that passes every policy: a run independent of environments/."""
    config = json.loads(json.dumps(GEMMA_ON_L4))
    config["gke-serving:services"]["gemma"]["maxModelLen"] = 600
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(yaml.safe_dump({"config": config}))
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def earlier_output(out: Path) -> dict[str, bytes]:
    """What an earlier run left in `out`: a plan and a manifest this run would not write."""
    (out / "manifests").mkdir(parents=True)
    (out / ".gke-serving-preview").write_text("Written by `python -m preview`\n")
    (out / "plan.json").write_text('{"stack": "earlier"}\n')
    (out / "manifests" / "serving_deployment_gone.yaml").write_text("kind: Deployment\n")
    return snapshot(out)


def leftovers(parent: Path) -> list[str]:
    """Staging or set-aside folders a run left beside its output."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_the_same_environment_gives_byte_identical_output(tmp_path: Path) -> None:
    # Two processes with different hash seeds, side by side: set and thread order differ, the files must not.
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(
            pool.map(
                lambda seed: cli(
                    "prod", "--quiet", "--out-dir", str(tmp_path / f"run{seed}"), env={"PYTHONHASHSEED": seed}
                ),
                ("1", "2"),
            )
        )
    assert [d.returncode for d in done] == [EXIT_OK, EXIT_OK], [d.stderr for d in done]
    first, second = snapshot(tmp_path / "run1"), snapshot(tmp_path / "run2")
    assert len(first) > 20 and "plan.json" in first and "dashboard.json" in first
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []
    files = json.loads(first["plan.json"])["manifests"]["files"]
    assert (
        files
        == sorted(files)
        == sorted(
            name.removeprefix("manifests/")
            for name in first
            if name not in ("plan.json", "dashboard.json", ".gke-serving-preview")
        )
    )


def test_a_complete_run_replaces_the_earlier_output_whole(tmp_path: Path) -> None:
    out = tmp_path / "prod"
    earlier_output(out)
    assert preview_environment("prod", str(out), quiet=True, env_file=small(tmp_path)) == EXIT_OK
    assert json.loads((out / "plan.json").read_text())["stack"] == "prod"
    assert not (out / "manifests" / "serving_deployment_gone.yaml").exists()
    assert leftovers(tmp_path) == []


def test_a_policy_failure_is_a_complete_output_to_read(tmp_path: Path) -> None:
    earlier_output(tmp_path / "out")
    code, out = preview_file(tmp_path, GEMMA_ON_L4)
    assert code == EXIT_POLICY
    plan = json.loads((out / "plan.json").read_text())
    assert {p["policy"] for p in plan["policies"]} >= {"model-fits-gpu-memory"}
    assert sorted(p.name for p in (out / "manifests").iterdir()) == plan["manifests"]["files"]
    assert leftovers(tmp_path) == []


def test_an_invalid_environment_removes_the_earlier_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    earlier_output(out)
    assert preview_environment("dev", str(out), quiet=True, env_file=BAD_FILE) == EXIT_INVALID
    assert not out.exists()
    assert leftovers(tmp_path) == []


def explode(*_: object) -> NoReturn:
    raise RuntimeError("the policy engine exploded\nwith a second line")


def test_an_internal_error_is_exit_3_in_one_line_and_removes_the_earlier_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    monkeypatch.setattr(preview.run, "evaluate_pack", explode)
    out = tmp_path / "out"
    earlier_output(out)
    assert preview_environment("prod", str(out), quiet=True, env_file=small(tmp_path)) == EXIT_INTERNAL
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "internal error: RuntimeError: the policy engine exploded"
    assert "--debug" in err[1] and DEBUG_ENV in err[1]
    assert len(err) == 2
    assert not out.exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("how", ["flag", "variable"])
def test_debug_adds_the_traceback(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(preview.run, "evaluate_pack", explode)
    if how == "variable":
        monkeypatch.setenv(DEBUG_ENV, "1")
    code = preview_environment("prod", str(tmp_path / "out"), quiet=True, env_file=small(tmp_path), debug=how == "flag")
    assert code == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert "internal error: RuntimeError: the policy engine exploded" in err


def write_one_then(error: BaseException) -> Any:
    def write(manifests: list[Manifest], directory: Path) -> None:
        write_manifests(manifests[:1], directory)
        raise error

    return write


def test_a_failure_while_writing_leaves_no_partial_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preview.run, "write_manifests", write_one_then(OSError(28, "No space left on device")))
    out = tmp_path / "out"
    earlier_output(out)
    assert preview_environment("prod", str(out), quiet=True, env_file=small(tmp_path)) == EXIT_INTERNAL
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_an_interrupt_while_writing_leaves_the_earlier_output_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In-process (no signal handler installed), KeyboardInterrupt goes through; the rename never ran.
    monkeypatch.setattr(preview.run, "write_manifests", write_one_then(KeyboardInterrupt()))
    out = tmp_path / "out"
    before = earlier_output(out)
    with pytest.raises(KeyboardInterrupt):
        preview_environment("prod", str(out), quiet=True, env_file=small(tmp_path))
    assert snapshot(out) == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "name", ["../../etc", "dev/../prod", "/etc", "Prod", "dev\n", "-dev", "dev-", "", "dev prod", "a" * 64, "."]
)
def test_a_name_that_is_not_an_environment_name_is_refused_before_any_path_is_built(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert preview_environment(name, quiet=True) == EXIT_INVALID
    printed = capsys.readouterr()
    assert printed.err.startswith(f"error: {name!r} is not an environment name — ")
    assert printed.out == ""


def test_the_command_refuses_a_path_as_environment_name() -> None:
    done = cli("../../etc", "--quiet")
    assert done.returncode == EXIT_INVALID
    assert done.stderr.startswith("error: '../../etc' is not an environment name")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("name", ["a", "prod-eu1", "a" * 63])
def test_names_that_are_dns_labels_are_environment_names(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No environments/Pulumi.<name>.yaml: refused for the missing file, not for the name.
    assert preview_environment(name, str(tmp_path / "out"), quiet=True) == EXIT_INVALID
    assert "no such environment file" in capsys.readouterr().err


def test_an_output_folder_with_other_files_is_not_replaced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    assert preview_environment("dev", str(out), quiet=True) == EXIT_INVALID
    assert (out / "notes.txt").read_text() == "mine\n"
    assert "holds notes.txt and the preview did not create it (no .gke-serving-preview)" in capsys.readouterr().err
    link = tmp_path / "link"
    link.symlink_to(out)
    assert preview_environment("dev", str(link), quiet=True) == EXIT_INVALID
    assert link.is_symlink()


def test_two_objects_with_one_file_name_fail_instead_of_replacing_each_other(tmp_path: Path) -> None:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "serving"}}
    with pytest.raises(FileExistsError):
        write_manifests([Manifest("cluster_namespace_serving.yaml", body)] * 2, tmp_path / "a")
    with pytest.raises(ValueError, match="not a plain file name"):
        write_manifests([Manifest("../cluster_namespace_serving.yaml", body)], tmp_path / "b")


def test_an_interrupt_during_the_swap_waits_for_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exits: list[int] = []

    def leave(code: int) -> NoReturn:
        exits.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(os, "_exit", leave)
    interrupts = type(INTERRUPTS)()
    staging = tmp_path / ".out.partial"
    staging.mkdir()
    interrupts.staging.add(staging)
    during: list[list[int]] = []

    def swap() -> None:
        with interrupts.held():
            interrupts.handle(signal.SIGINT, None)
            during.append(list(exits))

    with pytest.raises(SystemExit):
        swap()
    assert during == [[]]  # held: the swap went on to its end
    assert exits == [EXIT_INTERRUPTED]
    assert not staging.exists()


def engine_started(pid: int, since: float) -> bool:
    """The mock engine registers resources from worker threads: a second thread means the program runs.
    Without /proc (macOS) it waits instead: here the program starts after 3.4 s of a 7.6 s run."""
    tasks = Path(f"/proc/{pid}/task")
    if not tasks.is_dir():
        return time.monotonic() - since > 4.0
    return len(os.listdir(tasks)) > 1


@pytest.mark.parametrize("phase", ["importing", "running the program"])
def test_the_first_ctrl_c_stops_the_run_with_130_and_no_partial_output(phase: str, tmp_path: Path) -> None:
    # Fifty services: a run of several seconds, so the interrupt lands mid-program. Before the fix an
    # interrupt inside a resource constructor left the SDK waiting for Outputs nobody would resolve.
    env_file = tmp_path / "Pulumi.bench50.yaml"
    env_file.write_text(environment(50))
    out = tmp_path / "out"
    before = earlier_output(out)
    child = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "preview", "bench50", "--quiet", "--env-file", str(env_file), "--out-dir", str(out)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = time.monotonic()
    deadline = started + 60
    if phase == "running the program":
        while not engine_started(child.pid, started) and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.02)
        time.sleep(0.3)
    else:
        time.sleep(0.3)
    assert child.poll() is None, "the run ended before the interrupt"
    child.send_signal(signal.SIGINT)
    interrupted = time.monotonic()
    try:
        _, err = child.communicate(timeout=15)
    finally:
        if child.poll() is None:  # hung: the assertion below fails, the child must not outlive the test
            child.kill()
            child.wait()
    assert time.monotonic() - interrupted < 5
    assert child.returncode == EXIT_INTERRUPTED, err
    assert "Traceback" not in err
    if phase == "running the program":
        assert err.strip() == "interrupted: no partial output was written"
    assert snapshot(out) == before
    assert leftovers(tmp_path) == []


def test_a_folder_holding_plan_json_and_manifests_is_not_the_previews_without_its_marker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mine"
    (out / "manifests").mkdir(parents=True)
    (out / "manifests" / "notes.yaml").write_text("mine\n")
    (out / "plan.json").write_text("{}\n")
    assert preview_environment("dev", str(out), quiet=True) == EXIT_INVALID
    assert (out / "manifests" / "notes.yaml").read_text() == "mine\n"
    assert capsys.readouterr().err == (
        f"error: --out-dir {out}: holds manifests, plan.json and the preview did not create it (no "
        ".gke-serving-preview) — pass an --out-dir that is new, empty or an earlier preview's (it holds "
        ".gke-serving-preview)\n"
    )


def test_the_preview_replaces_only_a_folder_it_marked(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert preview_environment("dev", str(out), quiet=True) == 0
    assert (out / ".gke-serving-preview").is_file()
    assert preview_environment("dev", str(out), quiet=True) == 0


def out_dir_error(out: str, *, as_nobody: bool = False, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """The preview in a subprocess; `as_nobody` runs it as uid 65534 in a user namespace (bubblewrap, as `make
    jobs` does), where root's power to write into any folder does not reach."""
    nobody = ["bwrap", "--bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-user", "--uid", "65534"]
    return subprocess.run(  # noqa: S603 (our own interpreter and module)
        [*(nobody if as_nobody else []), sys.executable, "-m", "preview", "dev", "--out-dir", out, "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **kwargs,
    )


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("file/out", "{tmp}/file is a file, not a folder"),
        ("file/a/b", "{tmp}/file is a file, not a folder"),
        ("/proc/gke-serving-out", "inside a kernel file system, where nothing can be written"),
        ("/proc/self/out", "inside a kernel file system, where nothing can be written"),
    ],
)
def test_an_out_dir_nothing_can_be_written_to_is_exit_2_in_one_line(where: str, reason: str, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("a file\n")
    out = where if where.startswith("/") else str(tmp_path / where)
    done = out_dir_error(out)
    assert done.returncode == EXIT_INVALID, done.stderr
    assert done.stderr.splitlines() == [
        f"error: --out-dir {out}: {reason.format(tmp=tmp_path)} — pass an --out-dir that is new, empty or an "
        "earlier preview's (it holds .gke-serving-preview)"
    ]
    assert (tmp_path / "file").read_text() == "a file\n"


def test_an_out_dir_under_a_folder_the_user_cannot_write_is_exit_2_in_one_line(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    # Root may write into any folder: the preview runs as nobody in a user namespace, as a plain user would.
    done = out_dir_error(str(locked / "out"), as_nobody=True)
    assert done.returncode == EXIT_INVALID, done.stderr
    assert done.stderr.splitlines() == [
        f"error: --out-dir {locked / 'out'}: {locked} is not writable by this user — pass an --out-dir that is new, "
        "empty or an earlier preview's (it holds .gke-serving-preview)"
    ]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("stream", "ci", "quiet", "shown"),
    [
        (_Terminal, "", False, True),
        (_Terminal, "true", False, False),  # GitHub Actions sets CI=true
        (_Terminal, "", True, False),
        (io.StringIO, "", False, False),  # piped or captured
    ],
)
def test_phases_show_on_a_terminal_only(
    stream: type[io.StringIO], ci: str, quiet: bool, shown: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", ci)
    out = stream()
    progress = Progress(out, quiet=quiet)
    progress.phase("validating 3 manifests")
    assert (out.getvalue().endswith("] validating 3 manifests…\n")) is shown
    assert bool(out.getvalue()) is shown
