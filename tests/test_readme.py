"""README.md: the two set-up commands first, a deploy path whose every command is checked against the
Makefile, the config schema, the program's outputs and the environment files, and the generated reference
in docs/reference.md in step with the config models."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest
import yaml

from config.environment import PROJECT, REQUIRED, SECTIONS
from config.reference import reference
from settings.secrets import SECRETS

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
REFERENCE = (ROOT / "docs" / "reference.md").read_text()
MAKE_TARGETS = set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), flags=re.MULTILINE))
EXPORTS = {
    node.args[0].value
    for node in ast.walk(ast.parse((ROOT / "__main__.py").read_text()))
    if isinstance(node, ast.Call)
    and getattr(node.func, "attr", None) == "export"
    and isinstance(node.args[0], ast.Constant)
}


def code_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)


def commands(block: str) -> list[list[str]]:
    """Each command's words as the shell splits them (comments dropped); `a && b`, `a | b`, `(a)` and an
    unquoted `$(a)` give one command per part."""
    found: list[list[str]] = []
    for line in block.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars="&|()")
        lexer.whitespace_split = True
        words: list[str] = []
        for token in [*lexer, "&&"]:
            if token in ("&&", "|", "(", ")", "||"):
                if words and words != ["$"] and not words[0].endswith("=$"):
                    found.append(words)
                words = []
            else:
                words.append(token)
    return found


def section(title: str) -> str:
    return README.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


ZERO = section("From zero to a curl answer")
DEPLOY = [c for b in code_blocks(ZERO) for c in commands(b)]


def test_reference_is_generated_from_the_models() -> None:
    embedded = REFERENCE.split("<!-- reference:start -->\n", 1)[1].split("<!-- reference:end -->", 1)[0]
    assert embedded == reference(), "regenerate docs/reference.md: python -m config.reference"
    assert "(docs/reference.md)" in README


def test_setup_commands_come_first_and_the_readme_stays_short() -> None:
    first = code_blocks(README)[0]
    assert [c[:2] for c in commands(first)] == [["make", "preview"], ["make", "test"]]
    assert README.index("## Set up") < README.index("## From zero to a curl answer")
    assert len(README.splitlines()) < 200
    assert "(docs/architecture.md)" in README
    assert "## How weights reach a server (`loads/`)" in (ROOT / "docs" / "architecture.md").read_text()


def test_every_make_command_in_the_readme_names_a_target_and_its_variables() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for block in code_blocks(README):
        for words in commands(block):
            if words[0] != "make":
                continue
            target, *assignments = words[1:]
            assert target in MAKE_TARGETS, f"make {target}: no such target"
            for assignment in assignments:
                variable = assignment.split("=", 1)[0]
                assert f"$(value {variable})" in makefile or f"checked,{variable}," in makefile, assignment


def test_the_deploy_path_runs_in_order_from_state_bucket_to_curl() -> None:
    order = [
        ("gcloud", "storage", "buckets", "create"),
        ("pulumi", "login"),
        ("pulumi", "stack", "init"),
        ("pulumi", "config", "set"),
        ("pulumi", "up"),
        ("gcloud", "container", "clusters", "get-credentials"),
        ("curl",),
    ]
    positions = [next(i for i, c in enumerate(DEPLOY) if tuple(c[: len(step)]) == step) for step in order]
    assert positions == sorted(positions)
    bucket = next(c for c in DEPLOY if c[:4] == ["gcloud", "storage", "buckets", "create"])[4]
    assert next(c for c in DEPLOY if c[:2] == ["pulumi", "login"])[2] == bucket
    assert "--secrets-provider" in next(c for c in DEPLOY if c[:3] == ["pulumi", "stack", "init"])
    assert not any("..." in word or "<" in word for c in DEPLOY for word in c), "every command complete"


def test_config_keys_are_the_schemas() -> None:
    known = {*REQUIRED, *(f"{PROJECT}:{k}" for k in (*SECTIONS, *SECRETS))}
    keys = [c[4] if c[3] == "--secret" else c[3] for c in DEPLOY if c[:3] == ["pulumi", "config", "set"]]
    assert keys
    assert all((key if ":" in key else f"{PROJECT}:{key}") in known for key in keys), keys


@pytest.mark.parametrize("words", [c for c in DEPLOY if c[0] == "pulumi" and "-s" in c], ids=" ".join)
def test_stacks_policy_configs_and_outputs_exist(words: list[str]) -> None:
    stack = words[words.index("-s") + 1]
    assert (ROOT / "environments" / f"Pulumi.{stack}.yaml").is_file()
    if "--policy-pack-config" in words:
        assert words[words.index("--policy-pack-config") + 1] == f"policies/config/{stack}.json"
        assert words[words.index("--policy-pack") + 1] == "policies"
        assert (ROOT / "policies" / "config" / f"{stack}.json").is_file()
    if words[1:3] == ["stack", "output"]:
        assert words[3] in EXPORTS, f"{words[3]} is not a stack output of __main__.py"


def test_get_credentials_names_the_clusters_location() -> None:
    words = next(c for c in DEPLOY if c[:4] == ["gcloud", "container", "clusters", "get-credentials"])
    location = words[words.index("--location") + 1]
    dev = yaml.safe_load((ROOT / "environments" / "Pulumi.dev.yaml").read_text())["config"]
    assert location == dev[f"{PROJECT}:cluster"]["location"]
    assert "pulumi stack output cluster -s dev" in " ".join(words)


def test_the_curl_calls_the_service_the_outputs_name() -> None:
    dev = yaml.safe_load((ROOT / "environments" / "Pulumi.dev.yaml").read_text())["config"]
    for words in DEPLOY:
        if "jq" in words:
            service = words[-1].removeprefix(".").rstrip(")")
            assert service in dev[f"{PROJECT}:services"], service
