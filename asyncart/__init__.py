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

from asyncart._version import __version__

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and IDEs
    from asyncart.config import Settings
    from asyncart.errors import (
        AliasNotFound,
        ArtifactNotFound,
        AsyncartError,
        AuthError,
        CertificateError,
        ChunkMissing,
        ConfigError,
        ConflictError,
        ConnectError,
        DiskFullError,
        FileChangedError,
        IntegrityError,
        InvalidNameError,
        NotFoundError,
        PermissionDenied,
        PullLockTimeout,
        PushWorkerError,
        RequestTimeout,
        RetriesExhausted,
        RunNotFound,
        ServerError,
        ServiceUnavailable,
        StoreError,
        TransportError,
        VersionNotFound,
    )
    from asyncart.sdk.api import Api
    from asyncart.sdk.artifact import Artifact
    from asyncart.sdk.run import Run, init

# The package root is lazy (PEP 562): ``import asyncart`` loads nothing but the version,
# so the server, the CLI's server commands and the push worker do not load the SDK and
# the client (their modules, the client's allocator tweak, the SDK's exit hook) unless
# they use them. A name is imported from its module on first access.
_LAZY = {
    "Settings": "asyncart.config",
    "Api": "asyncart.sdk.api",
    "Artifact": "asyncart.sdk.artifact",
    "Run": "asyncart.sdk.run",
    "init": "asyncart.sdk.run",
}
_ERRORS = (
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
    "VersionNotFound",
)
_LAZY.update(dict.fromkeys(_ERRORS, "asyncart.errors"))


_SUBPACKAGES = ("aio", "cli", "client", "config", "core", "errors", "repo", "sdk", "server")


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:  # ``import asyncart; asyncart.aio.init(...)`` keeps working
        return importlib.import_module(f"asyncart.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'asyncart' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "AliasNotFound",
    "Api",
    "Artifact",
    "ArtifactNotFound",
    "AsyncartError",
    "AuthError",
    "CertificateError",
    "ChunkMissing",
    "ConfigError",
    "ConflictError",
    "ConnectError",
    "DiskFullError",
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
    "VersionNotFound",
    "__version__",
    "init",
]
