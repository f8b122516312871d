"""Store-side integrity check (``asyncart server fsck``), with an optional repair.

What is checked (one :class:`Finding` per problem):

* every indexed chunk is re-hashed (blake3) from its pack file, or a random
  ``sample`` fraction of them; chunks lying past the end of a short pack file are
  found from the sizes alone, whatever the sample;
* every recorded pack has its file, of the recorded size;
* every version's manifest object exists, is the one its commit stored (its BLAKE3 is
  the recorded manifest hash; it describes the version's digest, size and file count)
  and decodes, and every chunk it names is indexed and not found damaged;
* pack files the index does not know and unfinished writes (``tmp/``) older than
  ``grace`` are crash leftovers; younger ones are uploads in flight (noted only);
* objects left in the trash by an interrupted gc or fsck.

``repair`` fixes what the store can fix by itself: damaged or truncated chunks
are dropped from the index (a copy of their pack goes to ``quarantine/``; the
pack's good chunks stay in service), so the next push that needs them uploads
them again; a recorded pack whose file is gone is forgotten; leftovers are
removed; the trash is finished. A version that lost chunks stays a problem until
its files are pushed again (the push re-uploads exactly what is missing and the
commit finds the same version).

Garbage (packs no version uses, unreferenced manifests) is noted, not a problem:
``asyncart server gc`` reclaims it.

The pack and chunk checks live in :mod:`asyncart.repo.fsck_packs`, the version and
manifest checks in :mod:`asyncart.repo.fsck_versions`; this module runs them in order,
with the leftovers (trash, unfinished writes, unindexed pack files) and the garbage note.
"""

from __future__ import annotations

import random
import time

from asyncart.core.humanize import human_size
from asyncart.errors import ConfigError
from asyncart.repo.fsck_packs import FsckIndex, check_packs
from asyncart.repo.fsck_report import (
    CHUNK_CORRUPT,
    CHUNK_TRUNCATED,
    GARBAGE,
    IN_FLIGHT,
    MANIFEST_BAD,
    MANIFEST_MISMATCH,
    ORPHAN_PACK,
    PACK_MISSING,
    PACK_SIZE,
    PARTIAL,
    TRASH,
    VERSION_INCOMPLETE,
    Finding,
    FsckReport,
)
from asyncart.repo.fsck_report import repaired as _repaired
from asyncart.repo.fsck_versions import check_versions
from asyncart.repo.housekeeping import recover_trash, remove_pack
from asyncart.repo.service import Repository

# The finding kinds and report types are re-exported: callers read them from here.
__all__ = [
    "CHUNK_CORRUPT",
    "CHUNK_TRUNCATED",
    "DEFAULT_GRACE",
    "GARBAGE",
    "IN_FLIGHT",
    "MANIFEST_BAD",
    "MANIFEST_MISMATCH",
    "ORPHAN_PACK",
    "PACK_MISSING",
    "PACK_SIZE",
    "PARTIAL",
    "TRASH",
    "VERSION_INCOMPLETE",
    "Finding",
    "FsckReport",
    "fsck",
]

#: Default age (seconds) after which an unfinished write or an unindexed pack file
#: counts as a crash leftover rather than an upload in progress.
DEFAULT_GRACE = 3600.0


async def fsck(
    repo: Repository,
    *,
    repair: bool = False,
    sample: float = 1.0,
    grace: float = DEFAULT_GRACE,
    rng: random.Random | None = None,
) -> FsckReport:
    """Check the store (see the module doc); with ``repair``, fix what can be fixed.

    Raises:
        ConfigError: a bad ``sample`` or ``grace``, or another gc/fsck holds the store.
    """
    if not 0.0 <= sample <= 1.0:
        raise ConfigError(f"the sample fraction must be within 0..1, got {sample:g}")
    if grace < 0:
        raise ConfigError(f"the grace period must be >= 0 seconds, got {grace:g}")
    report = FsckReport(repair=repair, sample=sample, grace=grace)
    async with repo.blobs.maintenance_lock():
        started = time.time()
        await _check_trash(repo, report)
        await _check_partials(repo, report, started - grace)
        snapshot = await repo.meta.snapshot()
        index = FsckIndex(
            packs=snapshot.packs,
            chunks=snapshot.chunks,
            files={b.key.partition("/")[2]: b for b in await repo.blobs.list_objects("packs")},
        )
        await check_packs(repo, report, index, rng or random.Random(), started)
        await _check_orphans(repo, report, index, started - grace)
        live = await check_versions(repo, report, index, snapshot.versions)
        _note_garbage(report, index, live | snapshot.pending_chunks)  # gc keeps those too
    return report


