"""The port: what the client engine needs of a store, as one abstract interface.

``Remote`` is implemented by ``HttpRemote`` (a server, ``http_remote.py``) and
``LocalRemote`` (the embedded store, ``local.py``), so the upload and download
pipelines are written once against it; ``remote_factory.open_remote`` picks one from
the settings. ``RangeSink`` is where a ranged read's bytes go as they arrive.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from asyncart.client.counters import Counters
from asyncart.core.manifest import Manifest
from asyncart.core.models import (
    ChunkLocation,
    CollectionChanges,
    CollectionInfo,
    CommitRequest,
    PendingInfo,
    RunInfo,
    VersionChanges,
    VersionInfo,
)
from asyncart.core.origins import ProjectAccess, VersionOrigin
from asyncart.core.retention import RetentionPolicy
from asyncart.core.storage import ProjectStorage, QuotaUsage


class RangeSink(ABC):
    """Where the bytes of a ranged read go, as they arrive."""

    @abstractmethod
    def restart(self) -> None:
        """An attempt begins: bytes come again from the range's first byte."""

    @abstractmethod
    async def write(self, data: bytes) -> None:
        """Take the next bytes of the range."""

    @abstractmethod
    async def finish(self) -> None:
        """Every byte of the range has arrived."""


class BlockingRangeSink(RangeSink):
    """A sink that can also take bytes in a worker thread (the thread reads of
    ``blocking_reads.py``): :meth:`take` in place of ``write`` and ``finish``."""

    @abstractmethod
    def take(self, data: memoryview, *, last: bool) -> bool:
        """Take the next bytes (``last``: the range's final ones) in a worker thread;
        False once the range has failed (stop reading: the caller reads it again)."""


