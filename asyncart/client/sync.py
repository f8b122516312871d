"""Copy versions from one store to another (``asyncart sync SRC DST``), either side an
embedded store or a server: both are a :class:`~asyncart.client.remote.Remote`.

First a plan (``sync_plan.py``): the versions to copy, oldest first per collection (a
link selected stands for its source version), and the links of each. Then, before any
byte moves, the destination is asked for the caller's access on every project the copy
writes to (``GET /v1/projects/{p}/access``); a key without write access is refused
there, naming the project and the role it has. Then per version::

    source manifest ──> which chunks the destination lacks (one 'missing' query per batch)
        ──> those chunks read from the source by range (verified) ──> packs of at most
        pack_size bytes uploaded to the destination ──> its producer run created there
        ──> one commit (manifest, metadata, description, aliases, run) ──> tags, ttl,
        consumers, links ──> the origin recorded

and last each collection's description and tags. Nothing is spooled to disk: one
pack's chunks are in memory at a time.

*Mapping*: each version copied (or found there) gets an origin record at the
destination (``core/origins.py``): the source store, the source version and its
digest, beside the destination version it became. A re-run reads those records first;
for a version without one (synced before records existed, or killed between commit and
record) it falls back to the derivation: a collection holds at most one version per
manifest digest, so the destination version of the same collection with the same
digest is the one. A version already there is not committed again (a commit would move
``latest`` back onto it); its tags, ttl, consumer edges, links and origin are still
completed, each idempotent. So a re-run copies nothing, and a killed one, run again,
skips the versions committed (each commit is atomic) and uploads only the chunks of
the interrupted one that did not arrive.

*Fields that may have changed at the destination* (ttl, a collection's description,
tags) are filled in where the destination has none, never overwritten: a sync copies,
it does not undo a team's later edits. A ttl keeps its moment of expiry: the
destination version is younger, so its ttl is what remained at the source's clock.

*Runs* keep their lineage: a source run ``r`` is created in the destination with the
client-chosen id ``r`` (the store derives the destination id from the project and
``r``, so a re-run finds the same run).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from asyncart.client.chunk_source import StoreChunkSource
from asyncart.client.progress import Progress
from asyncart.client.remote import Remote
from asyncart.client.sync_plan import CollectionPlan, Selection, SyncPlan, make_plan, selections
from asyncart.core import protocol as P
from asyncart.core.manifest import ChunkRef, Manifest
from asyncart.core.models import (
    CollectionChanges,
    CollectionInfo,
    CommitRequest,
    RunInfo,
    VersionChanges,
    VersionInfo,
)
from asyncart.core.names import LATEST
from asyncart.core.origins import VersionOrigin
from asyncart.core.pack import MAX_PACK_CHUNKS, build_pack_body
from asyncart.errors import ArtifactNotFound, NotFoundError, PermissionDenied

__all__ = ["Mapped", "Selection", "StoreSync", "SyncReport"]

#: Hashes per 'missing' question (a server answers batches of this size anyway).
_MISSING_BATCH = 1000
#: The collection name the write probe of a server without the access route asks to
#: change (any absent name will do).
_PROBE_NAME = "asyncart-sync-write-check"


@dataclass(frozen=True)
class Mapped:
    """Where one source version is in the destination."""

    project: str
    name: str
    source_index: int
    dest_index: int
    copied: bool  #: committed by this run (False: it was there already)
    #: The origin recorded at the destination (None: a store that cannot record one).
    origin: VersionOrigin | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "project": self.project,
            "name": self.name,
            "source": f"v{self.source_index}",
            "destination": f"v{self.dest_index}",
            "copied": self.copied,
            "origin": None if self.origin is None else self.origin.to_json(),
        }


@dataclass
class SyncReport:
    """What a sync did."""

    versions: list[Mapped] = field(default_factory=list)
    chunks_sent: int = 0
    bytes_sent: int = 0  #: chunk bytes uploaded to the destination
    packs_sent: int = 0
    runs: int = 0  #: source runs ensured in the destination
    links: int = 0  #: links made in the destination (0 on a re-run)
    collections_updated: int = 0  #: collections given the source's description or tags

    def to_json(self) -> dict[str, object]:
        return {
            "versions": [m.to_json() for m in self.versions],
            "copied": sum(m.copied for m in self.versions),
            "chunks_sent": self.chunks_sent,
            "bytes_sent": self.bytes_sent,
            "packs_sent": self.packs_sent,
            "runs": self.runs,
            "links": self.links,
            "collections_updated": self.collections_updated,
        }


class StoreSync:
    """Copies :class:`Selection` s from ``src`` to ``dst`` (see the module docstring).

    ``source_store`` names the source in the origin records (its URL or directory;
    default: ``src.description``). ``on_version`` is told each mapping as soon as it is
    known (so a killed sync has printed what it committed); ``progress`` gets one
    ``sync`` phase: the bytes of the versions planned, sent or found there.
    """

    def __init__(
        self,
        src: Remote,
        dst: Remote,
        *,
        pack_size: int,
        range_size: int,
        source_store: str | None = None,
        on_version: Callable[[Mapped], None] | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.src = src
        self.dst = dst
        self.pack_size = pack_size
        self.chunks = StoreChunkSource(src, range_size)
        self.source_store = source_store or src.description
        self.on_version = on_version
        self.progress = progress or Progress()
        self.report = SyncReport()
        self._runs: dict[str, str] = {}  # source run id -> its id in the destination
        self._writable: set[str] = set()  # destination projects write access was checked on

    async def selections(self, names: Sequence[str], project: str | None) -> list[Selection]:
        """``[project/]NAME[:REF]`` references as selections; none: every collection of
        ``project`` (or of every project of the source)."""
        return await selections(self.src, names, project)

    async def run(self, chosen: Sequence[Selection]) -> SyncReport:
        """Copy every selection.

        Raises:
            PermissionDenied: before any byte moves, if the destination refuses writes
                to one of the projects the copy writes versions or links to.
        """
        plan = await make_plan(self.src, chosen)
        for project in plan.projects:
            await self._check_write(project)
        self.progress.on_start("sync", plan.total_bytes, plan.total_files)
        try:
            for coll in plan.collections.values():
                await self._sync_collection(coll)
            await self._copy_collection_fields(plan)
        finally:
            self.progress.on_done()
        return self.report

    async def _check_write(self, project: str) -> None:
        if project in self._writable:
            return
        try:
            access = await self.dst.access(project)
        except NotFoundError:
            raise PermissionDenied(
                f"{self.dst.description}: project {project!r} does not exist there or this "
                f"key has no access to it; sync needs write access to project {project!r}, "
                "so nothing was copied"
            ) from None
        if access is None:
            await self._probe_write(project)  # a server older than the access route
        elif not access.write:
            raise PermissionDenied(
                f"{self.dst.description} refuses writes to project {project!r} for this "
                f"key (user {access.user!r} has {access.role} access; sync needs write "
                "access), so nothing was copied"
            )
        self._writable.add(project)

    async def _probe_write(self, project: str) -> None:
        """Ask an older server for a write that changes nothing (renaming no collection)."""
        try:
            await self.dst.update_collection(project, _PROBE_NAME, CollectionChanges())
        except ArtifactNotFound:
            return  # the write was allowed; there was nothing to change
        except PermissionError as exc:
            raise PermissionDenied(
                f"{self.dst.description} refuses writes to project {project!r} for this "
                f"key, so nothing was copied: {exc}"
            ) from None
        except NotFoundError as exc:
            raise PermissionDenied(
                f"{self.dst.description}: {exc}; nothing was copied (a sync writes where "
                "your key has write access)"
            ) from None

    async def _sync_collection(self, coll: CollectionPlan) -> None:
        try:
            present = await self.dst.list_versions(coll.project, coll.name)
        except NotFoundError:
            present = []
        by_digest = {v.digest: v for v in present}
        by_index = {v.index: v for v in present}
        recorded: dict[tuple[str, str, str, int], VersionOrigin] = {}
        if present:
            for o in await self.dst.list_origins(coll.project, coll.name) or []:
                recorded.setdefault(o.key, o)
        for version in coll.ordered():
            key = (self.source_store, version.project, version.name, version.index)
            origin = recorded.get(key)
            there = None if origin is None else by_index.get(origin.index)
            if there is None or there.digest != version.digest:
                there, origin = by_digest.get(version.digest), None  # the derivation
            copied = there is None
            if there is None:
                there = await self._copy(version)
                by_digest[version.digest] = there
            else:
                self.progress.on_skip(version.size)
            await self._complete(version, there, coll.links.get(version.index, []))
            if origin is None:
                origin = await self.dst.record_origin(
                    there.project, there.name, there.version, self._origin_of(version)
                )
            mapped = Mapped(coll.project, coll.name, version.index, there.index, copied, origin)
            self.report.versions.append(mapped)
            if self.on_version is not None:
                self.on_version(mapped)

    def _origin_of(self, version: VersionInfo) -> VersionOrigin:
        return VersionOrigin(
            self.source_store, version.project, version.name, version.index, version.digest
        )

    async def _copy(self, version: VersionInfo) -> VersionInfo:
        """Send the chunks the destination lacks, then commit ``version`` there."""
        ref = version.version
        manifest = await self.src.get_manifest(version.project, version.name, ref)
        sent = await self._send_chunks(manifest, version.project)
        self.progress.on_skip(max(0, version.size - sent))  # the destination had the rest
        producers = await self.src.version_producers(version.project, version.name, ref)
        run_id = None
        if producers:
            run_id = await self._ensure_run(producers[0])
        aliases = tuple(a for a in version.aliases if a != LATEST)
        return await self.dst.commit(
            CommitRequest(
                project=version.project,
                name=version.name,
                type=version.type,
                manifest=manifest,
                aliases=aliases,
                metadata=dict(version.metadata),
                description=version.description,
                run_id=run_id,
            )
        )

    async def _complete(
        self, version: VersionInfo, there: VersionInfo, links: Sequence[VersionInfo]
    ) -> None:
        """The idempotent rest: tags and a ttl the destination lacks, consumer runs and
        their edges, links."""
        tags = tuple(t for t in version.tags if t not in there.tags)
        ttl = _remaining_ttl(version, there) if there.ttl is None else None
        if tags or ttl is not None:
            await self.dst.update_version(
                there.project,
                there.name,
                there.version,
                VersionChanges(tags_add=tags, ttl=ttl, set_ttl=ttl is not None),
            )
        ref = version.version
        for run in await self.src.version_consumers(version.project, version.name, ref):
            dest_run = await self._ensure_run(run)
            await self.dst.use_version(
                dest_run, there.project, there.name, there.version, there.type
            )
        for link in links:
            aliases = [a for a in link.aliases if a != LATEST]
            made = await self.dst.link_version(
                there.project, there.name, there.version, (link.project, link.name), aliases
            )
            self.report.links += made.created

    async def _copy_collection_fields(self, plan: SyncPlan) -> None:
        """Give each destination collection the source's description and tags where it
        has none of them (its own edits stay)."""
        names = list(plan.collections) + plan.link_targets
        src_cols: dict[str, dict[str, CollectionInfo]] = {}
        dst_cols: dict[str, dict[str, CollectionInfo]] = {}
        for project, name in dict.fromkeys(names):
            if project not in src_cols:
                src_cols[project] = await _collections(self.src, project)
                dst_cols[project] = await _collections(self.dst, project)
            source, dest = src_cols[project].get(name), dst_cols[project].get(name)
            if source is None or dest is None:
                continue
            tags = tuple(t for t in source.tags if t not in dest.tags)
            describe = source.description is not None and dest.description is None
            if tags or describe:
                changes = CollectionChanges(
                    description=source.description if describe else None,
                    set_description=describe,
                    tags_add=tags,
                )
                await self.dst.update_collection(project, name, changes)
                self.report.collections_updated += 1

    async def _ensure_run(self, run: RunInfo) -> str:
        """The destination id of source ``run``: created there in its project (once, with
        its fields), its id derived from the source id, so a re-run finds it."""
        if run.id in self._runs:
            return self._runs[run.id]
        await self._check_write(run.project)  # a consumer may be of another project
        made = await self.dst.create_run(
            run.project,
            run.job_type,
            run.name,
            dict(run.config),
            run.id,
            group=run.group,
            tags=run.tags,
            notes=run.notes,
        )
        if run.status != "running" and made.status == "running":
            await self.dst.finish_run(made.id, run.status)
        self._runs[run.id] = made.id
        self.report.runs += 1
        return made.id

    async def _send_chunks(self, manifest: Manifest, project: str) -> int:
        """Upload the manifest's chunks the destination lacks; the bytes sent."""
        refs: dict[str, ChunkRef] = {}
        for entry in manifest:
            for c in entry.chunks:
                refs.setdefault(c.hash, c)
        hashes = sorted(refs)
        missing: list[str] = []
        for i in range(0, len(hashes), _MISSING_BATCH):
            missing += await self.dst.missing_chunks(hashes[i : i + _MISSING_BATCH])
        before = self.report.bytes_sent
        group: list[ChunkRef] = []
        size = 0
        for h in missing:
            ref = refs[h]
            if group and (size + ref.size > self.pack_size or len(group) >= MAX_PACK_CHUNKS):
                await self._send_pack(group, project)
                group, size = [], 0
            group.append(ref)
            size += ref.size
        if group:
            await self._send_pack(group, project)
        return self.report.bytes_sent - before

    async def _send_pack(self, group: list[ChunkRef], project: str) -> None:
        data = await self.chunks.fetch(group)
        body = build_pack_body(list(zip(group, data, strict=True)))
        await self.dst.upload_pack(body, f"pack of {len(group)} chunks", project)
        sent = sum(c.size for c in group)
        self.report.packs_sent += 1
        self.report.chunks_sent += len(group)
        self.report.bytes_sent += sent
        self.progress.on_progress(sent)


def _remaining_ttl(version: VersionInfo, there: VersionInfo) -> int | None:
    """The ttl that makes ``there`` expire when ``version`` does (at least 1 second: an
    expired source version still expires at the next retention run); None: no ttl."""
    if version.ttl is None:
        return None
    left = round(version.created_at + version.ttl - there.created_at)
    return min(max(left, 1), P.MAX_TTL_SECONDS)


async def _collections(remote: Remote, project: str) -> dict[str, CollectionInfo]:
    try:
        return {c.name: c for c in await remote.list_collections(project)}
    except NotFoundError:
        return {}
