"""The corpus of broken environment files (tests/bad_environments/): each is a mistake a platform
engineer makes, and the preview must stop on it with exit status 2, the exact problem lines its
`# expect:` comments name (no more, no fewer), no traceback and nothing written.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import pytest

from config import parse_environment
from config.environment import decode
from preview.envfile import MAX_FILE_BYTES, MAX_STRING_CHARS, read_environment_file
from preview.run import EXIT_INVALID, preview_environment

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "bad_environments"
FILES = sorted(CORPUS.glob("*.yaml"))


def expected_lines(path: Path) -> list[str]:
    """The `# expect: <problem line>` comments at the top of a corpus file."""
    lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()
    return [line.removeprefix("# expect: ") for line in lines if line.startswith("# expect: ")]


def preview(path: Path, out: Path) -> tuple[int, str, str]:
    err, printed = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(printed):
        code = preview_environment("dev", str(out), quiet=True, env_file=path)
    return code, err.getvalue(), printed.getvalue()


def test_the_corpus_is_large_and_every_file_says_what_it_expects() -> None:
    assert len(FILES) >= 30
    for path in FILES:
        assert path.read_bytes().startswith(b"# expect: "), f"{path.name} does not start with `# expect:`"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_bad_environment_is_refused_with_its_problems(path: Path, tmp_path: Path) -> None:
    out = tmp_path / "build"
    code, stderr, stdout = preview(path, out)
    expected = expected_lines(path)
    shown = path.relative_to(ROOT)
    assert code == EXIT_INVALID, f"exit {code}\n{stderr}{stdout}"
    assert "Traceback" not in stderr + stdout
    problem_lines = stderr.splitlines()
    assert problem_lines[0] == f"error: {shown}: {len(expected)} problem(s), nothing was created:", stderr
    for line in expected:
        assert f"  {line}" in problem_lines, f"missing: {line}\n--- stderr:\n{stderr}"
    # The verdict last: how many, each problem's config path, and what exit 2 means.
    summary = problem_lines[-len(expected) - 2 :]
    assert summary[0] == f"Summary: {len(expected)} problem(s) in {shown}:"
    assert sorted(summary[1:-1]) == sorted(f"  {line.split(': ', 1)[0]}" for line in expected)
    assert summary[-1].startswith("exit 2: the environment file is invalid")
    assert not (out / "plan.json").exists()
    assert not out.exists() or not any(out.iterdir()), "the preview wrote output for an invalid environment"


@pytest.mark.parametrize(
    "name",
    [
        "yaml-tab",  # refused while reading the file
        "numshard-above-pool-gpus",  # refused by the program's first statement, under the mock engine
        "not-utf8",  # bytes that are not text
        "yaml-alias-bomb",  # refused from the parser's events, before memory grows
        "queue-target-inf",  # was OverflowError while rendering the HPA
        "kubernetes-version-without-schemas",  # was FileNotFoundError while validating manifests
    ],
)
def test_the_command_exits_2_without_a_traceback(name: str, tmp_path: Path) -> None:
    path = CORPUS / f"{name}.yaml"
    done = subprocess.run(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "preview", "dev", "--file", str(path), "--out-dir", str(tmp_path / "out"), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    for line in expected_lines(path):
        assert f"  {line}" in done.stderr.splitlines(), done.stderr
    assert not (tmp_path / "out").exists()


GOOD_FILE = (
    (CORPUS / "plaintext-token.yaml")
    .read_text()
    .replace(
        "  gke-serving:hfToken: hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ012345\n", "  gke-serving:hfToken:\n    secure: v1:abc\n"
    )
)
# Files too large to keep in the corpus, made here: (what to append to a valid file, expected problem).
GENERATED = {
    "file-too-large": (
        "#" + "x" * MAX_FILE_BYTES + "\n",
        "{file}: larger than 1024 KiB — pass an environment file: a few KB of config, as environments/Pulumi.*.yaml",
    ),
    "string-too-long": (
        f"  gcp:zone: {'a' * (MAX_STRING_CHARS + 1)}\n",
        "{file}: a string of more than 16384 characters at line 16 — shorten it: a setting is a name, a number or a flag",
    ),
}


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_a_file_beyond_the_size_limits_is_refused(name: str, tmp_path: Path) -> None:
    appended, problem = GENERATED[name]
    path = tmp_path / f"{name}.yaml"
    path.write_text(GOOD_FILE + appended)
    code, stderr, stdout = preview(path, tmp_path / "build")
    assert code == EXIT_INVALID, stderr + stdout
    shown = problem.format(file=path)
    assert stderr.splitlines()[1:] == [
        f"  {shown}",
        "",
        f"Summary: 1 problem(s) in {path}:",
        f"  {shown.split(': ', 1)[0]}",
        "exit 2: the environment file is invalid — nothing was created; fix each problem above, then run again",
    ], stderr
    assert not (tmp_path / "build").exists()


def test_the_file_the_limits_are_measured_on_passes(tmp_path: Path) -> None:
    """The generated files above fail for what they append, not for the file they start from."""
    path = tmp_path / "Pulumi.ok.yaml"
    path.write_text(GOOD_FILE)
    read_environment_file(path)


def test_what_yaml_and_pulumi_allow_is_not_refused(tmp_path: Path) -> None:
    """The checks behind the corpus must not refuse valid YAML: anchors with merge keys (own keys
    override merged ones, that is no duplicate), a date-like revision (a string, as Pulumi passes
    it), an empty `services:` (no services yet)."""
    path = tmp_path / "Pulumi.ok.yaml"
    path.write_text(
        """\
config:
  gcp:project: acme-ml-dev
  gcp:region: us-central1
  gke-serving:cluster:
    name: serving-dev
    location: us-central1-a
  gke-serving:nodePools:
    l4: &l4
      machineType: g2-standard-8
      gpu: {type: nvidia-l4, count: 1}
      maxNodes: 3
    l4-spot:
      <<: *l4
      spot: true
      maxNodes: 4
  gke-serving:hfToken:
    secure: v1:abc
  gke-serving:services:
"""
    )
    raw = {key: decode(value) for key, value in read_environment_file(path).values.items()}
    env = parse_environment(raw)
    assert env.services == {}
    assert env.node_pools["l4-spot"].spot and env.node_pools["l4-spot"].max_nodes == 4
    assert env.node_pools["l4-spot"].machine_type == "g2-standard-8"
    path.write_text(path.read_text().replace("  gke-serving:services:\n", DATED_SERVICE))
    raw = {key: decode(value) for key, value in read_environment_file(path).values.items()}
    assert parse_environment(raw).services["embed"].revision == "2024-06-01"


DATED_SERVICE = """\
  gke-serving:services:
    embed: {runtime: tei, model: BAAI/bge-m3, pool: l4, revision: 2024-06-01}
"""
