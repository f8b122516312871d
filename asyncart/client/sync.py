"""Copy versions from one store to another (``asyncart sync SRC DST``), either side an
embedded store or a server: both are a :class:`~asyncart.client.remote.Remote`.

Per version, oldest first::

    source manifest ──> which chunks the destination lacks (one 'missing' query per batch)
        ──> those chunks read from the source by range (verified) ──> packs of at most
        pack_size bytes uploaded to the destination ──> its producer run created there
        ──> one commit (manifest, metadata, description, aliases, run) ──> tags, consumers

Nothing is spooled to disk: one pack's chunks are in memory at a time.

*Mapping*: a collection holds at most one version per manifest digest (a commit of a
digest it holds answers that version), so a source version maps to the destination
version of the same collection with the same digest. The mapping is therefore a
function of the two stores, found again by every run, and printed; nothing else needs
recording. A version already there is not committed again (a commit would move
``latest`` back onto it); its tags and consumer edges are still completed, which are
idempotent. So a re-run copies nothing, and a killed one, run again, skips the
versions committed (each commit is atomic) and uploads only the chunks of the
interrupted one that did not arrive.

*Runs* keep their lineage: a source run ``r`` is created in the destination with the
client-chosen id ``r`` (the store derives the destination id from the project and
``r``, so a re-run finds the same run).

*Permission*: before any byte moves, each destination project is probed with a write
that changes nothing; a key without write access there is refused then.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from asyncart.client.chunk_source import StoreChunkSource
from asyncart.client.remote import Remote
from asyncart.core.manifest import ChunkRef, Manifest
from asyncart.core.models import (
    CollectionChanges,
    CommitRequest,
    RunInfo,
    VersionChanges,
    VersionInfo,
)
from asyncart.core.pack import MAX_PACK_CHUNKS, build_pack_body
from asyncart.errors import ArtifactNotFound, ConfigError, NotFoundError, PermissionDenied

#: Hashes per 'missing' question (a server answers batches of this size anyway).
_MISSING_BATCH = 1000
#: The collection name the write probe asks to change (any absent name will do).
_PROBE_NAME = "asyncart-sync-write-check"


@dataclass(frozen=True)
class Selection:
    """What to copy: one collection of a project, all of its versions or one (``ref``)."""

    project: str
    name: str
    ref: str | None = None


@dataclass(frozen=True)
class Mapped:
    """Where one source version is in the destination."""

    project: str
    name: str
    source_index: int
    dest_index: int
    copied: bool  #: committed by this run (False: it was there already)

    def to_json(self) -> dict[str, object]:
        return {
            "project": self.project,
            "name": self.name,
            "source": f"v{self.source_index}",
            "destination": f"v{self.dest_index}",
            "copied": self.copied,
        }


@dataclass
class SyncReport:
    """What a sync did."""

    versions: list[Mapped] = field(default_factory=list)
    chunks_sent: int = 0
    bytes_sent: int = 0  #: chunk bytes uploaded to the destination
    packs_sent: int = 0
    runs: int = 0  #: source runs ensured in the destination

    def to_json(self) -> dict[str, object]:
        return {
            "versions": [m.to_json() for m in self.versions],
            "copied": sum(m.copied for m in self.versions),
            "chunks_sent": self.chunks_sent,
            "bytes_sent": self.bytes_sent,
            "packs_sent": self.packs_sent,
            "runs": self.runs,
        }


class StoreSync:
    """Copies :class:`Selection` s from ``src`` to ``dst`` (see the module docstring).

    ``on_version`` is told each mapping as soon as it is known (so a killed sync has
    printed what it committed).
    """

    def __init__(
        self,
        src: Remote,
        dst: Remote,
        *,
        pack_size: int,
        range_size: int,
        on_version: Callable[[Mapped], None] | None = None,
    ) -> None:
        self.src = src
        self.dst = dst
        self.pack_size = pack_size
        self.chunks = StoreChunkSource(src, range_size)
        self.on_version = on_version
        self.report = SyncReport()
        self._runs: dict[str, str] = {}  # source run id -> its id in the destination
        self._writable: set[str] = set()  # destination projects the write probe passed

    async def selections(self, names: Sequence[str], project: str | None) -> list[Selection]:
        """``[project/]NAME[:REF]`` references as selections; none: every collection of
        ``project`` (or of every project of the source)."""
        if names:
            return [_parse(n, project) for n in names]
        projects = [project] if project else await self.src.list_projects()
        out = []
        for p in projects:
            out += [Selection(p, c.name) for c in await self.src.list_collections(p)]
        return out

    async def run(self, selections: Sequence[Selection]) -> SyncReport:
        """Copy every selection; raises :class:`PermissionDenied` before any byte moves if the
        destination refuses writes to one of their projects."""
        for project in dict.fromkeys(s.project for s in selections):
            await self._check_write(project)
        for sel in selections:
            await self._sync_collection(sel)
        return self.report

    async def _check_write(self, project: str) -> None:
        if project in self._writable:
            return
        try:
            await self.dst.update_collection(project, _PROBE_NAME, CollectionChanges())
        except ArtifactNotFound:
            self._writable.add(project)  # the write was allowed; there was nothing to change
            return
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

    async def _sync_collection(self, sel: Selection) -> None:
        if sel.ref is None:
            versions = await self.src.list_versions(sel.project, sel.name)
        else:
            versions = [await self.src.get_version(sel.project, sel.name, sel.ref)]
        try:
            present = await self.dst.list_versions(sel.project, sel.name)
        except NotFoundError:
            present = []
        by_digest = {v.digest: v for v in present}
        for version in sorted(versions, key=lambda v: v.index):
            if version.source is not None:
                continue  # a link: its source version is what gets copied
            there = by_digest.get(version.digest)
            copied = there is None
            if there is None:
                there = await self._copy(version)
                by_digest[version.digest] = there
            await self._complete(version, there)
            mapped = Mapped(sel.project, sel.name, version.index, there.index, copied)
            self.report.versions.append(mapped)
            if self.on_version is not None:
                self.on_version(mapped)

    async def _copy(self, version: VersionInfo) -> VersionInfo:
        """Send the chunks the destination lacks, then commit ``version`` there."""
        ref = f"v{version.index}"
        manifest = await self.src.get_manifest(version.project, version.name, ref)
        await self._send_chunks(manifest, version.project)
        producers = await self.src.version_producers(version.project, version.name, ref)
        run_id = None
        if producers:
            run_id = await self._ensure_run(producers[0])
        aliases = tuple(a for a in version.aliases if a != "latest")
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

    async def _complete(self, version: VersionInfo, there: VersionInfo) -> None:
        """The idempotent rest: tags the destination lacks, consumer runs and their edges."""
        ref = f"v{version.index}"
        tags = tuple(t for t in version.tags if t not in there.tags)
        if tags:
            await self.dst.update_version(
                there.project, there.name, f"v{there.index}", VersionChanges(tags_add=tags)
            )
        for run in await self.src.version_consumers(version.project, version.name, ref):
            dest_run = await self._ensure_run(run)
            await self.dst.use_version(
                dest_run, there.project, there.name, f"v{there.index}", there.type
            )

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

    async def _send_chunks(self, manifest: Manifest, project: str) -> None:
        refs: dict[str, ChunkRef] = {}
        for entry in manifest:
            for c in entry.chunks:
                refs.setdefault(c.hash, c)
        hashes = sorted(refs)
        missing: list[str] = []
        for i in range(0, len(hashes), _MISSING_BATCH):
            missing += await self.dst.missing_chunks(hashes[i : i + _MISSING_BATCH])
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

    async def _send_pack(self, group: list[ChunkRef], project: str) -> None:
        data = await self.chunks.fetch(group)
        body = build_pack_body(list(zip(group, data, strict=True)))
        await self.dst.upload_pack(body, f"pack of {len(group)} chunks", project)
        self.report.packs_sent += 1
        self.report.chunks_sent += len(group)
        self.report.bytes_sent += sum(c.size for c in group)


def _parse(reference: str, project: str | None) -> Selection:
    """``[project/]NAME[:REF]`` as a selection (``project`` when the reference has none)."""
    rest = reference
    proj = project
    if "/" in rest:
        proj, rest = rest.split("/", 1)
    name, _, ref = rest.partition(":")
    if not proj:
        raise ConfigError(
            f"{reference!r} names no project: write project/{reference} or use --project"
        )
    return Selection(proj, name, ref or None)
