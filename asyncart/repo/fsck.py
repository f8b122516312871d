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
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from asyncart.core.humanize import human_size
from asyncart.core.manifest import Manifest
from asyncart.errors import ConfigError, NotFoundError
from asyncart.repo.blobstores.base import BlobInfo
from asyncart.repo.fsck_report import (
    CHUNK_CORRUPT as CHUNK_CORRUPT,
)
from asyncart.repo.fsck_report import (
    CHUNK_TRUNCATED as CHUNK_TRUNCATED,
)
from asyncart.repo.fsck_report import (
    GARBAGE as GARBAGE,
)
from asyncart.repo.fsck_report import (
    IN_FLIGHT as IN_FLIGHT,
)
from asyncart.repo.fsck_report import (
    MANIFEST_BAD as MANIFEST_BAD,
)
from asyncart.repo.fsck_report import (
    MANIFEST_MISMATCH as MANIFEST_MISMATCH,
)
from asyncart.repo.fsck_report import (
    ORPHAN_PACK as ORPHAN_PACK,
)
from asyncart.repo.fsck_report import (
    PACK_MISSING as PACK_MISSING,
)
from asyncart.repo.fsck_report import (
    PACK_SIZE as PACK_SIZE,
)
from asyncart.repo.fsck_report import (
    PARTIAL as PARTIAL,
)
from asyncart.repo.fsck_report import (
    TRASH as TRASH,
)
from asyncart.repo.fsck_report import (
    VERSION_INCOMPLETE as VERSION_INCOMPLETE,
)
from asyncart.repo.fsck_report import (
    Finding as Finding,
)
from asyncart.repo.fsck_report import (
    FsckReport as FsckReport,
)
from asyncart.repo.fsck_report import (
    repaired as _repaired,
)
from asyncart.repo.housekeeping import (
    ManifestMismatch,
    check_describes,
    check_unreferenced,
    describe,
    read_manifest,
    recover_trash,
    remove_manifest,
    remove_pack,
)
from asyncart.repo.metastores.base import PackChunk, PackRecord, StoredVersion
from asyncart.repo.service import Repository, pack_key

#: Default age (seconds) after which an unfinished write or an unindexed pack file
#: counts as a crash leftover rather than an upload in progress.
DEFAULT_GRACE = 3600.0


@dataclass
class _Index:
    """The index as read at the start: packs, their chunks, and their files."""

    packs: list[PackRecord]
    chunks: dict[str, list[PackChunk]]
    files: dict[str, BlobInfo]
    damaged: set[str] = field(default_factory=set)  # indexed chunk hashes found unusable


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
        index = _Index(
            packs=snapshot.packs,
            chunks=snapshot.chunks,
            files={b.key.partition("/")[2]: b for b in await repo.blobs.list_objects("packs")},
        )
        await _check_packs(repo, report, index, rng or random.Random(), started)
        await _check_orphans(repo, report, index, started - grace)
        live = await _check_versions(repo, report, index, snapshot.versions)
        _note_garbage(report, index, live)
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


async def _check_packs(
    repo: Repository, report: FsckReport, index: _Index, rng: random.Random, started: float
) -> None:
    report.packs = len(index.packs)
    for pack in index.packs:
        members = index.chunks.get(pack.id, [])
        report.chunks += len(members)
        blob = index.files.get(pack.id)
        digests: list[str | None] = []
        chosen: list[PackChunk] = []
        if blob is not None:
            within = [c for c in members if c.offset + c.length <= blob.size]
            chosen = (
                within
                if report.sample >= 1
                else [c for c in within if rng.random() < report.sample]
            )
            try:
                digests = await repo.blobs.hash_ranges(
                    pack_key(pack.id), [(c.offset, c.length) for c in chosen]
                )
            except NotFoundError:
                blob = None
        if blob is None:
            await _pack_missing(repo, report, index, pack, members, started)
            continue
        report.pack_bytes += blob.size
        report.chunks_hashed += len(chosen)
        report.bytes_hashed += sum(c.length for c in chosen)
        corrupt = [c for c, d in zip(chosen, digests, strict=True) if d != c.hash]
        past_end = [c for c in members if c.offset + c.length > blob.size]
        if blob.size != pack.size:
            report.findings.append(
                Finding(
                    PACK_SIZE,
                    pack.id,
                    f"pack {pack.id} is {blob.size} bytes on disk but was stored with {pack.size}",
                    problem=blob.size < pack.size,
                    repaired=report.repair and bool(past_end),
                    action="its chunks past the end are dropped below" if past_end else None,
                )
            )
        if corrupt or past_end:
            await _damaged_chunks(repo, report, index, pack, blob.size, corrupt, past_end)


async def _pack_missing(
    repo: Repository,
    report: FsckReport,
    index: _Index,
    pack: PackRecord,
    members: Sequence[PackChunk],
    started: float,
) -> None:
    index.damaged.update(c.hash for c in members)
    finding = Finding(
        PACK_MISSING,
        pack.id,
        f"pack {pack.id} is recorded with {len(members)} indexed chunk(s) but its file is missing",
    )
    if report.repair:
        if await repo.meta.drop_pack(
            pack.id, touched_before=started, seen_touched_at=pack.touched_at
        ):
            finding = _repaired(
                finding,
                "forgotten: its chunks now count as missing and the "
                "next push that needs them uploads them again",
            )
        else:
            finding = replace(
                finding, action="not repaired: a client used it during this check; run fsck again"
            )
    report.findings.append(finding)


