"""Imports flow one way: core <- repo <- server; core <- client <- sdk <- cli.

Every import of an ``asyncart`` module counts, wherever it stands (inside a function,
under ``TYPE_CHECKING``): ``import asyncart`` (the root re-exports the SDK: SDK-level),
``from asyncart import X`` (X resolved: a subpackage or module, else the module the root's
lazy table takes it from), and relative imports. A few modules hold a documented
exception (:data:`ONLY_IN`).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

import asyncart

PACKAGE = Path(__file__).resolve().parent.parent / "asyncart"

# config, errors and _version: the base every layer may import.
TOP_LEVEL_LAYERS = {
    "_version": "base",
    "config": "base",
    "errors": "base",
    "aio": "sdk",
    "__main__": "cli",
}
ROOT_LAYER = "sdk"  # ``import asyncart``: the root re-exports the SDK

# layer -> the layers it may import (besides itself)
ALLOWED = {
    "base": {"core"},
    "core": {"base"},
    "repo": {"base", "core"},
    "server": {"base", "core", "repo"},
    "client": {"base", "core"},
    "sdk": {"base", "core", "client"},
    "cli": {"base", "core", "client", "sdk"},
}

# (layer, imported layer) -> the only modules of that layer allowed to import it
ONLY_IN = {
    # the embedded store (LocalRemote) runs the repository in-process
    ("client", "repo"): {"client/local.py"},
    # ``asyncart server`` and its subcommands (fsck, gc, admin) work on a store directly
    ("cli", "repo"): {
        "cli/server.py",
        "cli/maintenance.py",
        "cli/fsck.py",
        "cli/gc.py",
        "cli/admin.py",
    },
    ("cli", "server"): {"cli/server.py"},
}


def _module_name(path: Path, package: Path) -> str:
    parts = [package.name, *path.relative_to(package).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str, package: Path) -> bool:
    where = package.parent.joinpath(*name.split("."))
    return where.with_suffix(".py").is_file() or (where / "__init__.py").is_file()


def _type_checking_imports(tree: ast.Module) -> set[ast.AST]:
    """The import statements under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    return {
        stmt
        for node in ast.walk(tree)
        if isinstance(node, ast.If)
        and isinstance(node.test, ast.Name)
        and node.test.id == "TYPE_CHECKING"
        for stmt in ast.walk(node)
        if isinstance(stmt, (ast.Import, ast.ImportFrom))
    }


def imported_modules(
    path: Path, package: Path, root_names: Mapping[str, str], *, runtime_only: bool = False
) -> set[str]:
    """The modules of ``package`` that ``path`` imports; ``root_names`` maps each name the
    package root re-exports to the module it comes from. ``runtime_only``: leave out the
    imports under ``if TYPE_CHECKING:``."""
    root = package.name
    here = _module_name(path, package)
    current_package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    tree = ast.parse(path.read_text())
    skipped = _type_checking_imports(tree) if runtime_only else set()
    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = current_package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                if _is_module(candidate, package):
                    found.add(candidate)
                elif base == root and alias.name in root_names:
                    found.add(root_names[alias.name])
                else:
                    found.add(base)
    return {m for m in found if m == root or m.startswith(root + ".")}


def layer_of(module: str) -> str:
    """The layer of a dotted module name of the package."""
    parts = module.split(".")
    if len(parts) == 1:
        return ROOT_LAYER
    return TOP_LEVEL_LAYERS.get(parts[1], parts[1])


def layer_violations(package: Path, root_names: Mapping[str, str]) -> list[str]:
    """Every import in ``package`` that breaks :data:`ALLOWED` / :data:`ONLY_IN`."""
    violations = []
    for path in sorted(package.rglob("*.py")):
        where = path.relative_to(package).as_posix()
        if where == "__init__.py":
            continue  # the root: names every layer's public face, lazily
        layer = layer_of(_module_name(path, package))
        for module in sorted(imported_modules(path, package, root_names)):
            target = layer_of(module)
            if target == layer:
                continue
            exception = ONLY_IN.get((layer, target))
            if exception is not None:
                if where not in exception:
                    violations.append(f"{where} imports {module}: only {sorted(exception)} may")
            elif target not in ALLOWED[layer]:
                violations.append(f"{where} imports {module} ({layer} must not import {target})")
    return violations


def _root_names() -> dict[str, str]:
    return {**asyncart._EXPORTS, "__version__": "asyncart._version"}


def test_layers_import_one_way() -> None:
    assert layer_violations(PACKAGE, _root_names()) == []


