"""The metadata-store port: projects, collections, versions, aliases, runs, lineage, chunk index.

Every method is one transaction. Implementations classify their own errors
into :mod:`asyncart.errors` classes (NotFound..., ConflictError,
MetadataStoreError) so the repository never sees a driver exception.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from asyncart.core.models import ChunkLocation, CollectionInfo, RunInfo, VersionInfo


@dataclass(frozen=True)
class NewVersion:
    """What :meth:`MetaStore.commit_version` records.

    The manifest itself lives in the blobstore.
    """

    project: str
    name: str
    type: str
    digest: str
    size: int
    file_count: int
    metadata: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    run_id: str | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class PackChunk:
    """One chunk's place inside a stored pack."""

    hash: str
    offset: int
    length: int


class MetaStore(ABC):
    """Transactional metadata for one store."""

    @abstractmethod
    async def open(self) -> None:
        """Connect, and create or migrate the schema to the current version."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections."""

    # -- chunk index ---------------------------------------------------------

    @abstractmethod
    async def missing_chunks(self, hashes: Sequence[str]) -> list[str]:
        """The subset of ``hashes`` (hex) not in the chunk index, in input order, no duplicates."""

    @abstractmethod
    async def add_pack(self, pack_id: str, size: int, chunks: Sequence[PackChunk]) -> int:
        """Record a stored pack and index its chunks; chunks already indexed keep their
        old location. Idempotent. Returns the number of chunks newly indexed."""

    @abstractmethod
    async def locate_chunks(self, hashes: Sequence[str]) -> dict[str, ChunkLocation]:
        """Locations of the indexed chunks among ``hashes``; absent ones are left out."""

    # -- versions ------------------------------------------------------------

    @abstractmethod
    async def commit_version(self, new: NewVersion) -> VersionInfo:
        """Atomically record a version of ``new.project/new.name``.

        * creates the project and the collection (with ``new.type``) if absent;
          an existing collection of another type raises ConflictError naming both types;
        * if a version of the collection already has ``new.digest``, that version is
          reused (``created=False``); otherwise the next index is assigned
          (``created=True``): indexes are contiguous from 0 and never reused, even
          when several processes commit at once;
        * moves ``latest`` and every alias in ``new.aliases`` to the version (an alias
          is unique within its collection);
        * records ``new.run_id`` (if given) as a run that logged the version; a new
          version's ``created_by`` is that run.

        Returns the version with its current aliases.
        """

    @abstractmethod
    async def get_version(self, project: str, name: str, ref: str) -> VersionInfo:
        """Resolve ``ref`` (``vN`` or an alias) in a collection.

        Raises:
            ArtifactNotFound: no such collection; the message lists the project's collections.
            VersionNotFound / AliasNotFound: the message lists the versions / aliases that exist.
        """

    @abstractmethod
    async def list_versions(self, project: str, name: str) -> list[VersionInfo]:
        """All versions of a collection, oldest first. Raises ArtifactNotFound."""

    @abstractmethod
    async def get_collection(self, project: str, name: str) -> CollectionInfo:
        """Raises ArtifactNotFound (listing the project's collections)."""

    @abstractmethod
    async def list_collections(self, project: str) -> list[CollectionInfo]:
        """Collections of a project, by name; empty for an unknown project."""

    @abstractmethod
    async def list_projects(self) -> list[str]:
        """Every project name, sorted."""

    # -- runs and lineage ----------------------------------------------------

    @abstractmethod
    async def create_run(self, run: RunInfo) -> RunInfo:
        """Insert a run (creating its project if absent). Raises ConflictError on a duplicate id."""

    @abstractmethod
    async def get_run(self, run_id: str) -> RunInfo:
        """Raises RunNotFound."""

    @abstractmethod
    async def finish_run(self, run_id: str, status: str, finished_at: float) -> RunInfo:
        """Set a run's final status and time. Raises RunNotFound."""

    @abstractmethod
    async def add_run_input(self, run_id: str, project: str, name: str, index: int) -> None:
        """Record that a run used a version (idempotent). Raises RunNotFound / VersionNotFound."""

    @abstractmethod
    async def run_outputs(self, run_id: str) -> list[VersionInfo]:
        """Versions the run logged, in logging order."""

    @abstractmethod
    async def run_inputs(self, run_id: str) -> list[VersionInfo]:
        """Versions the run used, in use order."""

    @abstractmethod
    async def version_consumers(self, project: str, name: str, index: int) -> list[RunInfo]:
        """Runs that used a version."""

    @abstractmethod
    async def version_producers(self, project: str, name: str, index: int) -> list[RunInfo]:
        """Runs that logged a version (the creating run first)."""