async def _damaged_chunks(
    repo: Repository,
    report: FsckReport,
    index: _Index,
    pack: PackRecord,
    file_size: int,
    corrupt: Sequence[PackChunk],
    past_end: Sequence[PackChunk],
) -> None:
    findings = [
        Finding(
            CHUNK_CORRUPT,
            c.hash,
            f"chunk {c.hash} ({c.length} bytes at offset {c.offset} of pack {pack.id}) does "
            "not match its hash: the bytes on disk are damaged",
        )
        for c in corrupt
    ] + [
        Finding(
            CHUNK_TRUNCATED,
            c.hash,
            f"chunk {c.hash} ({c.length} bytes at offset {c.offset} of pack {pack.id}) lies "
            f"past the end of the pack file ({file_size} bytes)",
        )
        for c in past_end
    ]
    index.damaged.update(f.subject for f in findings)
    if report.repair:
        kept = await repo.blobs.quarantine(pack_key(pack.id))
        await repo.meta.drop_chunks(pack.id, [f.subject for f in findings])
        action = (
            f"dropped from the index (the next push that needs it uploads it again; "
            f"a copy of the pack is in {kept})"
        )
        findings = [_repaired(f, action) for f in findings]
    report.findings.extend(findings)


async def _check_orphans(
    repo: Repository, report: FsckReport, index: _Index, cutoff: float
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


async def _check_versions(
    repo: Repository, report: FsckReport, index: _Index, versions: list[StoredVersion]
) -> set[str]:
    """Check every version's manifest and chunks; returns the chunks versions use."""
    by_name: dict[str, list[StoredVersion]] = {}
    report.versions = len(versions)
    for version in versions:
        by_name.setdefault(version.manifest_name, []).append(version)
    usable = {c.hash for members in index.chunks.values() for c in members} - index.damaged
    live: set[str] = set()
    for name, users in by_name.items():
        manifest = await _read_checked(repo, report, name, users)
        if manifest is None:
            continue
        hashes = manifest.chunk_hashes()
        live.update(hashes)
        lacking = sorted(hashes - usable)
        if lacking:
            report.findings.append(
                Finding(
                    VERSION_INCOMPLETE,
                    name,
                    f"{_labels(users)}: {len(lacking)} of its {len(hashes)} chunk(s) are "
                    f"missing or damaged (first: {lacking[0]})",
                    action="push its files again: the push uploads exactly those chunks",
                )
            )
    await _check_unreferenced(repo, report, set(by_name))
    return live


async def _read_checked(
    repo: Repository, report: FsckReport, name: str, users: list[StoredVersion]
) -> Manifest | None:
    """The manifest object ``name`` its versions read, if it is the one each committed;
    a finding for each version it is not (None when no version can use it)."""
    try:
        manifest = await read_manifest(repo, users[0])
    except ManifestMismatch as exc:
        _mismatch(report, name, users, str(exc))
        return None
    except (NotFoundError, ConfigError) as exc:
        report.findings.append(
            Finding(
                MANIFEST_BAD,
                name,
                f"the manifest of {_labels(users)} (manifests/{name}): {describe(exc)}",
                action="push the same files again to rewrite it",
            )
        )
        return None
    wrong: list[tuple[StoredVersion, str]] = []
    for version in users[1:]:
        try:
            check_describes(manifest, version)
        except ManifestMismatch as exc:
            wrong.append((version, str(exc)))
    for version, reason in wrong:
        _mismatch(report, name, [version], reason)
    return manifest


def _mismatch(report: FsckReport, name: str, users: list[StoredVersion], reason: str) -> None:
    report.findings.append(
        Finding(
            MANIFEST_MISMATCH,
            name,
            f"the manifest of {_labels(users)} (manifests/{name}) is not the one its commit "
            f"stored: {reason}",
            action="push the same files again with the same chunker (that rewrites the "
            "object), restore it from a backup, or delete the version",
        )
    )


async def _check_unreferenced(repo: Repository, report: FsckReport, read: set[str]) -> None:
    """Manifest objects no version reads: garbage, or damaged garbage."""
    stored = await repo.blobs.list_objects("manifests")
    report.manifests = len(stored)
    unused = 0
    for blob in stored:
        name = blob.key.partition("/")[2]
        if name in read:
            continue
        try:
            await check_unreferenced(repo, name)
            unused += 1
        except (NotFoundError, ConfigError) as exc:
            finding = Finding(
                MANIFEST_BAD, name, f"unreferenced manifest object {name}: {describe(exc)}"
            )
            if report.repair and await remove_manifest(repo, name):
                finding = _repaired(finding, "removed")
            report.findings.append(finding)
    if unused:
        report.findings.append(
            Finding(
                GARBAGE,
                "manifests",
                f"{unused} manifest object(s) no version references; 'asyncart server gc' "
                "removes them",
                problem=False,
            )
        )


def _note_garbage(report: FsckReport, index: _Index, live: set[str]) -> None:
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


def _labels(users: Sequence[StoredVersion]) -> str:
    shown = ", ".join(v.label for v in users[:3])
    return shown if len(users) <= 3 else f"{shown} and {len(users) - 3} more"
