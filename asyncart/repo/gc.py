"""Garbage collection: delete what no committed version references, safely while pushes run.

The rule (docs/gc.md has the reasoning and the guarantee):

* The live set is every chunk named by the manifest of any version, or by a
  distributed version being written (``upsert_artifact`` parts not yet finished). A pack is
  **dead** when none of the chunks indexed in it is live; only dead packs are
  deleted. A pack holding any live chunk is kept whole; the bytes in it that no
  version uses are reported as reclaimable (repacking them is a follow-up).
* A dead pack is deleted only if it was not touched within ``grace`` seconds of
  the moment this collection started. Uploads, ``missing`` answers and commits
  touch the packs a client relies on, so a push that has not committed yet keeps
  its chunks for ``grace`` after it last asked about or sent them.
* Versions, packs and chunks are read in one snapshot. The decision is re-checked
  in a metastore write transaction, after the file was taken off its name
  (``housekeeping.remove_safely``): a pack touched since the snapshot (by a commit
  the snapshot did not see, say) is kept, whatever the clocks say. A commit
  re-checks its chunks in its own transaction, so a version never names a chunk gc
  removed: at worst the commit fails with ``chunk_missing`` and pushing again
  re-uploads what is missing.
* Manifest objects no version reads (a version reads the one named by its recorded
  manifest hash, docs/protocol.md §6.5), pack files the index does not know (a crash
  between store and index) and unfinished writes older than ``grace`` go too; so do
  the quota charges of deleted packs, and of uploads older than ``grace`` that never
  arrived (docs/quotas.md).
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import asdict, dataclass, field

from asyncart.core.humanize import human_size
from asyncart.core.manifest import Manifest
from asyncart.errors import ConfigError, NotFoundError, StoreError
from asyncart.repo.housekeeping import (
    check_describes,
    describe,
    read_manifest,
    recover_trash,
    remove_manifest,
    remove_pack,
)
from asyncart.repo.metastores.base import TOUCH_INTERVAL, StoredVersion, StoreSnapshot
from asyncart.repo.service import Repository

#: Default grace period (seconds): a day. It must exceed the longest time between a
#: client learning that the store holds a chunk (or uploading it) and committing the
#: version that names it; multi-TB pushes over slow links take hours. A longer grace
#: only delays reclaiming space.
DEFAULT_GRACE = 24 * 3600.0


@dataclass
class GcReport:
    """What a collection found and did (or, with ``dry_run``, would do)."""

    dry_run: bool
    grace: float
    versions: int = 0
    packs: int = 0
    live_packs: int = 0
    deleted_packs: int = 0
    deleted_bytes: int = 0
    young_packs: int = 0  # dead, but touched within the grace period: kept
    young_bytes: int = 0
    raced_packs: int = 0  # dead at the snapshot, touched before the delete: kept
    partly_dead_packs: int = 0
    reclaimable_bytes: int = 0  # unused bytes inside kept packs (a repack would free them)
    deleted_manifests: int = 0
    deleted_orphan_files: int = 0
    deleted_orphan_bytes: int = 0
    deleted_partials: int = 0
    deleted_partial_bytes: int = 0
    trash_restored: int = 0
    trash_purged: int = 0
    #: Pack charges of uploads that never arrived, older than the grace period, forgotten
    #: (docs/quotas.md; the charges of deleted packs go with them).
    stale_charges: int = 0
    #: With ``forget`` (a retention dry run): per forgotten version, the bytes of the
    #: chunks it names that no remaining version names.
    unshared_bytes: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    def lines(self) -> list[str]:
        """A human summary, one fact per line."""
        verb = "would delete" if self.dry_run else "deleted"
        out = [
            f"{self.versions} version(s) reference chunks in {self.live_packs} of "
            f"{self.packs} pack(s)",
            f"{verb} {self.deleted_packs} unreferenced pack(s) ({human_size(self.deleted_bytes)})",
            f"kept {self.young_packs} unreferenced pack(s) ({human_size(self.young_bytes)}) "
            f"touched within the grace period ({self.grace:g}s)",
            f"{self.partly_dead_packs} pack(s) hold {human_size(self.reclaimable_bytes)} no "
            "version uses next to live chunks (kept; repacking them is not implemented)",
            f"{verb} {self.deleted_manifests} unreferenced manifest(s), "
            f"{self.deleted_orphan_files} unindexed pack file(s) "
            f"({human_size(self.deleted_orphan_bytes)}), {self.deleted_partials} unfinished "
            f"write(s) ({human_size(self.deleted_partial_bytes)})",
        ]
        if self.raced_packs:
            out.append(f"kept {self.raced_packs} pack(s) a client touched during this run")
        if self.trash_restored or self.trash_purged:
            out.append(
                f"finished an interrupted run: restored {self.trash_restored}, "
                f"purged {self.trash_purged} object(s) from the trash"
            )
        return out + [f"warning: {w}" for w in self.warnings]


async def collect_garbage(
    repo: Repository,
    *,
    grace: float = DEFAULT_GRACE,
    dry_run: bool = False,
    forget: Collection[str] = (),
) -> GcReport:
    """Delete (or with ``dry_run`` count) what no version references; see the module doc.

    ``forget``: labels (``project/name:vN``) of versions to count as deleted already,
    with ``dry_run`` only (what a retention dry run would free).

    Raises:
        ConfigError: a negative grace, or another gc/fsck holds the store.
        StoreError: a version's manifest cannot be read; nothing was deleted (run fsck).
    """
    if grace < 0:
        raise ConfigError(f"the grace period must be >= 0 seconds, got {grace:g}")
    if forget and not dry_run:
        raise ConfigError("gc counts versions as deleted only in a dry run")
    report = GcReport(dry_run=dry_run, grace=grace)
    if grace < TOUCH_INTERVAL:
        report.warnings.append(
            f"a grace period under {TOUCH_INTERVAL:g}s does not protect pushes in flight: "
            "their commits may fail with chunk_missing and must be pushed again"
        )
    async with repo.blobs.maintenance_lock():
        if not dry_run:
            for outcome in await recover_trash(repo):
                if outcome.restored:
                    report.trash_restored += 1
                else:
                    report.trash_purged += 1
        cutoff = time.time() - grace
        snapshot = await repo.meta.snapshot()
        forgotten = [v for v in snapshot.versions if v.label in forget]
        kept = [v for v in snapshot.versions if v.label not in forget]
        live, manifests = await _live_chunks(repo, report, kept)
        live |= snapshot.pending_chunks  # a distributed version not finished yet
        if forgotten:
            await _count_unshared(repo, report, snapshot, forgotten, live)
        await _collect_packs(repo, report, snapshot, live, cutoff)
        await _collect_manifests(repo, report, manifests, cutoff)
        await _collect_partials(repo, report, cutoff)
        if not dry_run:
            report.stale_charges = await repo.meta.drop_stale_charges(cutoff)
    return report


async def _live_chunks(
    repo: Repository, report: GcReport, versions: list[StoredVersion]
) -> tuple[set[str], set[str]]:
    """Every chunk any version's manifest names, and the manifest objects versions read.

    Versions of the same content may read different manifests (other chunk lists), so
    each version's own manifest counts.
    """
    report.versions = len(versions)
    live: set[str] = set()
    manifests: dict[str, Manifest] = {}
    for version in versions:
        try:
            cached = manifests.get(version.manifest_name)
            if cached is None:
                manifest = await read_manifest(repo, version)
            else:
                manifest = cached
                check_describes(manifest, version)
        except (NotFoundError, ConfigError) as exc:
            raise StoreError(
                f"gc stopped before deleting anything: the manifest of {version.label} "
                f"({version.manifest_name}): {describe(exc)}, so the chunks it uses are "
                "unknown; run 'asyncart server fsck' and push that version's files again"
            ) from None
        if version.manifest_name not in manifests:
            manifests[version.manifest_name] = manifest
            live.update(manifest.chunk_hashes())
    return live, set(manifests)


async def _count_unshared(
    repo: Repository,
    report: GcReport,
    snapshot: StoreSnapshot,
    forgotten: list[StoredVersion],
    live: set[str],
) -> None:
    lengths = {c.hash: c.length for chunks in snapshot.chunks.values() for c in chunks}
    for version in forgotten:
        only = (await read_manifest(repo, version)).chunk_hashes() - live
        report.unshared_bytes[version.label] = sum(lengths.get(h, 0) for h in only)


async def _collect_packs(
    repo: Repository, report: GcReport, snapshot: StoreSnapshot, live: set[str], cutoff: float
) -> None:
    packs = snapshot.packs
    report.packs = len(packs)
    for pack in packs:
        live_bytes = sum(c.length for c in snapshot.chunks.get(pack.id, ()) if c.hash in live)
        if live_bytes:
            report.live_packs += 1
            if pack.size > live_bytes:
                report.partly_dead_packs += 1
                report.reclaimable_bytes += pack.size - live_bytes
        elif pack.touched_at >= cutoff:
            report.young_packs += 1
            report.young_bytes += pack.size
        elif report.dry_run or await remove_pack(
            repo, pack.id, touched_before=cutoff, seen_touched_at=pack.touched_at
        ):
            report.deleted_packs += 1
            report.deleted_bytes += pack.size
        else:
            report.raced_packs += 1
    recorded = {p.id for p in packs}
    for blob in await repo.blobs.list_objects("packs"):
        pack_id = blob.key.partition("/")[2]
        if pack_id in recorded or blob.mtime >= cutoff:
            continue  # recorded, or maybe just stored and about to be indexed
        if report.dry_run or await remove_pack(
            repo, pack_id, touched_before=cutoff, seen_touched_at=None
        ):
            report.deleted_orphan_files += 1
            report.deleted_orphan_bytes += blob.size


async def _collect_manifests(
    repo: Repository, report: GcReport, referenced: set[str], cutoff: float
) -> None:
    for blob in await repo.blobs.list_objects("manifests"):
        name = blob.key.partition("/")[2]
        if name in referenced or blob.mtime >= cutoff:
            continue  # in use, or maybe written by a commit still in progress
        if report.dry_run or await remove_manifest(repo, name):
            report.deleted_manifests += 1


async def _collect_partials(repo: Repository, report: GcReport, cutoff: float) -> None:
    for blob in await repo.blobs.list_partials():
        if blob.mtime >= cutoff:
            continue  # an upload in progress writes to it
        if not report.dry_run:
            await repo.blobs.remove_partial(blob.key)
        report.deleted_partials += 1
        report.deleted_partial_bytes += blob.size
