"""asyncart: versioned ML artifacts (the W&B Artifacts API) on an asyncio chunk engine.

The sync API below runs the async core (``asyncart.aio``) on one background
event-loop thread::

    import asyncart
    run = asyncart.init(job_type="train")
    artifact = asyncart.Artifact(type="dataset", name="bike dataset")
    artifact.add_file("bicycle-data.h5")
    run.log_artifact(artifact)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from asyncart._version import __version__ as __version__

if TYPE_CHECKING:  # the lazy names below, for type checkers and IDEs (``X as X``: re-exported)
    from asyncart.config import Settings as Settings
    from asyncart.errors import AliasNotFound as AliasNotFound
    from asyncart.errors import ArtifactNotFound as ArtifactNotFound
    from asyncart.errors import AsyncartError as AsyncartError
    from asyncart.errors import AuthError as AuthError
    from asyncart.errors import CertificateError as CertificateError
    from asyncart.errors import ChunkMissing as ChunkMissing
    from asyncart.errors import ConfigError as ConfigError
    from asyncart.errors import ConflictError as ConflictError
    from asyncart.errors import ConnectError as ConnectError
    from asyncart.errors import DiskFullError as DiskFullError
    from asyncart.errors import EntryNotFound as EntryNotFound
    from asyncart.errors import FileChangedError as FileChangedError
    from asyncart.errors import IntegrityError as IntegrityError
    from asyncart.errors import InvalidNameError as InvalidNameError
    from asyncart.errors import NotFoundError as NotFoundError
    from asyncart.errors import PermissionDenied as PermissionDenied
    from asyncart.errors import PullLockTimeout as PullLockTimeout
    from asyncart.errors import PushWorkerError as PushWorkerError
    from asyncart.errors import RequestTimeout as RequestTimeout
    from asyncart.errors import RetriesExhausted as RetriesExhausted
    from asyncart.errors import RunNotFound as RunNotFound
    from asyncart.errors import ServerError as ServerError
    from asyncart.errors import ServiceUnavailable as ServiceUnavailable
    from asyncart.errors import StoreError as StoreError
    from asyncart.errors import TransportError as TransportError
    from asyncart.errors import TypeConflict as TypeConflict
    from asyncart.errors import VerificationFailed as VerificationFailed
    from asyncart.errors import VersionNotFound as VersionNotFound
    from asyncart.sdk.api import Api as Api
    from asyncart.sdk.artifact import Artifact as Artifact
    from asyncart.sdk.run import Run as Run
    from asyncart.sdk.run import init as init

# The package root is lazy (PEP 562): ``import asyncart`` loads nothing but the version,
# so the server, the CLI's server commands and the push worker do not load the SDK and
# the client (their modules, the client's allocator tweak, the SDK's exit hook) unless
# they use them. A name is imported from its module on first access.
#
# This table is the one list of the public names: ``__all__`` and ``__dir__`` derive from
# it. The ``TYPE_CHECKING`` imports above must name the same (type checkers cannot read a
# table); tests/test_public_api.py holds the two together.
_EXPORTS: dict[str, str] = {
    "Settings": "asyncart.config",
    "Api": "asyncart.sdk.api",
    "Artifact": "asyncart.sdk.artifact",
    "Run": "asyncart.sdk.run",
    "init": "asyncart.sdk.run",
    **dict.fromkeys(
        (
            "AliasNotFound",
            "ArtifactNotFound",
            "AsyncartError",
            "AuthError",
            "CertificateError",
            "ChunkMissing",
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
            "RunNotFound",
            "ServerError",
            "ServiceUnavailable",
            "StoreError",
            "TransportError",
            "TypeConflict",
            "VerificationFailed",
            "VersionNotFound",
        ),
        "asyncart.errors",
    ),
}

# ``import asyncart; asyncart.aio.init(...)`` keeps working: submodules load on access too.
_SUBPACKAGES = ("aio", "cli", "client", "config", "core", "errors", "repo", "sdk", "server")

if not TYPE_CHECKING:  # type checkers take the explicit re-exports above as the star names
    __all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"asyncart.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'asyncart' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
