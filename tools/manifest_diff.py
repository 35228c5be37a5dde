"""Diff an environment's Kubernetes manifests and GCP resources between a git revision and the working tree.

    python -m tools.manifest_diff --env prod [--base origin/main] [--markdown] [--head-dir DIR]

Both sides are rendered by the offline preview (`python -m preview <env> --out-dir DIR`) with this
interpreter: the base in a temporary `git worktree` of the revision, the head in the working tree
(or read from `--head-dir`, manifests CI has already rendered). A base without an offline preview
or without the environment counts as empty, so the change that adds an environment shows every
object as added. Objects are matched by content (API group, kind, namespace, name), never by file
name, and compared as YAML with sorted keys, so only real changes show. GCP resources are compared
input by input from the two previews' plan.json (tools/gcp_diff.py): each change says whether it
replaces the resource, and disruptive ones (a node pool's nodes recreated, a cluster recreated, a
gateway IP changed) carry a warning; they print before the Kubernetes objects. With `--head-dir`, the plan is read from the
folder above the manifests (the preview's own layout), or the GCP diff is skipped with a note.

Exit status: 0 whatever the diff; 1 when the working tree cannot be rendered or a manifest is not
a Kubernetes object; 2 on usage errors (unknown environment or revision, not in a git checkout).
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import html
import re
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from tools import gcp_diff

Status = Literal["changed", "added", "removed"]
STATUS_ORDER: tuple[Status, ...] = ("changed", "added", "removed")
MANIFEST_SUFFIXES = frozenset({".yaml", ".yml"})
# A job summary is capped at 1 MiB per step; past this many lines an object's diff is cut.
MARKDOWN_DIFF_LINES = 400
# Pulumi stack names: keeps `--env` from naming a path outside environments/.
ENV_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class UsageError(Exception):
    """Unknown environment or revision, or not run inside a git checkout (exit 2)."""


class ManifestError(Exception):
    """A manifest that is not a Kubernetes object, or one object defined twice (exit 1)."""


class RenderError(Exception):
    """The offline preview of the working tree produced no manifests (exit 1)."""


@dataclass(frozen=True, order=True)
class Identity:
    """What makes two manifests the same object; field order is the report's sort order."""

    kind: str
    namespace: str  # "" for cluster-scoped objects
    name: str
    # The API group without its version: moving autoscaling/v2beta2 to v2 is a change of the
    # same object, not a removal plus an addition.
    group: str

    @property
    def label(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


@dataclass(frozen=True)
class ObjectDiff:
    identity: Identity
    label: str
    status: Status
    lines: tuple[str, ...]  # unified diff of the canonical YAML, without line terminators


Manifests = dict[Identity, dict[str, Any]]


# ---------------------------------------------------------------------------------------------
# Loading


def load_manifests(directory: Path) -> Manifests:
    """Every Kubernetes object in the YAML files under `directory`, keyed by its identity."""
    if not directory.is_dir():
        raise ManifestError(f"{directory}: no such manifest directory")
    objects: Manifests = {}
    sources: dict[Identity, str] = {}
    for path in _manifest_files(directory):
        source = path.relative_to(directory).as_posix()
        for document in _documents(path, source):
            obj = _as_object(document, source)
            identity = identity_of(obj, source)
            if identity in objects:
                raise ManifestError(f"{source}: {identity.label} is also defined in {sources[identity]}")
            objects[identity] = obj
            sources[identity] = source
    return objects


def _as_object(document: object, source: str) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise ManifestError(f"{source}: expected a Kubernetes object, got {type(document).__name__}")
    return document


def identity_of(obj: Mapping[str, Any], source: str) -> Identity:
    """The identity of one Kubernetes object; `source` names it in errors."""
    metadata = obj.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    api_version = _text(obj.get("apiVersion"))
    kind = _text(obj.get("kind"))
    name = _text(metadata.get("name"))
    if api_version is None or kind is None or name is None:
        missing = [
            field
            for field, value in (
                ("apiVersion", api_version),
                ("kind", kind),
                ("metadata.name", name),
            )
            if value is None
        ]
        raise ManifestError(f"{source}: not a Kubernetes object, missing {', '.join(missing)}")
    namespace = _text(metadata.get("namespace")) or ""
    group = api_version.rpartition("/")[0]  # "apps/v1" -> "apps"; the core "v1" -> ""
    return Identity(kind=kind, namespace=namespace, name=name, group=group)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _manifest_files(directory: Path) -> list[Path]:
    # Sorted so that an object defined twice is always reported against the same file.
    return sorted(path for path in directory.rglob("*") if path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES)


def _documents(path: Path, source: str) -> Iterator[object]:
    try:
        documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ManifestError(f"{source}: not valid YAML: {err}") from err
    # Empty documents (a trailing `---`) carry no object.
    yield from (document for document in documents if document is not None)


# ---------------------------------------------------------------------------------------------
# Comparing


class _CanonicalDumper(yaml.SafeDumper):
    """Sorted keys, no line wrapping, and literal blocks for multi-line strings, so a changed
    line of an embedded file diffs as one line instead of one escaped string."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_CanonicalDumper.add_representer(str, _represent_str)


def canonical_yaml(obj: Mapping[str, Any]) -> str:
    """The stable text of an object: the same object always renders to the same lines."""
    return yaml.dump(
        redact_secret_values(obj),
        Dumper=_CanonicalDumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=sys.maxsize,
    )


def redact_secret_values(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """Secret values replaced by a short digest: the diff lands in a public job summary, yet a
    changed key must still show as changed."""
    if obj.get("apiVersion") != "v1" or obj.get("kind") != "Secret":
        return obj
    redacted = dict(obj)
    for field in ("data", "stringData"):
        values = obj.get(field)
        if isinstance(values, dict):
            redacted[field] = {key: _digest(value) for key, value in values.items()}
    return redacted


def _digest(value: object) -> str:
    return f"[redacted sha256:{hashlib.sha256(str(value).encode()).hexdigest()[:12]}]"


def display_labels(identities: Iterable[Identity]) -> dict[Identity, str]:
    """`Kind namespace/name`, plus the API group where two groups share a kind and name."""
    identities = list(identities)
    counts = Counter(identity.label for identity in identities)
    return {
        identity: identity.label if counts[identity.label] == 1 else f"{identity.label} ({identity.group or 'core'})"
        for identity in identities
    }


def diff_manifests(
    base: Mapping[Identity, Mapping[str, Any]], head: Mapping[Identity, Mapping[str, Any]]
) -> list[ObjectDiff]:
    """Changed, added and removed objects (in that order, each sorted by identity)."""
    labels = display_labels(base.keys() | head.keys())
    diffs: list[ObjectDiff] = []
    for identity in sorted(labels):
        before = canonical_yaml(base[identity]) if identity in base else None
        after = canonical_yaml(head[identity]) if identity in head else None
        if before == after:
            continue
        status: Status = "added" if before is None else "removed" if after is None else "changed"
        lines = _unified_diff(labels[identity], before, after)
        diffs.append(ObjectDiff(identity, labels[identity], status, lines))
    return sorted(diffs, key=lambda diff: (STATUS_ORDER.index(diff.status), diff.identity))


def _unified_diff(label: str, before: str | None, after: str | None) -> tuple[str, ...]:
    return tuple(
        difflib.unified_diff(
            (before or "").splitlines(),
            (after or "").splitlines(),
            fromfile="/dev/null" if before is None else f"a/{label}",
            tofile="/dev/null" if after is None else f"b/{label}",
            lineterm="",
        )
    )


def summary_line(diffs: Sequence[ObjectDiff]) -> str:
    counts = Counter(diff.status for diff in diffs)
    return ", ".join(f"{counts[status]} {status}" for status in STATUS_ORDER)


# ---------------------------------------------------------------------------------------------
# Reporting


def render_text(
    diffs: Sequence[ObjectDiff], notes: Sequence[str] = (), gcp: Sequence[gcp_diff.ResourceChange] | None = None
) -> str:
    """Notes, then the GCP resources (when both plans were read), then the Kubernetes objects."""
    out = [f"note: {note}" for note in notes]
    if gcp is not None:
        out += [*gcp_diff.text_lines(gcp), gcp_diff.summary_line(gcp), ""]
    for diff in diffs:
        out += [f"{diff.status}: {diff.label}", *diff.lines, ""]
    if not diffs:
        out.append("No changes to Kubernetes manifests.")
    out.append(summary_line(diffs))
    return "\n".join(out) + "\n"


def render_markdown(
    diffs: Sequence[ObjectDiff],
    env: str,
    base: str,
    notes: Sequence[str] = (),
    gcp: Sequence[gcp_diff.ResourceChange] | None = None,
) -> str:
    """GitHub-flavoured markdown for a job summary: one collapsed diff per object."""
    out = [
        f"### Changes to <code>{html.escape(env)}</code> against <code>{html.escape(base)}</code>",
        "",
        *(line for note in notes for line in _markdown_note(note)),
    ]
    if gcp is not None:
        out += _markdown_gcp(gcp)
    out += [f"**{summary_line(diffs)}**", ""]
    if not diffs:
        out += ["No changes to Kubernetes manifests.", ""]
    for status in STATUS_ORDER:
        group = [diff for diff in diffs if diff.status == status]
        if group:
            out += [f"#### {status.capitalize()} ({len(group)})", ""]
            for diff in group:
                out += _markdown_object(diff, env, base)
    return "\n".join(out)


def _markdown_gcp(changes: Sequence[gcp_diff.ResourceChange]) -> list[str]:
    # Warnings stay visible; the field-level changes are one collapsed block.
    out = [f"**{gcp_diff.summary_line(changes)}**", ""]
    out += [f"> **Warning:** {html.escape(warning)}" for warning in gcp_diff.warnings_of(changes)]
    if gcp_diff.warnings_of(changes):
        out.append("")
    if changes:
        lines = gcp_diff.text_lines(changes)
        fence = _fence(lines)
        out += [
            "<details><summary>GCP resources, input by input</summary>",
            "",
            fence,
            *lines,
            fence,
            "",
            "</details>",
            "",
        ]
    return out


def _markdown_note(note: str) -> list[str]:
    # The first line says what happened; the rest (a preview's error output) stays collapsed.
    first, *rest = note.splitlines()
    out = [f"> {first}", ""]
    if rest:
        fence = _fence(rest)
        out += ["<details><summary>output</summary>", "", fence, *rest, fence, "", "</details>", ""]
    return out


def _markdown_object(diff: ObjectDiff, env: str, base: str) -> list[str]:
    shown = diff.lines[:MARKDOWN_DIFF_LINES]
    fence = _fence(shown)
    out = [
        f"<details><summary><code>{html.escape(diff.label)}</code></summary>",
        "",
        f"{fence}diff",
        *shown,
        fence,
    ]
    if len(diff.lines) > len(shown):
        out.append(
            f"{len(diff.lines) - len(shown)} more lines: run `make diff ENV={env} BASE={base}` for the whole diff."
        )
    return [*out, "", "</details>", ""]


def _fence(lines: Iterable[str]) -> str:
    # Longer than any backtick run in the content, so an embedded ``` cannot close the block.
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    return "`" * max(3, longest + 1)


# ---------------------------------------------------------------------------------------------
# Rendering both sides


def repo_root(cwd: Path) -> Path:
    result = _git(cwd, "rev-parse", "--show-toplevel", check=False)
    if result.returncode != 0:
        raise UsageError(f"{cwd} is not inside a git checkout")
    return Path(result.stdout.strip())


def check_environment(repo: Path, env: str) -> None:
    available = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in (repo / "environments").glob("Pulumi.*.yaml"))
    if not ENV_NAME.fullmatch(env) or env not in available:
        raise UsageError(f"unknown environment {env!r}; environments/ has: {', '.join(available) or 'none'}")


def resolve_commit(repo: Path, revision: str) -> str:
    result = _git(repo, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", check=False)
    if result.returncode != 0:
        raise UsageError(f"unknown revision {revision!r} (in CI, check out with enough history: fetch-depth: 0)")
    return result.stdout.strip()


def has_offline_preview(checkout: Path, env: str) -> bool:
    has_runner = (checkout / "preview").is_dir() or (checkout / "preview.py").is_file()
    return has_runner and (checkout / "environments" / f"Pulumi.{env}.yaml").is_file()


def run_preview(checkout: Path, env: str, out_dir: Path, python: str) -> subprocess.CompletedProcess[str]:
    # Output is captured: the preview prints a resource tree that must not mix into the diff.
    return subprocess.run(  # noqa: S603 (an argument list, no shell)
        [python, "-m", "preview", env, "--out-dir", str(out_dir)],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
    )


@dataclass(frozen=True)
class Side:
    """One side of the diff: its Kubernetes objects and, when its preview wrote one, its plan."""

    manifests: Manifests
    plan: gcp_diff.Plan | None
    notes: tuple[str, ...] = ()


def base_side(repo: Path, revision: str, commit: str, env: str, python: str, scratch: Path) -> Side:
    """The base revision's objects and plan, and notes on why it may count as empty."""
    worktree = scratch / "base"
    _git(repo, "worktree", "add", "--detach", "--quiet", str(worktree), commit)
    try:
        if not has_offline_preview(worktree, env):
            return Side({}, {}, (f"{revision} has no offline preview of {env}: every object is new.",))
        out_dir = scratch / "base-out"
        result = run_preview(worktree, env, out_dir, python)
        if not (out_dir / "manifests").is_dir():
            return Side(
                {},
                {},
                (
                    f"The offline preview of {env} at {revision} failed (exit {result.returncode}) "
                    f"and is compared as empty.{_stderr_tail(result)}",
                ),
            )
        # A base from before plan.json existed has no GCP resources to compare against.
        return Side(load_manifests(out_dir / "manifests"), _plan_or_empty(out_dir / "plan.json"))
    finally:
        # A leftover worktree would block the next run's `worktree add` of the same path.
        _git(repo, "worktree", "remove", "--force", str(worktree), check=False)
        _git(repo, "worktree", "prune", check=False)


def head_side(repo: Path, env: str, python: str, scratch: Path, head_dir: Path | None) -> Side:
    if head_dir is not None:
        # CI passes build/<env>/manifests: the preview writes plan.json beside that folder.
        plan_file = next((p for p in (head_dir.parent / "plan.json", head_dir / "plan.json") if p.is_file()), None)
        if plan_file is None:
            return Side(
                load_manifests(head_dir), None, (f"no plan.json beside {head_dir}: GCP resources not compared.",)
            )
        return Side(load_manifests(head_dir), load_plan(plan_file))
    out_dir = scratch / "head-out"
    result = run_preview(repo, env, out_dir, python)
    if not (out_dir / "manifests").is_dir():
        raise RenderError(
            f"the offline preview of {env} in the working tree wrote no manifests "
            f"(exit {result.returncode}).{_stderr_tail(result)}"
        )
    plan_file = out_dir / "plan.json"
    if not plan_file.is_file():
        return Side(
            load_manifests(out_dir / "manifests"),
            None,
            ("the preview wrote no plan.json: GCP resources not compared.",),
        )
    return Side(load_manifests(out_dir / "manifests"), load_plan(plan_file))


def load_plan(path: Path) -> gcp_diff.Plan:
    try:
        return gcp_diff.load_plan(path)
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ManifestError(f"{path}: not a preview plan: {err}") from err


def _plan_or_empty(path: Path) -> gcp_diff.Plan:
    return load_plan(path) if path.is_file() else {}


def _stderr_tail(result: subprocess.CompletedProcess[str], lines: int = 20) -> str:
    tail = result.stderr.strip().splitlines()[-lines:]
    return "".join(f"\n    {line}" for line in tail)


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    # git from PATH, as a developer's shell would find it; an argument list, no shell.
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)  # noqa: S603, S607
    if check and result.returncode != 0:
        raise RenderError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result


