"""The metadata-store port: projects, collections, versions, aliases, runs, lineage, chunk index.

Every method is one transaction. Implementations classify their own errors
into :mod:`asyncart.errors` classes (NotFound..., ConflictError,
MetadataStoreError) so the repository never sees a driver exception.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from asyncart.core.models import (
    ChunkLocation,
    CollectionChanges,
    CollectionInfo,
    RunInfo,
    VersionChanges,
    VersionInfo,
)
from asyncart.core.names import format_version
from asyncart.core.origins import VersionOrigin
from asyncart.core.storage import ProjectStorage, QuotaUsage
from asyncart.repo.metastores.base_links_pending import LinksAndPendingStore
from asyncart.repo.metastores.base_retention import RetentionStore

#: A ``missing`` answer refreshes a pack's ``touched_at`` only when it is older than
#: this (seconds), so a busy store does not write on every query. A pack a client was
#: told about is therefore protected for at least ``grace - TOUCH_INTERVAL`` (docs/gc.md).
TOUCH_INTERVAL = 60.0

#: Asks the blobstore, inside a metastore transaction, whether an object is (still) stored.
StoredCheck = Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class ChunkScope:
    """What a restricted caller may learn about chunks (docs/protocol.md §6.4).

    A chunk is visible if a project in ``projects`` has held it (``None``: any project)
    or if user ``uploader`` uploaded its bytes. ``None`` instead of a scope anywhere in
    this port means an unrestricted caller (the embedded store, a store without users).
    """

    projects: frozenset[str] | None
    uploader: str


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
    #: Chunk hashes the manifest names: checked (and their packs touched) inside the
    #: commit transaction, so a version never names a chunk the index lacks.
    chunks: tuple[str, ...] = ()
    #: BLAKE3 (hex) of the encoded manifest, stored as ``manifests/<manifest_hash>``.
    #: None records no hash: the version reads ``manifests/<digest>``, as versions
    #: committed before schema 5 did.
    manifest_hash: str | None = None


@dataclass(frozen=True)
class PackRecord:
    """A stored pack as the metastore knows it."""

    id: str
    size: int
    created_at: float
    touched_at: float


@dataclass(frozen=True)
class StoredVersion:
    """The fields of a version that store maintenance (gc, fsck) needs."""

    project: str
    name: str
    index: int
    digest: str
    size: int
    file_count: int
    manifest_hash: str | None

    @property
    def label(self) -> str:
        return f"{self.project}/{self.name}:{format_version(self.index)}"

    @property
    def manifest_name(self) -> str:
        """The name of the manifest object this version reads (``manifests/<name>``):
        its recorded hash, or its digest for a version committed before schema 5."""
        return manifest_name(self.manifest_hash, self.digest)


def manifest_name(manifest_hash: str | None, digest: str) -> str:
    """See :attr:`StoredVersion.manifest_name`."""
    return digest if manifest_hash is None else manifest_hash


@dataclass(frozen=True)
class PackChunk:
    """One chunk's place inside a stored pack."""

    hash: str
    offset: int
    length: int


@dataclass(frozen=True)
class StoreSnapshot:
    """Versions, packs and the chunk index (grouped by pack) as of one moment."""

    versions: list[StoredVersion]
    packs: list[PackRecord]
    chunks: dict[str, list[PackChunk]]
    #: chunks named by distributed versions not yet finished (schema v7): live too
    pending_chunks: frozenset[str] = frozenset()


