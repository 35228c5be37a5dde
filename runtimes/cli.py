"""A server's command line as its own parser reads it: every spelling of an option resolved to one name.

catalog/server_options.yaml holds, per server, every option of the pinned version (from its CLI source)
and how its parser matches a name: argparse servers (vLLM, SGLang) take any unambiguous prefix of a long
option, and vLLM also reads `_` as `-`; clap servers (TGI, TEI) take exact names and an environment
variable for each option. Checks compare canonical names, so `--api_key=`, `--api-k=`, `--tensor-parallel 2`
and `NUM_SHARD` mean what the server makes of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

import catalog

END_OF_OPTIONS = "--"  # argparse and clap: every later token is positional


class OptionTable(BaseModel):
    """One server's block of catalog/server_options.yaml."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    underscores: bool
    abbreviations: bool
    env: dict[str, str]
    options: list[list[str]] = Field(min_length=1)

    def canonical(self) -> dict[str, str]:
        """Every spelling -> the option's canonical (first) name."""
        return {spelling: names[0] for names in self.options for spelling in names}


@dataclass(frozen=True)
class Use:
    """One option on a command line: what was written, what the server reads it as, and its value."""

    written: str
    canonical: str | None  # None: the server has no such option, or the prefix is ambiguous
    value: str | None
    ambiguous: tuple[str, ...] = ()  # the options an ambiguous prefix could mean


@cache
def option_table(server: str) -> OptionTable | None:
    """The server's table; None for a server without one (Triton, custom images)."""
    tables = TypeAdapter(dict[str, OptionTable]).validate_python(catalog.read("server_options.yaml"))
    return tables.get(server)


@cache
def _spellings(server: str) -> dict[str, str]:
    table = option_table(server)
    return table.canonical() if table else {}


def uses(server: str, args: Sequence[str]) -> Iterator[Use]:
    """Each option in `args` as the server's parser reads it (as written, for a server without a table); a value after a separate name is taken
    from the next token when that token is not an option itself."""
    table = option_table(server)
    for i, arg in enumerate(args):
        if arg == END_OF_OPTIONS:
            return
        if not arg.startswith("-") or _is_number(arg):
            continue
        name, sep, attached = arg.partition("=")
        use = _resolve(server, table, name, attached if sep else None)
        if use.value is None and i + 1 < len(args) and not args[i + 1].startswith("-"):
            use = Use(use.written, use.canonical, args[i + 1], use.ambiguous)
        yield use


def value_of(server: str, args: Sequence[str], option: str) -> str | None:
    """The value the server takes for canonical `option` from `args`: the last one wins, as in argparse
    and clap; a flag without a value reads as an empty string."""
    found = None
    for use in uses(server, args):
        if use.canonical == option:
            found = use.value if use.value is not None else ""
    return found


def env_option(server: str, variable: str) -> str | None:
    """The canonical option an environment variable sets (clap's `env`; vLLM's VLLM_API_KEY)."""
    table = option_table(server)
    return table.env.get(variable) if table else None


def _resolve(server: str, table: OptionTable | None, name: str, attached: str | None) -> Use:
    if table is None:
        return Use(name, name, attached)  # no table: the name as written (Triton, custom images)
    spellings = _spellings(server)
    key = _normalised(table, name)
    if key in spellings:
        return Use(name, spellings[key], attached)
    short = _short_with_value(spellings, key)
    if short is not None:
        return Use(name, spellings[short], key[len(short) :] if attached is None else attached)
    if not table.abbreviations:
        return Use(name, None, attached)
    matches = tuple(s for s in spellings if s.startswith(key) and s.startswith("--") == key.startswith("--"))
    if len(matches) == 1:
        return Use(name, spellings[matches[0]], attached)
    return Use(name, None, attached, ambiguous=matches if len(matches) > 1 else ())


def _normalised(table: OptionTable, name: str) -> str:
    """vLLM's FlexibleArgumentParser: `_` -> `-` in the name up to its first `.`; what follows the `.` is a
    key inside that option's JSON value (`--compilation-config.level=3`), so the option is the head."""
    if not (table.underscores and name.startswith("--")):
        return name
    return "--" + name[2:].partition(".")[0].replace("_", "-")


def _short_with_value(spellings: dict[str, str], key: str) -> str | None:
    """`-p8080`: a one-letter short option with its value attached (argparse and clap)."""
    if key.startswith("--") or len(key) <= 2:
        return None
    return key[:2] if key[:2] in spellings else None


def _is_number(arg: str) -> bool:
    """A negative number is a value, not an option (argparse's rule when no option looks like one)."""
    try:
        float(arg)
    except ValueError:
        return False
    return True
