"""The house has floors and no hidden stairs: every import between the project's packages points down.

The graph is read from the source with `ast`, so it holds every import the interpreter could run: at
the top of a module, inside a function and under `TYPE_CHECKING`. A package may import its own modules
and any package on a lower floor; an import sideways or up, or a circle of modules, fails naming both
modules and the line. A second test imports every module first, in a fresh interpreter each, so no
module works only because another was imported before it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Bottom up: a package may import packages on the floors below its own, never beside or above it
# (docs/architecture.md draws the same floors). `__main__` is the Pulumi program's composition root.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("catalog", "naming"),  # platform facts as data; names derived from keys
    ("sizing",),  # pure arithmetic: model memory, GPU fit, prices
    ("settings",),  # the typed settings a service gives, shared by everything above
    ("loads",),  # how weights reach a server
    ("runtimes",),  # one module per model server
    ("config",),  # composes an environment file out of the settings, runtimes and loads
    ("infra", "policies"),  # Pulumi components of the platform; the policy pack
    ("workloads",),  # Pulumi components of what runs on the cluster
    ("preview", "__main__"),  # the offline preview; the Pulumi program
    ("tools", "bench"),  # developer commands beside the program
)
FLOOR = {package: level for level, packages in enumerate(FLOORS) for package in packages}
# Run inside a Job's container, not imported by the program: its own folder is its sys.path.
CONTAINER_SCRIPTS = "loads.scripts."
NOT_SOURCE = {"tests", "build", ".venv", ".git"}


@dataclass(frozen=True)
class Edge:
    source: str  # module that imports
    target: str  # project module imported
    line: int
    file: str  # the importing module's file, from the repository's root

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} ({self.file} line {self.line})"


def project_modules() -> dict[str, Path]:
    """Every module of the program by dotted name (a package by its own name)."""
    modules = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if parts[0] in NOT_SOURCE or (len(parts) > 1 and not (ROOT / parts[0] / "__init__.py").exists()):
            continue
        names = list(parts[:-1]) + ([] if path.name == "__init__.py" else [path.stem])
        modules[".".join(names)] = path
    return modules


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def imports_of(module: str, path: Path, known: set[str]) -> Iterator[Edge]:
    """The project modules `module` imports anywhere in its source, with the line of each import."""
    file = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    yield Edge(module, alias.name, node.lineno, file)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = _package_of(module, path).split(".")
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # `from package import module` imports the module; `from module import name` the module.
                target = f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                if target in known:
                    yield Edge(module, target, node.lineno, file)


def project_graph() -> list[Edge]:
    modules = project_modules()
    return [edge for module, path in modules.items() for edge in imports_of(module, path, set(modules))]


def top(module: str) -> str:
    return module.partition(".")[0]


def wrong_way(edges: list[Edge]) -> list[str]:
    """Imports that leave their package sideways or upwards, in words."""
    found = []
    for edge in edges:
        source, target = top(edge.source), top(edge.target)
        if source != target and FLOOR[target] >= FLOOR[source]:
            way = "sideways" if FLOOR[target] == FLOOR[source] else "up"
            found.append(f"{way}: {edge} — {source} is on floor {FLOOR[source]}, {target} on {FLOOR[target]}")
    return found


def cycles(edges: list[Edge]) -> list[list[Edge]]:
    """Each circle of module imports found by a depth-first walk, as the edges that close it."""
    out: dict[str, list[Edge]] = {}
    for edge in edges:
        out.setdefault(edge.source, []).append(edge)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[Edge] = []
    found: list[list[Edge]] = []

    def visit(module: str) -> None:
        state[module] = 1
        for edge in out.get(module, []):
            if state.get(edge.target) == 1:
                walk = [*path, edge]
                start = next(i for i, e in enumerate(walk) if e.source == edge.target)
                found.append(walk[start:])
            elif edge.target not in state:
                path.append(edge)
                visit(edge.target)
                path.pop()
        state[module] = 2

    for module in sorted(out):
        if module not in state:
            visit(module)
    return found


def test_every_package_has_a_floor() -> None:
    packages = {top(m) for m in project_modules()}
    assert packages - set(FLOOR) == set(), "add the new package to FLOORS (and to docs/architecture.md)"
    assert set(FLOOR) - packages == set(), "a floor names a package that no longer exists"


def test_the_architecture_doc_draws_the_same_floors() -> None:
    # docs/architecture.md's table, one row per floor from the top: `| <floor> | <packages> | ... |`.
    lines = (ROOT / "docs/architecture.md").read_text().splitlines()
    rows = [line.split("|")[1:3] for line in lines if line.startswith("|")]
    drawn = {
        int(level): tuple(cell.strip(" `/").removesuffix(".py") for cell in packages.split(","))
        for level, packages in rows
        if level.strip().isdigit()
    }
    assert drawn == dict(enumerate(FLOORS))


def test_imports_only_point_down() -> None:
    assert wrong_way(project_graph()) == []


def test_no_module_imports_itself_round_a_circle() -> None:
    assert [" ; ".join(map(str, circle)) for circle in cycles(project_graph())] == []


def test_the_graph_sees_imports_in_functions_and_under_type_checking(tmp_path: Path) -> None:
    # The reader itself: an import hidden in a function or under TYPE_CHECKING is an edge like any other.
    source = tmp_path / "mod.py"
    source.write_text(
        textwrap.dedent(
            """\
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                from config.environment import Environment
            def later():
                import workloads.server
                from runtimes import base
            """
        )
    )
    known = {"config.environment", "workloads.server", "runtimes", "runtimes.base"}
    edges = [(e.target, e.line) for e in imports_of("sizing.mod", source, known)]
    assert sorted(edges) == [("config.environment", 3), ("runtimes.base", 6), ("workloads.server", 5)]
    assert wrong_way([Edge("sizing.mod", "config.environment", 3, "sizing/mod.py")]) == [
        "up: sizing.mod -> config.environment (sizing/mod.py line 3) — sizing is on floor 1, config on 5"
    ]
    circle = cycles([Edge("a", "b", 1, "a.py"), Edge("b", "c", 2, "b/__init__.py"), Edge("c", "a", 3, "c.py")])
    assert [[str(e) for e in c] for c in circle] == [
        ["a -> b (a.py line 1)", "b -> c (b/__init__.py line 2)", "c -> a (c.py line 3)"]
    ]


def outside_modules() -> set[str]:
    """Every module outside the project that the project's source names in an import."""
    names: set[str] = set()
    for path in project_modules().values():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {n for n in names if top(n) not in FLOOR}


