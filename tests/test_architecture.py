"""The rule of imports of docs/architecture.md, checked on every library module with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "markerflow"

#: layer -> the markerflow layers it may import (docs/architecture.md, "The rule of imports")
ALLOWED: dict[str, set[str]] = {
    "rcompat": {"errors"},
    "engines": {"rcompat", "errors"},
    "model": {"rcompat", "errors"},
    "io": {"io", "errors", "contracts", "__version__"},
    "stages": {"engines", "io", "model", "rcompat", "contracts", "errors", "stages"},
    "plots": {"engines", "io"},
    "report": {"io", "report"},
    "runner": {"errors"},
    "cli": {"io", "errors"},
    "errors": set(),
    "contracts": set(),
    "__init__": set(),
}


def _layer(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(tree: ast.Module) -> list[tuple[str, bool]]:
    """(imported module, imported only for type checking) for every import of a module."""
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            guarded |= {id(child) for child in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = (
                [f"markerflow.{a.name}" for a in node.names]
                if node.module == "markerflow"
                else [node.module]
            )
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found += [(name, id(node) in guarded) for name in names]
    return found


MODULES = sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_follow_the_layers(path):
    layer = _layer(path)
    assert layer in ALLOWED, f"{path}: layer {layer!r} is not in docs/architecture.md"
    bad = []
    for name, typing_only in _imports(ast.parse(path.read_text())):
        top = name.split(".")[0]
        assert top != "snakemake", f"{path} imports Snakemake"
        if top != "markerflow" or typing_only:
            continue
        target = name.split(".")[1]
        if target != layer and target not in ALLOWED[layer]:
            bad.append(name)
    assert not bad, f"{path.relative_to(SRC)} ({layer}) imports {bad} against docs/architecture.md"


@pytest.mark.parametrize(
    "path",
    [p for p in MODULES if _layer(p) in ("rcompat", "engines", "model", "io", "stages")],
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_only_plots_import_matplotlib(path):
    tops = {name.split(".")[0] for name, _ in _imports(ast.parse(path.read_text()))}
    assert "matplotlib" not in tops, f"{path.relative_to(SRC)} imports matplotlib"


def test_engines_take_no_pandas():
    for path in (SRC / "engines").glob("*.py"):
        tops = {name.split(".")[0] for name, _ in _imports(ast.parse(path.read_text()))}
        assert "pandas" not in tops, f"{path.relative_to(SRC)}: engines are numpy in, numpy out"
