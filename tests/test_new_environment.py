"""`make env`: a new environment from an existing one previews cleanly and needs only its golden files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from policies import evaluate as evaluate_module
from preview.run import EXIT_OK, preview_environment
from tools import new_environment
from tools.new_environment import Refused, create

ROOT = Path(__file__).resolve().parent.parent
NEW = "copy-under-test"  # a name no environment file of the repository takes


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


@pytest.mark.parametrize("source", ["dev", "staging", "prod"])
def test_a_new_environment_previews_cleanly(repo: Path, source: str) -> None:
    lines = create(NEW, source)
    assert lines[0] == f"wrote environments/Pulumi.{NEW}.yaml and config/{NEW}.json (from {source})"
    env_file = repo / "environments" / f"Pulumi.{NEW}.yaml"
    config = yaml.safe_load(env_file.read_text())["config"]
    assert config["gke-serving:cluster"]["name"] == f"serving-{NEW}"
    assert (repo / "config" / f"{NEW}.json").read_text() == (repo / "config" / f"{source}.json").read_text()
    out = repo / "out"
    assert preview_environment(NEW, str(out), quiet=True, env_file=env_file) == EXIT_OK
    assert (out / "plan.json").is_file()


def test_dev_only_exposure_opt_ins_are_dropped_and_the_gateway_made_internal(repo: Path) -> None:
    lines = create(NEW, "dev")
    gateway = yaml.safe_load((repo / "environments" / f"Pulumi.{NEW}.yaml").read_text())["config"][
        "gke-serving:gateway"
    ]
    assert "allowPlaintext" not in gateway
    assert gateway["className"] == "gke-l7-rilb"
    assert "  gateway.allowPlaintext: removed (only dev may opt in)" in lines


@pytest.mark.parametrize(
    ("name", "source", "message"),
    [
        ("Mine", "dev", "'Mine' is not an environment name — use 2-20 lowercase letters, digits and hyphens"),
        ("../x", "dev", "'../x' is not an environment name — use 2-20 lowercase letters, digits and hyphens"),
        ("fresh", "qa", "no environment 'qa' to copy — use one of {known}"),
        ("prod", "dev", "environments/Pulumi.prod.yaml exists — pick another name, or edit it"),
    ],
)
def test_refusals_write_nothing(repo: Path, name: str, source: str, message: str) -> None:
    before = sorted(p.name for p in (repo / "environments").iterdir())
    with pytest.raises(Refused) as refused:
        create(name, source)
    assert str(refused.value) == message.format(known=", ".join(new_environment.environment_names())).format(
        known=", ".join(new_environment.environment_names())
    )
    assert sorted(p.name for p in (repo / "environments").iterdir()) == before


@pytest.mark.usefixtures("repo")
def test_the_command_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert new_environment.main(["prod", "--from", "dev"]) == 2
    assert capsys.readouterr().err == "error: environments/Pulumi.prod.yaml exists — pick another name, or edit it\n"
