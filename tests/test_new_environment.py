"""`make env`: a new environment from an existing one, written clean, in a project of its own, held to mandatory
policy levels; it previews cleanly from prod and needs only its golden files."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest
import yaml

from policies import evaluate as evaluate_module
from preview.run import EXIT_OK, EXIT_POLICY, preview_environment
from tools import new_environment
from tools.new_environment import Refused, create, mandatory_levels

ROOT = Path(__file__).resolve().parent.parent


def free_name(prefix: str = "copy") -> str:
    """An environment name no file of the repository takes (a user may have made `qa` already)."""
    taken = set(new_environment.environment_names())
    return next(f"{prefix}-{i}" for i in range(100) if f"{prefix}-{i}" not in taken)


NEW = free_name()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """environments/ and policies/config/ copied, and the tool and the policy runner pointed at them."""
    shutil.copytree(ROOT / "environments", tmp_path / "environments")
    shutil.copytree(ROOT / "policies" / "config", tmp_path / "config")
    monkeypatch.setattr(new_environment, "ROOT", tmp_path)
    monkeypatch.setattr(new_environment, "ENVIRONMENTS", tmp_path / "environments")
    monkeypatch.setattr(new_environment, "POLICY_CONFIG", tmp_path / "config")
    monkeypatch.setattr(evaluate_module, "CONFIG_DIR", tmp_path / "config")
    return tmp_path


def preview(repo: Path) -> tuple[int, str]:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = preview_environment(
            NEW, str(repo / "out"), quiet=True, env_file=repo / "environments" / f"Pulumi.{NEW}.yaml"
        )
    return code, printed.getvalue()


def test_a_copy_of_prod_is_clean_in_its_own_project_and_previews_cleanly(repo: Path) -> None:
    lines = create(NEW, "prod", "acme-ml-copy")
    assert lines[0] == f"wrote environments/Pulumi.{NEW}.yaml and config/{NEW}.json (from prod)"
    text = (repo / "environments" / f"Pulumi.{NEW}.yaml").read_text()
    # One header line of its own; no comment of the source's.
    assert [line for line in text.splitlines() if "#" in line] == [
        f"# {NEW}: made with `make env NAME={NEW} FROM=prod`; review every value below."
    ]
    config = yaml.safe_load(text)["config"]
    assert config["gcp:project"] == "acme-ml-copy"
    assert config["gke-serving:cluster"]["name"] == f"serving-{NEW}"
    assert "domain" not in config["gke-serving:gateway"]
    assert config["gke-serving:gateway"]["className"] == "gke-l7-rilb"
    assert "next:" in lines
    assert any(f"pulumi config set --secret hfToken hf_... -s {NEW}" in line for line in lines)
    assert preview(repo)[0] == EXIT_OK


def test_levels_start_mandatory_and_keep_the_ceilings_and_noted_exceptions(repo: Path) -> None:
    create(NEW, "prod", "acme-ml-copy")
    written = json.loads((repo / "config" / f"{NEW}.json").read_text())
    prod = json.loads((repo / "config" / "prod.json").read_text())
    assert written["all"] == "mandatory"
    assert written["monthly-cost-ceiling"] == prod["monthly-cost-ceiling"]
    assert written["prod-images-pinned-by-digest"] == prod["prod-images-pinned-by-digest"]  # it carries a note
    dev = json.loads((repo / "config" / "dev.json").read_text())
    assert mandatory_levels(dev) == {
        "all": "mandatory",
        "max-gpus-at-max-scale": {"maxGpus": 4},
        "allowed-gpu-types": {"gpuTypes": ["nvidia-l4", "nvidia-tesla-t4"]},
        "monthly-cost-ceiling": {"maxMonthlyUsd": 1800},
    }


def test_a_copy_of_dev_fails_what_dev_only_warns_about_unless_told_to_keep_its_levels(repo: Path) -> None:
    create(NEW, "dev", "acme-ml-copy")
    code, printed = preview(repo)
    assert code == EXIT_POLICY
    assert "[mandatory] revision-pinned" in printed
    shutil.rmtree(repo / "out")
    (repo / "environments" / f"Pulumi.{NEW}.yaml").unlink()
    (repo / "config" / f"{NEW}.json").unlink()
    lines = create(NEW, "dev", "acme-ml-copy", source_levels=True)
    assert "  policy levels: dev's, as asked" in lines
    written = json.loads((repo / "config" / f"{NEW}.json").read_text())
    assert written == json.loads((repo / "config" / "dev.json").read_text())
    assert preview(repo)[0] == EXIT_OK


def test_dev_only_exposure_opt_ins_are_dropped_and_the_gateway_made_internal(repo: Path) -> None:
    lines = create(NEW, "dev", "acme-ml-copy")
    gateway = yaml.safe_load((repo / "environments" / f"Pulumi.{NEW}.yaml").read_text())["config"][
        "gke-serving:gateway"
    ]
    assert "allowPlaintext" not in gateway
    assert gateway["className"] == "gke-l7-rilb"
    assert "  gateway.allowPlaintext: removed (only dev may opt in)" in lines


@pytest.mark.parametrize(
    ("name", "source", "project", "message"),
    [
        (
            "Mine",
            "dev",
            "acme-ml-x",
            "'Mine' is not an environment name — use 2-20 lowercase letters, digits and hyphens",
        ),
        (
            "../x",
            "dev",
            "acme-ml-x",
            "'../x' is not an environment name — use 2-20 lowercase letters, digits and hyphens",
        ),
        (NEW, "{absent}", "acme-ml-x", "no environment '{absent}' to copy — use one of {known}"),
        ("prod", "dev", "acme-ml-x", "environments/Pulumi.prod.yaml exists — pick another name, or edit it"),
        (
            NEW,
            "staging",
            "acme-ml-staging",
            "acme-ml-staging is staging's project — give the new environment a project of its own (PROJECT=<id>): "
            "two stacks in one project would replace each other's resources",
        ),
        (
            NEW,
            "dev",
            "Acme",
            "'Acme' is not a GCP project id — use 6-30 lowercase letters, digits and hyphens, starting with a letter",
        ),
    ],
)
def test_refusals_write_nothing(repo: Path, name: str, source: str, project: str, message: str) -> None:
    before = sorted(p.name for p in (repo / "environments").iterdir())
    absent = free_name("absent")
    with pytest.raises(Refused) as refused:
        create(name, source.format(absent=absent), project)
    known = ", ".join(new_environment.environment_names())
    assert str(refused.value) == message.format(known=known, absent=absent)
    assert sorted(p.name for p in (repo / "environments").iterdir()) == before
    assert not (repo / "config" / f"{name}.json").exists() or name == "prod"


@pytest.mark.usefixtures("repo")
def test_the_command_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert new_environment.main(["prod", "--from", "dev", "--project", "acme-ml-x"]) == 2
    assert capsys.readouterr().err == "error: environments/Pulumi.prod.yaml exists — pick another name, or edit it\n"


@pytest.mark.usefixtures("repo")
def test_without_a_terminal_the_project_must_be_given(capsys: pytest.CaptureFixture[str]) -> None:
    assert new_environment.main([NEW], interactive=False) == 2
    assert capsys.readouterr().err == f"error: no GCP project id for {NEW} — pass PROJECT=<id> (it may not be prod's)\n"


def test_on_a_terminal_the_project_is_asked_for(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def typed(prompt: str) -> str:
        asked.append(prompt)
        return "acme-ml-typed"

    monkeypatch.setattr("builtins.input", typed)
    assert new_environment.main([NEW], interactive=True) == 0
    assert asked == ["GCP project id for the new environment (not prod's): "]
    config = yaml.safe_load((repo / "environments" / f"Pulumi.{NEW}.yaml").read_text())["config"]
    assert config["gcp:project"] == "acme-ml-typed"