# ---------------------------------------------------------------------------------------------
# Command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.manifest_diff",
        description="Diff an environment's rendered Kubernetes manifests and GCP resources against a git revision.",
    )
    parser.add_argument("--env", required=True, help="environment (environments/Pulumi.<env>.yaml)")
    parser.add_argument("--base", default="origin/main", help="revision to compare against")
    parser.add_argument("--markdown", action="store_true", help="GitHub-flavoured markdown, for a job summary")
    parser.add_argument(
        "--head-dir",
        type=Path,
        help="manifests already rendered from the working tree (skips rendering); plan.json is read from beside it",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        repo = repo_root(Path.cwd())
        check_environment(repo, args.env)
        commit = resolve_commit(repo, args.base)
        with tempfile.TemporaryDirectory(prefix="manifest-diff-") as scratch:
            base = base_side(repo, args.base, commit, args.env, sys.executable, Path(scratch))
            head = head_side(repo, args.env, sys.executable, Path(scratch), args.head_dir)
    except UsageError as err:
        print(f"manifest_diff: {err}", file=sys.stderr)
        return 2
    except (ManifestError, RenderError) as err:
        print(f"manifest_diff: {err}", file=sys.stderr)
        return 1
    notes = [*base.notes, *head.notes]
    gcp = None
    if head.plan is not None:
        gcp = gcp_diff.diff_plans(base.plan or {}, head.plan)
        notes += [
            f"{type_} has no entry in tools/gcp_replacements.yaml: its changes are not checked for replacement."
            for type_ in gcp_diff.unknown_types(head.plan)
        ]
    diffs = diff_manifests(base.manifests, head.manifests)
    if args.markdown:
        sys.stdout.write(render_markdown(diffs, args.env, args.base, notes, gcp))
    else:
        sys.stdout.write(render_text(diffs, notes, gcp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
