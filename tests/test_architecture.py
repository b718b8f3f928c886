"""The architecture document names real code, and only the executor's writer scales."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CITED = re.compile(r"`(claudescale/[\w/]+\.py)::([\w.]+)`")


def _defined_names(path: Path) -> set[str]:
    """Top-level names and ``Class.method`` names defined in a module."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(f"{node.name}.{item.name}")
    return names


def test_every_function_the_architecture_document_cites_exists() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    cited = CITED.findall(text)
    assert len(cited) >= 20, "the document should walk the path with real names"
    missing = [
        f"{path}::{name}"
        for path, name in cited
        if not (ROOT / path).is_file() or name not in _defined_names(ROOT / path)
    ]
    assert missing == []


def test_only_the_executors_writer_calls_the_clusters_scale() -> None:
    allowed = {ROOT / "claudescale" / "engine" / "scale_write.py"}
    doubles = {"sim", "testing", "adapters"}  # they implement Cluster.scale, not call it
    callers = []
    for path in sorted((ROOT / "claudescale").rglob("*.py")):
        if path in allowed or doubles.intersection(path.relative_to(ROOT / "claudescale").parts):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "scale"
            ):
                callers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert callers == []
