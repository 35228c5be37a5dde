"""`make env NAME=<name> [FROM=prod] [PROJECT=<gcp project id>]`: a new environment from an existing one.

Writes environments/Pulumi.<name>.yaml and policies/config/<name>.json from the source environment's
settings (its values, never its comments), with what must differ: its own GCP project (asked for on a
terminal, refused when it is the source's: two stacks would fight over the same resources), its own
cluster name (GCP ids derive from it), a placeholder for the HF token (the source's ciphertext belongs to
the source's stack), and no dev-only exposure opt-in (an external gateway then needs a domain, so the
copy's gateway becomes internal until one is set; a domain is the source's own). Policy levels start
mandatory (`--levels source` keeps the source's; an entry with a `note` saying why it stays lower is kept),
the ceilings are the source's. The default source is prod, the one environment held to mandatory levels
already, so a copy previews cleanly; a copy of dev fails what dev only warns about until it is fixed or
its level lowered. Prints what it changed and what to set next; refuses to
overwrite.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = ROOT / "environments"
POLICY_CONFIG = ROOT / "policies" / "config"
# A stack name becomes a path, a label value and part of GCP ids: a short DNS label.
NAME = re.compile(r"[a-z][a-z0-9-]{0,18}[a-z0-9]")
PROJECT_ID = re.compile(r"[a-z][-a-z0-9]{4,28}[a-z0-9]")  # GCP's rule, as config/environment.py checks it
DEV_ONLY_KEYS = ("allowPlaintext", "allowUnauthenticated")
P = "gke-serving"
SECRET_PLACEHOLDER = {"secure": "v1:placeholder-set-with-pulumi-config-set-secret"}
LEVEL_KEY = "enforcementLevel"


class Refused(Exception):
    """One line saying why nothing was written, and the fix."""


def environment_names() -> list[str]:
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in ENVIRONMENTS.glob("Pulumi.*.yaml"))


def _retarget(config: dict[str, Any], name: str, project: str) -> list[str]:
    """Change `config` (the file's `config:` map) for the new environment; a line per change made."""
    changes = [f"gcp:project: {config.get('gcp:project')} -> {project}"]
    config["gcp:project"] = project
    cluster = config.get(f"{P}:cluster")
    if not isinstance(cluster, dict) or "name" not in cluster:
        raise Refused("the source environment has no gke-serving:cluster.name to derive from")
    new_cluster = f"serving-{name}"
    changes.append(f"cluster.name: {cluster['name']} -> {new_cluster} (GCP ids derive from it)")
    cluster["name"] = new_cluster
    for secret in ("hfToken", "iapClientSecret"):
        if f"{P}:{secret}" in config:
            config[f"{P}:{secret}"] = dict(SECRET_PLACEHOLDER)
            changes.append(f"{secret}: a placeholder (the source's ciphertext is its own stack's)")
    gateway = config.get(f"{P}:gateway")
    if isinstance(gateway, dict):
        changes += _gateway(gateway)
    return changes


def _gateway(gateway: dict[str, Any]) -> list[str]:
    changes = []
    for key in DEV_ONLY_KEYS:
        if gateway.pop(key, None) is not None:
            changes.append(f"gateway.{key}: removed (only dev may opt in)")
    if (domain := gateway.pop("domain", None)) is not None:
        changes.append(f"gateway.domain: removed ({domain} is the source's; its certificate names that name only)")
    if "domain" not in gateway and gateway.get("className") == "gke-l7-regional-external-managed":
        gateway["className"] = "gke-l7-rilb"
        changes.append("gateway.className: gke-l7-rilb (internal) until you set gateway.domain for HTTPS")
    return changes


def mandatory_levels(source: dict[str, Any]) -> dict[str, Any]:
    """The source's policy config with every level mandatory: its ceilings and lists kept, and an entry that
    records why it stays lower (a `note`, as prod's digest pinning) kept whole."""
    levels: dict[str, Any] = {"all": "mandatory"}
    for policy, entry in source.items():
        if policy == "all" or isinstance(entry, str):
            continue  # a bare level: "all" covers it
        kept = isinstance(entry, dict) and "note" not in entry
        levels[policy] = {k: v for k, v in entry.items() if k != LEVEL_KEY} if kept else entry
    return levels


def create(name: str, source: str, project: str, *, source_levels: bool = False) -> list[str]:
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
    document = yaml.safe_load((ENVIRONMENTS / f"Pulumi.{source}.yaml").read_text())
    config = document["config"]
    _check_project(project, config.get("gcp:project"), source)
    changes = _retarget(config, name, project)
    source_policies = json.loads((POLICY_CONFIG / f"{source}.json").read_text())
    header = f"# {name}: made with `make env NAME={name} FROM={source}`; review every value below.\n"
    target.write_text(header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120))
    levels = source_policies if source_levels else mandatory_levels(source_policies)
    policies.write_text(json.dumps(levels, indent=2) + "\n")
    changes.append(
        f"policy levels: {source}'s, as asked" if source_levels else f"policy levels: mandatory ({source}'s ceilings)"
    )
    return _report(name, source, target, policies, changes)


def _check_project(project: str, source_project: object, source: str) -> None:
    if not PROJECT_ID.fullmatch(project):
        raise Refused(
            f"{project!r} is not a GCP project id — use 6-30 lowercase letters, digits and hyphens, starting with a letter"
        )
    if project == source_project:
        raise Refused(
            f"{project} is {source}'s project — give the new environment a project of its own (PROJECT=<id>): two "
            "stacks in one project would replace each other's resources"
        )


def _report(name: str, source: str, target: Path, policies: Path, changes: list[str]) -> list[str]:
    return [
        f"wrote {target.relative_to(ROOT)} and {policies.relative_to(ROOT)} (from {source})",
        *(f"  {change}" for change in changes),
        "next:",
        f"  1. check gcp:region, the pools' zones and gateway.domain in {target.relative_to(ROOT)}",
        f"  2. pulumi stack init {name}, then pulumi config set --secret hfToken hf_... -s {name}",
        f"  3. review the levels and ceilings in {policies.relative_to(ROOT)}",
        f"  4. make preview ENV={name} (a mandatory policy that fails names its fix)",
        f"  5. make golden (writes tests/golden/{name}/), then make test",
        "  6. to deploy it on merge: a job in .github/workflows/deploy.yml and a GitHub environment of that name",
    ]


def ask_project(source: str) -> str:
    """The project id typed on a terminal."""
    return input(f"GCP project id for the new environment (not {source}'s): ").strip()


def main(argv: list[str] | None = None, *, interactive: bool | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("name")
    parser.add_argument("--from", dest="source", default="prod")
    parser.add_argument("--project", help="the new environment's GCP project id (asked for on a terminal)")
    parser.add_argument(
        "--levels", choices=("mandatory", "source"), default="mandatory", help="policy levels to start from"
    )
    args = parser.parse_args(argv)
    project = args.project
    if project is None and (sys.stdin.isatty() if interactive is None else interactive):
        project = ask_project(args.source)
    try:
        if not project:
            raise Refused(f"no GCP project id for {args.name} — pass PROJECT=<id> (it may not be {args.source}'s)")
        lines = create(args.name, args.source, project, source_levels=args.levels == "source")
    except Refused as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