# Runs in a fresh interpreter: it loads the libraries outside the project once (speed only: what a
# child imports first is a project module), then forks one child per module, each of which imports
# that one module first. No project module is loaded before a fork.
_IMPORT_EACH = """
import importlib, os, sys, traceback
modules, outside = sys.argv[1].split(), sys.argv[2].split()
project = {m.partition(".")[0] for m in modules}
for library in outside:
    try:
        importlib.import_module(library)
    except ImportError:
        pass  # a name imported from a module, not a module
assert not [m for m in sys.modules if m.partition(".")[0] in project], "a project module loaded before the fork"
running, failed = {}, []


def reap():
    pid, status = os.wait()
    if status:
        failed.append(running[pid])
    del running[pid]


for module in modules:
    if len(running) >= (os.cpu_count() or 1):
        reap()
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(module)
        except BaseException:
            print(f"--- import {module} first:", file=sys.stderr)
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    running[pid] = module
while running:
    reap()
print(" ".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_first() -> None:
    modules = [m for m in project_modules() if m != "__main__" and not m.startswith(CONTAINER_SCRIPTS)]
    run = subprocess.run(  # noqa: S603 (our own interpreter and a fixed script)
        [sys.executable, "-c", _IMPORT_EACH, " ".join(modules), " ".join(sorted(outside_modules()))],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
