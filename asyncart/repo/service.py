"""The repository: every rule of the store, over a blobstore and a metastore.

Both the HTTP server and the embedded ``LocalRemote`` call this class; neither
adds rules of its own.

* A pack is verified chunk by chunk while it streams in, stored whole under
  ``packs/<id>`` (temp name + fsync + rename), and only then indexed.
* A commit decodes and validates the manifest, refuses it if any chunk is not
  held, stores the encoded manifest under ``manifests/<its BLAKE3>`` and records the
  version, with that hash, in one metastore transaction. A crash between the two
  leaves at most an unreferenced manifest blob, never a version without its
  manifest. The name is the content's, so no commit, in any project, changes the
  bytes another version reads (docs/protocol.md §6.5); a reused version keeps its own.
* Garbage collection (``repo/gc.py``) may run at any time: uploads, ``missing``
  answers and commits touch the packs a client relies on, and a commit re-checks
  its chunks and its manifest object inside its transaction, so a version never
  names bytes the store no longer holds (docs/gc.md).
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from asyncart.core import protocol as P
from asyncart.core.manifest import check_hex_digest
from asyncart.core.models import (
    ChunkLocation,
    CollectionInfo,
    CommitRequest,
    VersionInfo,
)
from asyncart.core.names import validate_alias, validate_name
from asyncart.core.pack import PackHeader, least_data_size
from asyncart.core.storage import ProjectStorage
from asyncart.errors import (
    ChunkMissing,
    ConfigError,
    IntegrityError,
    QuotaExceeded,
)
from asyncart.repo.backfill import (
    complete_holders,
    complete_manifest_hashes,
    complete_version_chunks,
)
from asyncart.repo.blobstores.base import BlobStore, check_key
from asyncart.repo.distributed import DistributedMethods
from asyncart.repo.keys import incoming_key as incoming_key
from asyncart.repo.keys import manifest_hash as manifest_hash
from asyncart.repo.keys import manifest_object_key as manifest_object_key
from asyncart.repo.keys import pack_key as pack_key
from asyncart.repo.linking import LinkMethods
from asyncart.repo.location import StoreLocation
from asyncart.repo.metastores import MetaStore, NewVersion, PackChunk, open_metastore
from asyncart.repo.metastores.base import ChunkScope, StoredCheck
from asyncart.repo.metastores.database import Database
from asyncart.repo.packs import PackReader, read_pack_header, verified_chunk_data
from asyncart.repo.prepared import (
    PreparedCommit,
    PreparedManifest,
    check_description,
    check_metadata,
)
from asyncart.repo.runs import RunMethods
from asyncart.repo.runs import project_run_id as project_run_id
from asyncart.repo.version_changes import VersionChangeMethods

_BATCH = 10_000  # hashes per metastore query of a large request
#: The refusal of a pack upload that names no project, on a store with quotas.
UNNAMED_UPLOAD = (
    "this server enforces project quotas, so a pack upload must name the project it is "
    "for (?project=NAME on POST /v1/packs, /v1/packs/direct and /v1/packs/direct/complete); "
    "upgrade asyncart on this client: newer clients name it (docs/quotas.md)"
)
_RUN_ID_RE = re.compile(r"[0-9a-f]{8,64}")


@dataclass(frozen=True)
class PackReceipt:
    """The answer to a pack upload."""

    pack: str
    chunks: int
    new_chunks: int
    size: int


async def _parse_header(header_bytes: bytes) -> PackHeader:
    """A pack header sent on its own (base64 in a JSON body): exactly a header, no data."""

    async def one() -> AsyncIterator[bytes]:
        yield header_bytes

    header, reader = await read_pack_header(one())
    async for extra in reader.rest():
        if len(extra):
            raise ConfigError("the pack header is followed by other bytes; send the header only")
    return header


class Repository(VersionChangeMethods, RunMethods, DistributedMethods, LinkMethods):
    """Versioned artifacts over a blobstore and a metastore.

    Chunks, packs and commits are here; changing and deleting versions come from
    :class:`VersionChangeMethods` (``version_changes.py``), runs and lineage from
    :class:`RunMethods` (``runs.py``), distributed versions being written from
    :class:`DistributedMethods` (``distributed.py``), links from :class:`LinkMethods`
    (``linking.py``).
    """

    def __init__(self, blobs: BlobStore, meta: MetaStore) -> None:
        self.blobs = blobs
        self.meta = meta
        #: Hand out presigned URLs when the blob store can sign them (``asyncart server
        #: --no-direct-transfer`` turns it off).
        self.offer_direct = True

    @classmethod
    async def open_dir(cls, root: Path | str, *, fsync: bool = True) -> Repository:
        """Open (creating if needed) the default store layout: ``blobs/`` + ``meta.db`` (SQLite)."""
        location = await asyncio.to_thread(StoreLocation.of, root)  # resolves symlinks
        return await cls.open(location, fsync=fsync)

    @classmethod
    async def open(
        cls, location: StoreLocation, *, fsync: bool = True, database: Database | None = None
    ) -> Repository:
        """Open the store at ``location`` (migrating its database schema if needed); on
        ``database`` (the one at ``location.db``) if given, shared with its other users."""
        await asyncio.to_thread(location.prepare)  # creates directories, checks modes
        meta = open_metastore(location.db if database is None else database)
        await meta.open()
        try:
            blobs = await asyncio.to_thread(location.open_blobstore, fsync=fsync)
        except BaseException:
            await meta.close()
            raise
        repo = cls(blobs, meta)
        try:
            await complete_manifest_hashes(blobs, meta)
            await complete_holders(blobs, meta)
            await complete_version_chunks(blobs, meta)
        except BaseException:
            await repo.close()
            raise
        return repo

    async def close(self) -> None:
        await self.meta.close()
        await self.blobs.close()

    # -- chunks and packs ----------------------------------------------------

    async def missing_chunks(
        self, hashes: Sequence[str], *, scope: ChunkScope | None = None
    ) -> list[str]:
        """Which of ``hashes`` the store does not hold (or ``scope``'s caller may not see).

        The client will not upload the others, so their packs are touched: garbage
        collection keeps them for its grace period (docs/gc.md).
        """
        _check_query_size(hashes)
        missing: list[str] = []
        for i in range(0, len(hashes), _BATCH):  # batches: the event loop runs between them
            missing += await self.meta.missing_chunks(
                hashes[i : i + _BATCH], touch=True, scope=scope
            )
        return list(dict.fromkeys(missing)) if len(hashes) > _BATCH else missing

    async def check_upload(self, project: str | None, declared: int | None = None) -> bool:
        """Before a pack upload's body is read: refuse it if ``project`` (the project it
        is for) is full, or cannot take the least a body of ``declared`` bytes holds; an
        upload naming no project only while no project has a quota (docs/quotas.md).
        Returns whether ``project`` has a quota (the upload then reserves its charge).

        Raises:
            QuotaExceeded: it does not fit.
            ConfigError: no project named on a store with quotas.
        """
        if project is None:
            if await self.meta.any_quota():
                raise ConfigError(UNNAMED_UPLOAD)
            return False
        validate_name(project, what="project name")
        least = 1 if declared is None else max(1, least_data_size(declared))
        return await self.meta.check_upload(project, least)

    async def put_pack(
        self,
        body: AsyncIterable[bytes | memoryview],
        *,
        scope: ChunkScope | None = None,
        project: str | None = None,
        reserve: bool = True,
    ) -> PackReceipt:
        """Receive a pack upload body (header + chunk bytes), verify it, store it, index it.

        With a ``scope``, its user is recorded as the uploader of every chunk, and
        ``new_chunks`` counts the chunks that user could not see before: the answer must
        not tell whether someone else had stored them. ``project`` (the project the
        upload is for) is charged for the pack until its versions reference it; with a
        quota, before a byte of the chunk data is stored (docs/quotas.md). ``reserve``
        False: :meth:`check_upload` found no quota just now, so no reservation is asked
        (the pack's record still charges it, and checks a quota set meanwhile).

        Raises:
            QuotaExceeded: the pack does not fit the project's quota (nothing stored).
        """
        header, reader = await read_pack_header(body)
        pack_id = header.pack_id
        if project is not None and reserve:
            await self.meta.reserve_pack(project, pack_id, header.data_size)
        size = await self.blobs.put_stream(pack_key(pack_id), verified_chunk_data(header, reader))
        return await self._record_pack(header, size, scope, project)

    async def _record_pack(
        self, header: PackHeader, size: int, scope: ChunkScope | None, project: str | None
    ) -> PackReceipt:
        """Index a stored pack (see :meth:`put_pack`)."""
        pack_id = header.pack_id
        chunks = [
            PackChunk(ref.hash, offset, ref.size)
            for ref, offset in zip(header.chunks, header.offsets(), strict=True)
        ]
        unseen = None
        if scope is not None:
            unseen = len(await self.meta.missing_chunks([c.hash for c in chunks], scope=scope))
        key = pack_key(pack_id)
        new = await self.meta.add_pack(
            pack_id,
            size,
            chunks,
            stored=lambda: self.blobs.exists(key),
            uploader=None if scope is None else scope.uploader,
            project=project,
        )
        return PackReceipt(
            pack=pack_id,
            chunks=len(chunks),
            new_chunks=new if unseen is None else unseen,
            size=size,
        )

    # -- direct transfer (presigned object-store URLs; docs/protocol.md §3.10) --------

    @property
    def direct_transfer(self) -> bool:
        """Whether clients may move pack bytes straight to and from the blob store."""
        return self.offer_direct and self.blobs.can_presign

    async def pack_urls(self, pack_ids: Sequence[str], scope: ChunkScope | None) -> dict[str, str]:
        """Presigned GET URLs of the packs whose every byte ``scope``'s caller may read
        (a URL cannot be limited to some chunks of a pack); the others are left out."""
        if not self.direct_transfer:
            return {}
        urls: dict[str, str] = {}
        for pack_id in dict.fromkeys(pack_ids):
            check_hex_digest(pack_id, what="pack id")
            if scope is not None and not await self.meta.pack_visible(pack_id, scope):
                continue
            url = await self.blobs.presign_get(pack_key(pack_id), P.DIRECT_URL_SECONDS)
            if url is not None:
                urls[pack_id] = url
        return urls

    async def begin_direct_upload(
        self, header_bytes: bytes, *, project: str | None = None
    ) -> tuple[str, str] | None:
        """Where a client may PUT the chunk bytes of the pack ``header_bytes`` describes:
        ``(incoming key, presigned URL)``, or None when direct transfer is not offered.
        The bytes become a pack only through :meth:`complete_direct_upload`. ``project``
        is charged for them (as :meth:`put_pack`) before a URL is given.

        Raises:
            QuotaExceeded: the pack does not fit the project's quota (no URL given).
        """
        header = await _parse_header(header_bytes)
        if not self.direct_transfer:
            return None
        if project is not None:
            await self.meta.reserve_pack(project, header.pack_id, header.data_size)
        key = incoming_key(header.pack_id, secrets.token_hex(16))
        url = await self.blobs.presign_put(
            key, P.DIRECT_URL_SECONDS, content_length=header.data_size
        )
        return (key, url) if url is not None else None

    async def complete_direct_upload(
        self,
        header_bytes: bytes,
        key: str,
        *,
        scope: ChunkScope | None = None,
        project: str | None = None,
    ) -> PackReceipt:
        """Verify the bytes a client uploaded to ``key`` against the pack header (every
        chunk's BLAKE3, the exact length), then make them the pack and index it. Bytes
        that do not verify are deleted and IntegrityError raised (nothing indexed).
        ``project`` is charged for the pack (checked again here: the upload may have
        begun for another project); bytes that do not fit are deleted.

        Raises:
            QuotaExceeded: the pack does not fit the project's quota (nothing indexed).
        """
        header = await _parse_header(header_bytes)
        if not key.startswith(incoming_key(header.pack_id, "")):
            raise ConfigError(f"upload key {key[:120]!r} does not belong to pack {header.pack_id}")
        check_key(key)
        if project is not None:
            try:
                await self.meta.reserve_pack(project, header.pack_id, header.data_size)
            except QuotaExceeded:
                await self.blobs.delete(key)
                raise
        try:
            async for _ in verified_chunk_data(header, PackReader(self.blobs.read_stream(key))):
                pass
        except IntegrityError:
            await self.blobs.delete(key)
            raise
        except ConfigError as exc:  # wrong length
            await self.blobs.delete(key)
            raise IntegrityError(f"the uploaded bytes of pack {header.pack_id}: {exc}") from None
        await self.blobs.copy(key, pack_key(header.pack_id))
        await self.blobs.delete(key)
        return await self._record_pack(header, header.data_size, scope, project)

    async def locate_chunks(
        self, hashes: Sequence[str], *, scope: ChunkScope | None = None
    ) -> dict[str, ChunkLocation]:
        """Where each held (and, with ``scope``, visible) chunk lives; others left out."""
        _check_query_size(hashes)
        found: dict[str, ChunkLocation] = {}
        for i in range(0, len(hashes), _BATCH):
            found.update(await self.meta.locate_chunks(hashes[i : i + _BATCH], scope=scope))
        return found

    async def range_visible(
        self, pack_id: str, start: int, end: int, scope: ChunkScope | None
    ) -> bool:
        """Whether ``scope``'s caller may read bytes ``[start, end)`` of a pack."""
        return await self.meta.range_visible(pack_id, start, end, scope)

    async def read_pack_range(self, pack_id: str, offset: int, length: int) -> bytes:
        return await self.blobs.read_range(pack_key(pack_id), offset, length)

    def pack_path(self, pack_id: str) -> Path | None:
        return self.blobs.local_path(pack_key(pack_id))

    # -- versions --------------------------------------------------------------

    async def commit(
        self, req: CommitRequest | PreparedCommit, *, scope: ChunkScope | None = None
    ) -> VersionInfo:
        """Record a version; reuse the existing one if its content digest is already there.

        ``req`` may carry its manifest already encoded and digested (a
        :class:`PreparedCommit`: the server prepares large ones in a worker process).
        With a ``scope``, chunks its caller may not see count as missing (so a manifest
        cannot claim bytes its author never had).

        Raises:
            InvalidNameError / ConfigError: bad names, aliases or manifest.
            PayloadTooLarge: metadata or description over their limits.
            ChunkMissing: the manifest names chunks the store does not hold.
            TypeConflict: the collection exists with another type.
        """
        validate_name(req.project, what="project name")
        validate_name(req.name)
        validate_name(req.type, what="artifact type")
        aliases = tuple(dict.fromkeys(validate_alias(a) for a in req.aliases))
        check_metadata(req.metadata, "version metadata")
        check_description(req.description)
        manifest = (
            req.manifest if isinstance(req, PreparedCommit) else PreparedManifest.of(req.manifest)
        )
        hashes = manifest.hashes
        missing: list[str] = []
        for i in range(0, len(hashes), _BATCH):
            missing += await self.meta.missing_chunks(hashes[i : i + _BATCH], scope=scope)
        if missing:
            raise ChunkMissing(
                f"the manifest names {len(missing)} chunk(s) the store does not hold "
                f"(first: {missing[0]}); upload them before committing (pushing again "
                "uploads exactly what the store lacks)"
            )
        blob = manifest.encode()
        content = manifest_hash(blob)
        key = manifest_object_key(content)
        await self.blobs.put_bytes(key, blob)  # content-addressed: rewriting is harmless
        info = await self.meta.commit_version(
            NewVersion(
                project=req.project,
                name=req.name,
                type=req.type,
                digest=manifest.digest,
                size=manifest.size,
                file_count=len(manifest),
                metadata=dict(req.metadata),
                description=req.description,
                run_id=req.run_id,
                aliases=aliases,
                chunks=tuple(hashes),
                manifest_hash=content,
            ),
            manifest_stored=lambda: self.blobs.exists(key),
        )
        if not info.created:
            await self._replace_lost_manifest(info, content)
        return info

    async def _replace_lost_manifest(self, info: VersionInfo, content: str) -> None:
        """A reused version keeps its own manifest, unless that object is lost: then the
        commit's (same digest, stored as ``content``) takes its place, so pushing the same
        files again repairs a version fsck reports without its manifest."""
        _, name = await self.meta.get_version_manifest(info.project, info.name, info.version)
        if name == content or await self.blobs.exists(manifest_object_key(name)):
            return
        await self.meta.replace_lost_manifest(
            info.project,
            info.name,
            info.index,
            name,
            content,
            stored=self._stored_check(manifest_object_key(content)),
        )

    def _stored_check(self, key: str) -> StoredCheck:
        """Whether ``key`` is (still) stored, for a metastore transaction to ask."""
        return lambda: self.blobs.exists(key)

    async def get_version(self, project: str, name: str, ref: str) -> VersionInfo:
        return await self.meta.get_version(project, name, ref)

    async def version_by_id(
        self, version_id: str, among: Collection[str] | None = None
    ) -> VersionInfo:
        """The version whose ``artifact.id`` is ``version_id`` (in a project of ``among``)."""
        return await self.meta.version_by_id(version_id, among)

    async def get_manifest_blob(
        self, project: str, name: str, ref: str
    ) -> tuple[VersionInfo, bytes]:
        """A version and the exact manifest bytes its commit stored."""
        info, manifest = await self.meta.get_version_manifest(project, name, ref)
        return info, await self.blobs.get_bytes(manifest_object_key(manifest))

    async def list_versions(
        self, project: str, name: str, *, after: int | None = None, limit: int | None = None
    ) -> list[VersionInfo]:
        """Versions oldest first; a page of them with ``after`` (an index) / ``limit``."""
        return await self.meta.list_versions(project, name, after=after, limit=limit)

    async def list_collections(self, project: str) -> list[CollectionInfo]:
        return await self.meta.list_collections(project)

    async def list_projects(self) -> list[str]:
        return await self.meta.list_projects()

    async def storage(self, project: str, *, store_wide: bool = True) -> ProjectStorage:
        """What the versions of ``project`` cost (``core/storage.py``), from the index."""
        validate_name(project, what="project name")
        return await self.meta.project_storage(project, store_wide=store_wide)


def _check_query_size(hashes: Sequence[str]) -> None:
    if len(hashes) > P.MAX_QUERY_HASHES:
        raise ConfigError(
            f"{len(hashes)} hashes in one query; the limit is {P.MAX_QUERY_HASHES}, send several"
        )
