"""README.md keeps the two set-up commands and a reference that matches the config models."""

from __future__ import annotations

from pathlib import Path

from config.reference import reference

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_reference_is_generated_from_the_models() -> None:
    embedded = README.split("<!-- reference:start -->\n", 1)[1].split("<!-- reference:end -->", 1)[0]
    assert embedded == reference(), "regenerate the README reference: python -m config.reference"


def test_setup_commands_come_first() -> None:
    setup = README.split("## Set up", 1)[1].split("##", 1)[0]
    assert "make preview" in setup
    assert "make test" in setup
