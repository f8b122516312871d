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

__version__ = "0.1.0"

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