def import_cycles(package: Path, root_names: Mapping[str, str]) -> list[list[str]]:
    """Groups of modules that import each other, directly or round a loop. An import inside
    a function counts (it hides a cycle from the load order, not from the design); one
    under ``TYPE_CHECKING`` does not (annotations only)."""
    graph = {
        _module_name(path, package): imported_modules(path, package, root_names, runtime_only=True)
        for path in package.rglob("*.py")
        if path.relative_to(package).as_posix() != "__init__.py"
    }

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for nxt in graph.get(todo.pop(), set()) - seen:
                seen.add(nxt)
                todo.append(nxt)
        return seen

    reachable = {module: reach(module) for module in graph}
    groups = {
        tuple(sorted(m for m in reachable[module] if module in reachable.get(m, set())))
        for module in graph
        if module in reachable[module]
    }
    return sorted(list(group) for group in groups)


def test_no_import_cycles() -> None:
    assert import_cycles(PACKAGE, _root_names()) == []


def test_the_cycle_check_finds_a_planted_cycle(tmp_path: Path) -> None:
    package = tmp_path / "asyncart"
    files = {
        "__init__.py": "",
        "client/__init__.py": "",
        "client/remote.py": "def open_remote():\n    from asyncart.client.local import L\n",
        "client/local.py": "from .remote import Remote\n",
        "client/port.py": "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from asyncart.client.user import U\n",
        "client/user.py": "from asyncart.client import port\n",
    }
    for name, text in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    assert import_cycles(package, {}) == [["asyncart.client.local", "asyncart.client.remote"]]


PLANTED = {
    "__init__.py": "from asyncart.sdk.api import Api\n",
    "_version.py": "",
    "errors.py": "",
    "config.py": "from asyncart.core import names\n",
    "aio.py": "from asyncart.sdk.api import Api\n",
    "core/__init__.py": "",
    "core/names.py": "from asyncart import errors\n"
    "def later():\n    from asyncart.client import scan\n",
    "core/other.py": "from asyncart import aio\nfrom . import names\n",
    "repo/__init__.py": "",
    "repo/service.py": "from ..core import names\n",
    "server/__init__.py": "",
    "server/app.py": "import asyncart\nfrom asyncart import __version__, errors, Settings\n"
    "from asyncart import Api\n",
    "client/__init__.py": "",
    "client/scan.py": "from ..repo import service\n",
    "client/local.py": "from asyncart.repo.service import Repository\n",
    "sdk/__init__.py": "",
    "sdk/api.py": "from asyncart.client import scan\nfrom asyncart.client.local import X\n",
    "cli/__init__.py": "",
    "cli/push.py": "from asyncart.repo import service\nfrom asyncart import aio\n",
    "cli/gc.py": "from asyncart.repo import service\nfrom asyncart.server import app\n",
    "cli/server.py": "from asyncart.repo import service\nfrom asyncart.server import app\n",
}


def test_the_layer_check_finds_planted_violations(tmp_path: Path) -> None:
    package = tmp_path / "asyncart"
    for name, text in PLANTED.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    root_names = {"Api": "asyncart.sdk.api", "Settings": "asyncart.config"}
    root_names["__version__"] = "asyncart._version"
    assert layer_violations(package, root_names) == [
        "cli/gc.py imports asyncart.server.app: only ['cli/server.py'] may",
        "cli/push.py imports asyncart.repo.service: only "
        "['cli/admin.py', 'cli/fsck.py', 'cli/gc.py', 'cli/maintenance.py', 'cli/server.py'] may",
        "client/scan.py imports asyncart.repo.service: only ['client/local.py'] may",
        "core/names.py imports asyncart.client.scan (core must not import client)",
        "core/other.py imports asyncart.aio (core must not import sdk)",
        "server/app.py imports asyncart (server must not import sdk)",
        "server/app.py imports asyncart.sdk.api (server must not import sdk)",
    ]


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("asyncart.server.app", ("asyncart.client", "asyncart.sdk", "asyncart.cli")),
        ("asyncart.repo.service", ("asyncart.client", "asyncart.sdk", "asyncart.server")),
    ],
)
def test_a_layer_loads_no_module_of_the_layers_above(
    module: str, forbidden: tuple[str, ...]
) -> None:
    """What runs, not just what is written: importing the server loads no client or SDK."""
    code = (
        f"import sys, {module};"
        f"bad = sorted(m for m in sys.modules if m.startswith({forbidden!r}));"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_only_config_reads_asyncart_environment_variables() -> None:
    readers = [
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*.py")
        if "ASYNCART_" in p.read_text() and "environ" in p.read_text()
    ]
    assert readers == ["config.py"]


def test_the_cli_uses_no_private_attribute_of_another_object() -> None:
    """The CLI goes through the SDK's public face: no ``artifact._info``, ``x._download``
    (its own objects' ``self._x`` are fine)."""
    reaches = [
        f"{path.relative_to(PACKAGE).as_posix()}:{node.lineno} .{node.attr}"
        for path in sorted((PACKAGE / "cli").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    ]
    assert reaches == []
