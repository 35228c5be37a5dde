"""The repository's own Python files, for the tests that scan the whole tree.

Hidden top-level folders (.venv, .cache with checkov's venv and the wheelhouse, .git, an older checkout's
.venv-checkov) and build/ hold installed or generated files, never the project's code: they are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATED = frozenset({"build"})


def project_python_files(skip: frozenset[str] = frozenset()) -> Iterator[tuple[str, Path]]:
    """(path relative to the repository root, path) of each .py file outside hidden folders, build/ and `skip`."""
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        top = relative.parts[0]
        if top.startswith(".") or top in GENERATED or top in skip:
            continue
        yield relative.as_posix(), path
