"""Imports flow one way: core <- repo <- server; core <- client <- sdk <- cli."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "asyncart"

# layer -> asyncart subpackages it must never import
FORBIDDEN = {
    "core": {"repo", "server", "client", "sdk", "cli"},
    "repo": {"server", "client", "sdk", "cli"},
    "server": {"client", "sdk", "cli"},
    "client": {"server", "sdk", "cli"},
    "sdk": {"server", "cli"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {m.split(".")[1] for m in found if m.startswith("asyncart.") and m.count(".") >= 1}


def test_layers_import_one_way() -> None:
    violations = []
    for layer, forbidden in FORBIDDEN.items():
        for path in (PACKAGE / layer).rglob("*.py"):
            bad = _imports(path) & forbidden
            if bad:
                violations.append(f"{path.relative_to(PACKAGE)} imports {sorted(bad)}")
    assert violations == []


def test_only_config_reads_asyncart_environment_variables() -> None:
    readers = [
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*.py")
        if "ASYNCART_" in p.read_text() and "environ" in p.read_text()
    ]
    assert readers == ["config.py"]
