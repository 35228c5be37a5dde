"""Terminal output in the shape of `pulumi preview`: a resource tree and counts."""

from __future__ import annotations

from collections import Counter, defaultdict

from preview.engine import Registration


def resource_tree(project: str, stack: str, registrations: list[Registration]) -> str:
    children: dict[str, list[Registration]] = defaultdict(list)
    for r in registrations:
        children[r.parent].append(r)
    width = max((len(r.type) for r in registrations), default=20) + 12
    lines = [f"     {'Type':<{width}}Name", f" +   {'pulumi:pulumi:Stack':<{width}}{project}-{stack}"]

    def walk(parent: str, prefix: str) -> None:
        kids = children.get(parent, [])
        for i, r in enumerate(kids):
            last = i == len(kids) - 1
            branch = f"{prefix}{'└─ ' if last else '├─ '}"
            lines.append(f" +   {branch + r.type:<{width}}{r.name}")
            walk(r.urn, prefix + ("   " if last else "│  "))

    registered = {r.urn for r in registrations}
    for root in [p for p in children if p not in registered]:  # the stack (not recorded), or no parent
        walk(root, "")
    return "\n".join(lines)


def type_counts(registrations: list[Registration]) -> dict[str, int]:
    return dict(sorted(Counter(r.type for r in registrations).items()))


def summary(registrations: list[Registration]) -> str:
    counts = type_counts(registrations)
    lines = ["Resources:", f"    + {len(registrations) + 1} to create (stack included)", "", "By type:"]
    lines += [f"    {n:>4}  {t}" for t, n in counts.items()]
    return "\n".join(lines)