async def _check_trash(repo: Repository, report: FsckReport) -> None:
    if not report.repair:
        for blob in await repo.blobs.list_hidden():
            report.findings.append(
                Finding(
                    TRASH,
                    blob.key,
                    f"{blob.key} is in the trash, left by an interrupted gc or fsck",
                    action="--repair puts it back or purges it",
                )
            )
        return
    for outcome in await recover_trash(repo):
        done = "put back under its key" if outcome.restored else "purged (no longer used)"
        report.findings.append(
            Finding(
                TRASH,
                outcome.key,
                f"{outcome.key} was in the trash, left by an interrupted gc or fsck",
                repaired=True,
                action=done,
            )
        )


async def _check_partials(repo: Repository, report: FsckReport, cutoff: float) -> None:
    in_flight = 0
    for blob in await repo.blobs.list_partials():
        if blob.mtime >= cutoff:
            in_flight += 1
            continue
        finding = Finding(
            PARTIAL,
            blob.key,
            f"unfinished write tmp/{blob.key} ({human_size(blob.size)}, untouched for "
            f"{time.time() - blob.mtime:.0f}s) was left by a crash; it is not under a final "
            "name and nothing refers to it",
        )
        if report.repair:
            await repo.blobs.remove_partial(blob.key)
            finding = _repaired(finding, "removed")
        report.findings.append(finding)
    if in_flight:
        report.findings.append(
            Finding(
                IN_FLIGHT,
                "tmp",
                f"{in_flight} unfinished write(s) younger than {report.grace:g}s: uploads in "
                "progress (or crash leftovers, which a later fsck or gc removes)",
                problem=False,
            )
        )


async def _check_orphans(
    repo: Repository, report: FsckReport, index: FsckIndex, cutoff: float
) -> None:
    recorded = {p.id for p in index.packs}
    in_flight = 0
    for pack_id, blob in index.files.items():
        if pack_id in recorded:
            continue
        if blob.mtime >= cutoff:
            in_flight += 1
            continue
        finding = Finding(
            ORPHAN_PACK,
            pack_id,
            f"pack file {pack_id} ({human_size(blob.size)}) is not in the index: a crash "
            "came between storing and indexing it, and nothing can read it",
        )
        if report.repair:
            if await remove_pack(repo, pack_id, touched_before=cutoff, seen_touched_at=None):
                finding = _repaired(finding, "removed")
            else:
                finding = _repaired(finding, "kept: an upload indexed it during this check")
        report.findings.append(finding)
    if in_flight:
        report.findings.append(
            Finding(
                IN_FLIGHT,
                "packs",
                f"{in_flight} pack file(s) younger than {report.grace:g}s are not indexed yet: "
                "uploads in progress (or crash leftovers, which a later fsck or gc removes)",
                problem=False,
            )
        )


def _note_garbage(report: FsckReport, index: FsckIndex, live: set[str]) -> None:
    dead = [
        p
        for p in index.packs
        if p.id in index.files and not any(c.hash in live for c in index.chunks.get(p.id, ()))
    ]
    if dead:
        size = human_size(sum(p.size for p in dead))
        report.findings.append(
            Finding(
                GARBAGE,
                "packs",
                f"{len(dead)} pack(s) ({size}) hold no chunk any version uses; "
                "'asyncart server gc' deletes them once their grace period has passed",
                problem=False,
            )
        )
