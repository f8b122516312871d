"""The public names, pinned: changing them is a deliberate act."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import asyncart
from asyncart import aio


def test_top_level_exports() -> None:
    assert sorted(asyncart.__all__) == sorted(
        [
            "AliasNotFound",
            "Api",
            "Artifact",
            "ArtifactNotFound",
            "AsyncartError",
            "AuthError",
            "ChunkMissing",
            "CertificateError",
            "ConfigError",
            "ConflictError",
            "ConnectError",
            "DiskFullError",
            "EntryNotFound",
            "FileChangedError",
            "IntegrityError",
            "InvalidNameError",
            "NotFoundError",
            "PermissionDenied",
            "PullLockTimeout",
            "PushWorkerError",
            "RequestTimeout",
            "RetriesExhausted",
            "Run",
            "RunNotFound",
            "ServerError",
            "ServiceUnavailable",
            "Settings",
            "StoreError",
            "TransportError",
            "TypeConflict",
            "VerificationFailed",
            "VersionNotFound",
            "__version__",
            "init",
        ]
    )
    for name in asyncart.__all__:
        assert hasattr(asyncart, name), name


def test_the_type_checking_imports_name_the_lazy_table() -> None:
    """The root's one table of public names and the static imports type checkers read
    (``if TYPE_CHECKING:``) say the same: each name, from the same module."""
    tree = ast.parse(Path(asyncart.__file__).read_text())
    (block,) = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name)
        if node.test.id == "TYPE_CHECKING"
    ]
    imports = [
        (node.module, alias)
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    ]
    assert {alias.name: module for module, alias in imports} == asyncart._EXPORTS
    # ``X as X``: the form that re-exports a name under mypy --strict
    assert [alias.name for _, alias in imports if alias.asname != alias.name] == []


def test_the_package_root_loads_nothing_until_a_name_is_used() -> None:
    """``import asyncart`` (as the server does for its version) loads no SDK or client."""
    code = (
        "import sys, asyncart; assert asyncart.__version__;"
        "loaded = sorted(m for m in sys.modules if m.startswith('asyncart.'));"
        "assert loaded == ['asyncart._version'], loaded;"
        "import asyncart.server.app;"
        "bad = sorted(m for m in sys.modules if m.startswith(('asyncart.client', 'asyncart.sdk')));"
        "assert not bad, bad;"
        "assert asyncart.Artifact.__module__ == 'asyncart.sdk.artifact'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_async_exports() -> None:
    assert sorted(aio.__all__) == ["Api", "Artifact", "AsyncRun", "init"]


def test_errors_share_one_base_and_mix_in_builtins() -> None:
    assert issubclass(asyncart.ConfigError, ValueError)
    assert issubclass(asyncart.NotFoundError, LookupError)
    assert issubclass(asyncart.ConnectError, ConnectionError)
    assert issubclass(asyncart.RequestTimeout, TimeoutError)
    assert issubclass(asyncart.AuthError, PermissionError)
    assert issubclass(asyncart.EntryNotFound, KeyError)  # W&B's get_entry
    assert issubclass(asyncart.EntryNotFound, FileNotFoundError)  # W&B's remove
    assert issubclass(asyncart.TypeConflict, ValueError)  # W&B's log/use of another type
    assert issubclass(asyncart.TypeConflict, asyncart.ConflictError)
    assert issubclass(asyncart.VerificationFailed, ValueError)  # W&B's verify
    assert issubclass(asyncart.VerificationFailed, asyncart.IntegrityError)
    for name in asyncart.__all__:
        obj = getattr(asyncart, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, asyncart.AsyncartError), name