class MetaStore(LinksAndPendingStore, RetentionStore):
    """Transactional metadata for one store (links and distributed versions being
    written: :class:`LinksAndPendingStore`, ``base_links_pending.py``)."""

    @abstractmethod
    async def open(self) -> None:
        """Connect, and create or migrate the schema to the current version."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections."""

    # -- chunk index ---------------------------------------------------------

    @abstractmethod
    async def missing_chunks(
        self, hashes: Sequence[str], *, touch: bool = False, scope: ChunkScope | None = None
    ) -> list[str]:
        """The subset of ``hashes`` (hex) not in the chunk index, in input order, no duplicates.

        With a ``scope``, chunks the scope's caller may not see count as missing.

        With ``touch``, the answer is one a client will rely on: packs holding the present
        chunks get their ``touched_at`` refreshed (when older than :data:`TOUCH_INTERVAL`)
        in a write transaction that re-checks those chunks, so a chunk a concurrent garbage
        collection removed is answered as missing, never as present.
        """

    @abstractmethod
    async def add_pack(
        self,
        pack_id: str,
        size: int,
        chunks: Sequence[PackChunk],
        *,
        stored: StoredCheck | None = None,
        uploader: str | None = None,
        project: str | None = None,
    ) -> int:
        """Record a stored pack and index its chunks; chunks already indexed keep their
        old location. Idempotent. Returns the number of chunks newly indexed.

        ``uploader`` (a user name) is recorded as having uploaded every chunk of the pack.
        ``project``: the project the upload is for, charged for a new pack until its
        versions reference it (docs/quotas.md); QuotaExceeded (nothing recorded) if that
        takes it past its quota and no :meth:`reserve_pack` charged it already.

        The pack, and every pack holding one of its chunks already, is touched. ``stored``
        is awaited inside the transaction: if it says the pack's object is gone (a garbage
        collection removed it meanwhile), nothing is recorded and ``StoreRetry`` is raised.
        """

    @abstractmethod
    async def locate_chunks(
        self, hashes: Sequence[str], *, scope: ChunkScope | None = None
    ) -> dict[str, ChunkLocation]:
        """Locations of the indexed chunks among ``hashes``; absent ones (and, with a
        ``scope``, ones its caller may not see) are left out."""

    @abstractmethod
    async def range_visible(
        self, pack_id: str, start: int, end: int, scope: ChunkScope | None
    ) -> bool:
        """Whether bytes ``[start, end)`` of pack ``pack_id`` are exactly covered by chunks
        indexed there that ``scope``'s caller may see (any indexed chunk without scope)."""

    @abstractmethod
    async def pack_visible(self, pack_id: str, scope: ChunkScope) -> bool:
        """Whether every byte of the stored pack belongs to a chunk indexed in it that
        ``scope``'s caller may see (False for an unknown pack)."""

    @abstractmethod
    async def foreign_holders(self, pack_id: str, scope: ChunkScope) -> list[str]:
        """The projects ``scope``'s caller may not read that hold chunks indexed in the
        pack, sorted (an audit of reads that cross into other projects' packs)."""

    @abstractmethod
    async def holders_complete(self) -> bool:
        """Whether every version's chunks are recorded as held by its project (a store
        migrated from schema 3 is not, until :meth:`record_holders` has filled them)."""

    @abstractmethod
    async def record_holders(
        self, project: str, hashes: Sequence[str], *, complete: bool = False
    ) -> None:
        """Record ``project`` as a holder of ``hashes``; ``complete`` then marks the
        holder records as covering every version."""

    # -- where synced versions came from (origins.py) ---------------------------

    @abstractmethod
    async def record_origin(
        self, project: str, name: str, ref: str, origin: VersionOrigin, user: str | None = None
    ) -> tuple[VersionOrigin, bool]:
        """Record where version ``ref`` came from (idempotent); the origin as stored and
        whether this call added it."""
        raise NotImplementedError

    @abstractmethod
    async def list_origins(self, project: str, name: str) -> list[VersionOrigin]:
        """The recorded origins of the versions of ``project/name``."""
        raise NotImplementedError

    # -- quotas (quotas.py) and what versions cost (storage.py) ------------------

    @abstractmethod
    async def set_quota(self, project: str, quota_bytes: int) -> None:
        """Set the quota on the deduplicated bytes of ``project`` (docs/quotas.md)."""
        raise NotImplementedError

    @abstractmethod
    async def clear_quota(self, project: str) -> bool:
        """Remove the quota of ``project``; whether it had one."""
        raise NotImplementedError

    @abstractmethod
    async def quota_usage(self, project: str, new_bytes: int = 0) -> QuotaUsage:
        """The quota and usage of ``project``, having checked ``new_bytes`` more fit.

        Raises:
            QuotaExceeded: they do not.
        """
        raise NotImplementedError

    @abstractmethod
    async def check_upload(self, project: str, size: int) -> bool:
        """Whether ``project`` has a quota, having checked that usage + uploaded bytes no
        version references + ``size`` fit it (a read; nothing is charged).

        Raises:
            QuotaExceeded: they do not fit.
        """
        raise NotImplementedError

    @abstractmethod
    async def reserve_pack(self, project: str, pack_id: str, size: int) -> None:
        """Charge ``project`` for a pack of ``size`` bytes before its body is stored (a
        no-op without a quota, or for a pack already charged to it or stored); the quota
        row is locked, so concurrent uploads cannot both pass.

        Raises:
            QuotaExceeded: usage + charged uploads + ``size`` is over the quota.
        """
        raise NotImplementedError

    @abstractmethod
    async def charged_bytes(self, project: str) -> int:
        """The uploaded pack bytes ``project`` is charged for that none of its versions
        references (pending: not committed yet)."""
        raise NotImplementedError

    @abstractmethod
    async def any_quota(self) -> bool:
        """Whether any project has a quota."""
        raise NotImplementedError

    @abstractmethod
    async def drop_stale_charges(self, before: float) -> int:
        """Forget pack charges made before ``before`` whose pack was never recorded (an
        upload that never finished); returns how many."""
        raise NotImplementedError

    @abstractmethod
    async def project_storage(self, project: str, *, store_wide: bool) -> ProjectStorage:
        """Each version's size, bytes added when logged and bytes only it references;
        the same per collection and for the project (``core/storage.py``); from the
        chunk reference index, no manifest read. An unknown project has no collections.
        ``store_wide`` False: "only it" among the project's versions (a caller who may
        not learn what other projects hold)."""

    @abstractmethod
    async def chunk_refs_complete(self) -> bool:
        """Whether every version's chunks are in the chunk reference index (a store
        migrated from schema 9 is not, until the backfill has filled it)."""

    @abstractmethod
    async def record_chunk_refs(
        self, project: str, name: str, index: int, hashes: Sequence[str]
    ) -> None:
        """Record the chunks of a version committed before schema 10 (a link: none).

        Raises:
            NotFoundError: the version is gone.
        """

    @abstractmethod
    async def chunk_refs_done(self) -> None:
        """Mark the chunk reference index as covering every version."""

    # -- versions ------------------------------------------------------------

    @abstractmethod
    async def commit_version(
        self, new: NewVersion, *, manifest_stored: StoredCheck | None = None
    ) -> VersionInfo:
        """Atomically record a version of ``new.project/new.name``.

        * every hash in ``new.chunks`` must be indexed (else ChunkMissing, nothing
          recorded), and the packs holding them are touched; the project is recorded
          as a holder of each; ``manifest_stored`` is awaited
          inside the transaction (False: StoreRetry, nothing recorded);
        * creates the project and the collection (with ``new.type``) if absent;
          an existing collection of another type raises ConflictError naming both types
          (a collection whose versions were all deleted takes the new type);
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
    async def delete_version(
        self, project: str, name: str, ref: str, *, delete_aliases: bool = False
    ) -> VersionInfo:
        """Delete one version (``vN`` or an alias) with its aliases and lineage edges.

        A version holding aliases other than ``latest`` is refused (ConflictError) unless
        ``delete_aliases``. ``latest`` moves to the newest remaining version. The index is
        never reused. Returns the version as it was.
        """

    @abstractmethod
    async def delete_collection(
        self, project: str, name: str, *, delete_aliases: bool = False
    ) -> list[VersionInfo]:
        """Delete every version of a collection (same alias rule), oldest first.

        The collection then no longer lists or resolves, but keeps its version counter:
        logging the name again continues the numbering (and may choose a new type).
        """

    @abstractmethod
    async def update_collection(
        self, project: str, name: str, changes: CollectionChanges
    ) -> CollectionInfo:
        """Rename, retype, describe or tag a collection (``changes``); its ``updated_at``
        becomes now. Returns it as it is now. A new name held by a collection with
        versions is refused (ConflictError); the old name keeps its version counter."""

    @abstractmethod
    async def update_version(
        self, project: str, name: str, ref: str, changes: VersionChanges
    ) -> VersionInfo:
        """Change a version's description, metadata, ttl and tags (``changes``); its
        ``updated_at`` becomes now. Returns the version as it is now."""

    @abstractmethod
    async def set_alias(self, project: str, name: str, alias: str, ref: str) -> VersionInfo:
        """Point ``alias`` at version ``ref`` (moved from the version it named); returns
        that version. ``latest`` is refused (ConfigError): it names the newest version."""

    @abstractmethod
    async def remove_alias(self, project: str, name: str, alias: str) -> VersionInfo:
        """Remove ``alias`` (AliasNotFound if absent; ``latest`` refused: ConfigError);
        returns the version it named."""

    @abstractmethod
    async def get_version(self, project: str, name: str, ref: str) -> VersionInfo:
        """Resolve ``ref`` (``vN`` or an alias) in a collection.

        Raises:
            ArtifactNotFound: no such collection; the message lists the project's collections.
            VersionNotFound / AliasNotFound: the message lists the versions / aliases that exist.
        """

    @abstractmethod
    async def version_by_id(
        self, version_id: str, among: Collection[str] | None = None
    ) -> VersionInfo:
        """The logged version whose ``artifact.id`` is ``version_id``, in a project of
        ``among`` (None: any). Raises VersionNotFound."""

    @abstractmethod
    async def list_versions(
        self, project: str, name: str, *, after: int | None = None, limit: int | None = None
    ) -> list[VersionInfo]:
        """Versions of a collection, oldest first: those with an index over ``after`` (if
        given), at most ``limit`` (if given). Raises ArtifactNotFound."""

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
    async def set_run_config(self, run_id: str, config: dict[str, Any]) -> RunInfo:
        """Replace a running run's config. Raises RunNotFound; ConflictError once the run
        is not running."""

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

    # -- maintenance (gc, fsck) ------------------------------------------------

    @abstractmethod
    async def snapshot(self) -> StoreSnapshot:
        """Every version, pack and indexed chunk, read in one consistent transaction."""

    @abstractmethod
    async def list_packs(self) -> list[PackRecord]:
        """Every recorded pack."""

    @abstractmethod
    async def chunks_by_pack(self) -> dict[str, list[PackChunk]]:
        """The whole chunk index, grouped by pack (packs with no indexed chunk are absent)."""

    @abstractmethod
    async def all_versions(self) -> list[StoredVersion]:
        """Every version of every collection."""

    @abstractmethod
    async def drop_pack(
        self, pack_id: str, *, touched_before: float, seen_touched_at: float | None
    ) -> bool:
        """Forget a pack and every chunk indexed in it, if it is still as the caller saw it.

        One write transaction, ordered with uploads and commits. The pack is kept if it
        was touched at or after ``touched_before``, or if its ``touched_at`` differs from
        ``seen_touched_at`` (every touch changes it), or, with ``seen_touched_at=None``
        (the caller saw no such pack), if it is recorded at all.

        Returns True if the pack is now unrecorded (also when it was never recorded).
        """

    @abstractmethod
    async def drop_chunks(self, pack_id: str, hashes: Sequence[str]) -> int:
        """Remove the index entries of ``hashes`` that point into ``pack_id``; returns how many."""

    @abstractmethod
    async def manifest_unreferenced(self, name: str) -> bool:
        """Whether no version reads the manifest object ``manifests/<name>`` (see
        :attr:`StoredVersion.manifest_name`), asked in a write transaction so a concurrent
        commit is ordered entirely before or after the answer."""

    # -- manifest objects (schema 5) -----------------------------------------------

    @abstractmethod
    async def get_version_manifest(
        self, project: str, name: str, ref: str
    ) -> tuple[VersionInfo, str]:
        """Resolve ``ref`` as :meth:`get_version` does, in the same transaction as the name
        of the manifest object the version reads (:attr:`StoredVersion.manifest_name`)."""

    @abstractmethod
    async def legacy_manifest_digests(self) -> list[str]:
        """The digests of versions that record no manifest hash (committed before schema
        5): each reads ``manifests/<digest>``."""

    @abstractmethod
    async def record_manifest_hash(
        self, digest: str, manifest_hash: str, *, stored: StoredCheck
    ) -> int:
        """Make the versions of ``digest`` that record no manifest hash read
        ``manifests/<manifest_hash>`` instead; returns how many changed.

        ``stored`` is awaited inside the transaction (ordered with gc's decision on that
        object): if it says the object is gone, nothing changes and 0 is returned.
        """

    @abstractmethod
    async def replace_lost_manifest(
        self,
        project: str,
        name: str,
        index: int,
        lost: str,
        manifest_hash: str,
        *,
        stored: StoredCheck,
    ) -> bool:
        """Make version ``index`` read ``manifests/<manifest_hash>`` if it still reads the
        object ``lost`` (which the caller found missing) and ``stored`` (awaited inside the
        transaction) says the new object is there. True when it changed."""