class Remote(ABC):
    """The store operations the client engine needs."""

    counters: Counters
    description: str
    #: The store is on this machine (the embedded store): the download cache is bypassed.
    is_local: bool = False

    @abstractmethod
    async def missing_chunks(self, hashes: Sequence[str]) -> list[str]: ...

    @abstractmethod
    async def upload_pack(
        self, parts: Sequence[bytes | memoryview], what: str, project: str | None = None
    ) -> None:
        """Send one pack body (header + chunk bytes) for ``project``, the project whose
        push it is: charged for it until a version references it (docs/quotas.md)."""

    @abstractmethod
    async def locate_chunks(self, hashes: Sequence[str]) -> dict[str, ChunkLocation]: ...

    async def check_quota(self, project: str, new_bytes: int) -> int | None:
        """The bytes ``project`` may still add under its quota, having checked
        ``new_bytes`` fit; None: no quota (or a store that checks only at commit).

        Raises:
            QuotaExceeded: they do not fit (naming usage, quota, versions to delete).
        """
        return None

    async def quota(self, project: str) -> QuotaUsage | None:
        """The quota and usage of ``project`` (read access), or None: the store cannot say
        (a server older than the quota route)."""
        return None

    async def access(self, project: str) -> ProjectAccess | None:
        """The caller's access on ``project``, or None: the store cannot say (a server
        older than the access route).

        Raises:
            NotFoundError: the caller has no role on it (or it does not exist, for a
                store that says so).
        """
        return None

    async def record_origin(
        self, project: str, name: str, ref: str, origin: VersionOrigin
    ) -> VersionOrigin | None:
        """Record where version ``ref`` came from (idempotent); the stored origin, or
        None: the store cannot record origins (a server older than the route)."""
        return None

    async def list_origins(self, project: str, name: str) -> list[VersionOrigin] | None:
        """The recorded origins of the collection's versions, or None: the store cannot
        say (a server older than the route)."""
        return None

    async def prepare_reads(self, packs: Sequence[str]) -> None:  # noqa: B027 - optional
        """Called before a pull reads ranges of ``packs`` (a remote may prefetch URLs)."""

    @abstractmethod
    async def read_range(
        self, pack: str, offset: int, length: int, what: str, sink: RangeSink
    ) -> None:
        """Stream ``length`` bytes of ``pack`` from ``offset`` into ``sink``."""

    @abstractmethod
    async def commit(self, req: CommitRequest) -> VersionInfo: ...

    @abstractmethod
    async def upsert_pending(self, req: CommitRequest, distributed_id: str) -> PendingInfo:
        """Add ``req``'s entries to the distributed version pending under
        ``distributed_id`` (W&B's ``upsert_artifact``)."""

    @abstractmethod
    async def finish_pending(
        self, req: CommitRequest, distributed_id: str, token: str
    ) -> VersionInfo:
        """Add ``req``'s entries and commit every part as one version (W&B's
        ``finish_artifact``); ``token`` makes a retry answer the same version."""

    @abstractmethod
    async def get_version(self, project: str, name: str, ref: str) -> VersionInfo: ...

    @abstractmethod
    async def version_by_id(self, version_id: str) -> VersionInfo:
        """The version whose ``artifact.id`` is ``version_id`` (``VersionNotFound`` if none
        the caller may read)."""

    @abstractmethod
    async def update_version(
        self, project: str, name: str, ref: str, changes: VersionChanges
    ) -> VersionInfo:
        """Change a logged version's description, metadata, ttl or tags; returns it now."""

    @abstractmethod
    async def update_collection(
        self, project: str, name: str, changes: CollectionChanges
    ) -> CollectionInfo:
        """Rename, retype, describe or tag a collection; returns it as it is now."""

    @abstractmethod
    async def get_retention(self, project: str, name: str) -> RetentionPolicy | None:
        """The collection's retention policy; None when it has none."""

    @abstractmethod
    async def set_retention(
        self, project: str, name: str, policy: RetentionPolicy
    ) -> RetentionPolicy:
        """Set the collection's retention policy (replacing its previous one)."""

    @abstractmethod
    async def clear_retention(self, project: str, name: str) -> RetentionPolicy | None:
        """Remove the collection's retention policy; returns it (None: it had none)."""

    @abstractmethod
    async def set_alias(self, project: str, name: str, alias: str, ref: str) -> VersionInfo:
        """Point ``alias`` at version ``ref`` (moved from where it was); returns that version."""

    @abstractmethod
    async def remove_alias(self, project: str, name: str, alias: str) -> VersionInfo:
        """Remove ``alias``; returns the version it named."""

    @abstractmethod
    async def link_version(
        self, project: str, name: str, ref: str, target: tuple[str, str], aliases: list[str]
    ) -> VersionInfo:
        """Link version ``ref`` into ``target`` (project, collection); returns the link."""

    @abstractmethod
    async def unlink_version(self, project: str, name: str, ref: str) -> VersionInfo:
        """Remove link ``ref`` (its source stays); returns it as it was."""

    @abstractmethod
    async def list_links(self, project: str, name: str, ref: str) -> list[VersionInfo]:
        """The links of a version (of its source, for a link), oldest first."""

    @abstractmethod
    async def get_manifest(self, project: str, name: str, ref: str) -> Manifest: ...

    @abstractmethod
    async def list_versions(self, project: str, name: str) -> list[VersionInfo]: ...

    @abstractmethod
    async def list_collections(self, project: str) -> list[CollectionInfo]: ...

    @abstractmethod
    async def list_projects(self) -> list[str]: ...

    @abstractmethod
    async def storage(self, project: str) -> ProjectStorage:
        """What the versions of ``project`` cost (``core/storage.py``): from the store's
        index, no pack read."""

    @abstractmethod
    async def create_run(
        self,
        project: str,
        job_type: str,
        name: str | None,
        config: dict[str, Any],
        run_id: str,
        *,
        group: str | None = None,
        tags: Sequence[str] = (),
        notes: str | None = None,
    ) -> RunInfo:
        """Create a run with a client-chosen id (so a retried create is idempotent),
        labelled with W&B's ``group``, ``tags`` and ``notes``."""

    @abstractmethod
    async def set_run_config(self, run_id: str, config: dict[str, Any]) -> RunInfo:
        """Replace a running run's config (the whole JSON document)."""

    @abstractmethod
    async def finish_run(self, run_id: str, status: str) -> RunInfo: ...

    @abstractmethod
    async def get_run(self, run_id: str) -> RunInfo:
        """A run by id (``RunNotFound`` if there is none the caller may read)."""

    @abstractmethod
    async def use_version(
        self, run_id: str | None, project: str, name: str, ref: str, type: str | None
    ) -> VersionInfo: ...

    @abstractmethod
    async def run_outputs(self, run_id: str) -> list[VersionInfo]: ...

    @abstractmethod
    async def run_inputs(self, run_id: str) -> list[VersionInfo]: ...

    @abstractmethod
    async def version_consumers(self, project: str, name: str, ref: str) -> list[RunInfo]: ...

    @abstractmethod
    async def version_producers(self, project: str, name: str, ref: str) -> list[RunInfo]: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def delete_version(
        self, project: str, name: str, ref: str, delete_aliases: bool
    ) -> VersionInfo:
        """Delete one version; returns it as it was."""

    @abstractmethod
    async def delete_collection(
        self, project: str, name: str, delete_aliases: bool
    ) -> list[VersionInfo]:
        """Delete every version of an artifact; returns them as they were, oldest first."""
