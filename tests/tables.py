"""Case tables kept as data (tests/cases/<name>.yaml): an input and the exact words the program must
answer with, one entry per case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CASES = Path(__file__).parent / "cases"


def table(name: str, *columns: str) -> list[tuple[Any, ...]]:
    """The rows of tests/cases/<name>.yaml as tuples of `columns`, for pytest.mark.parametrize."""
    rows: list[dict[str, Any]] = yaml.safe_load((CASES / f"{name}.yaml").read_text())
    assert rows and all(set(row) == set(columns) for row in rows), f"{name}.yaml: every row has {columns}"
    return [tuple(row[c] for c in columns) for row in rows]
