"""`make env NAME=<name> [FROM=dev]`: a new environment from an existing one, ready to preview.

Writes environments/Pulumi.<name>.yaml and policies/config/<name>.json from the source environment's
files, with the settings that must differ: its own cluster name (GCP ids derive from it), and no
dev-only exposure opt-in (an external gateway then needs a domain, so the copy's gateway becomes
internal until one is set). Prints what it changed and what is left to do; refuses to overwrite.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = ROOT / "environments"
POLICY_CONFIG = ROOT / "policies" / "config"
# A stack name becomes a path, a label value and part of GCP ids: a short DNS label.
NAME = re.compile(r"[a-z][a-z0-9-]{0,18}[a-z0-9]")
DEV_ONLY_KEYS = ("allowPlaintext", "allowUnauthenticated")


class Refused(Exception):
    """One line saying why nothing was written, and the fix."""


def environment_names() -> list[str]:
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in ENVIRONMENTS.glob("Pulumi.*.yaml"))


def _retarget(text: str, source: str, name: str) -> tuple[str, list[str]]:
    """The source file's text for the new environment, and a line per change made."""
    changes = []
    cluster = re.search(r"gke-serving:cluster:\n(?:    .*\n)*?(    name: )(\S+)", text)
    if cluster is None:
        raise Refused(f"environments/Pulumi.{source}.yaml has no cluster name to derive from")
    new_cluster = f"serving-{name}"
    text = text[: cluster.start(2)] + new_cluster + text[cluster.end(2) :]
    changes.append(f"cluster.name: {cluster.group(2)} -> {new_cluster} (GCP ids derive from it)")
    for key in DEV_ONLY_KEYS:
        pattern = re.compile(rf"^\s+{key}: .*\n", flags=re.MULTILINE)
        if pattern.search(text):
            text = pattern.sub("", text)
            changes.append(f"gateway.{key}: removed (only dev may opt in)")
    if any(c.startswith("gateway.allowPlaintext") for c in changes) and "className:" in text:
        text = re.sub(r"(className: )gke-l7-regional-external-managed", r"\1gke-l7-rilb", text)
        changes.append("gateway.className: gke-l7-rilb (internal) until you set gateway.domain for HTTPS")
    header = f"# {name}: made with `make env NAME={name} FROM={source}`; review every value below.\n"
    return header + re.sub(r"\A(#[^\n]*\n)+", "", text), changes


def create(name: str, source: str) -> list[str]:
    """Write the new environment's files; returns the lines to print."""
    if not NAME.fullmatch(name):
        raise Refused(f"{name!r} is not an environment name — use 2-20 lowercase letters, digits and hyphens")
    known = environment_names()
    if source not in known:
        raise Refused(f"no environment {source!r} to copy — use one of {', '.join(known)}")
    target = ENVIRONMENTS / f"Pulumi.{name}.yaml"
    policies = POLICY_CONFIG / f"{name}.json"
    for path in (target, policies):
        if path.exists():
            raise Refused(f"{path.relative_to(ROOT)} exists — pick another name, or edit it")
    text, changes = _retarget((ENVIRONMENTS / f"Pulumi.{source}.yaml").read_text(), source, name)
    source_policies = POLICY_CONFIG / f"{source}.json"
    target.write_text(text)
    policies.write_text(source_policies.read_text())
    return [
        f"wrote {target.relative_to(ROOT)} and {policies.relative_to(ROOT)} (from {source})",
        *(f"  {change}" for change in changes),
        "next:",
        f"  1. set gcp:project (and gcp:region) for {name}, and `pulumi config set --secret hfToken ... -s {name}`",
        f"  2. review the policy levels and ceilings in {policies.relative_to(ROOT)}",
        f"  3. make preview ENV={name}",
        f"  4. make golden (writes tests/golden/{name}/), then make test",
        "  5. to deploy it on merge: a job in .github/workflows/deploy.yml and a GitHub environment of that name",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("name")
    parser.add_argument("--from", dest="source", default="dev")
    args = parser.parse_args(argv)
    try:
        lines = create(args.name, args.source)
    except Refused as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
