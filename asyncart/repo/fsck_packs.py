"""fsck's check of the packs and their chunks (see :mod:`asyncart.repo.fsck`).

Every recorded pack must have its file, of the recorded size; every indexed chunk is
re-hashed from it (or a sample of them), and chunks past the end of a short file are found
from the sizes alone. With ``repair`` a pack whose file is gone is forgotten, and damaged
chunks are dropped from the index once a copy of their pack is in ``quarantine/``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from asyncart.errors import NotFoundError
from asyncart.repo.blobstores.base import BlobInfo
from asyncart.repo.fsck_report import (
    CHUNK_CORRUPT,
    CHUNK_TRUNCATED,
    PACK_MISSING,
    PACK_SIZE,
    Finding,
    FsckReport,
)
from asyncart.repo.fsck_report import repaired as _repaired
from asyncart.repo.metastores.base import PackChunk, PackRecord
from asyncart.repo.service import Repository, pack_key


@dataclass
class FsckIndex:
    """The index as read at the start: packs, their chunks, and their files."""

    packs: list[PackRecord]
    chunks: dict[str, list[PackChunk]]
    files: dict[str, BlobInfo]
    damaged: set[str] = field(default_factory=set)  # indexed chunk hashes found unusable


async def check_packs(
    repo: Repository, report: FsckReport, index: FsckIndex, rng: random.Random, started: float
) -> None:
    """Check every recorded pack and its chunks (see the module doc); the chunks found
    unusable go to ``index.damaged``. ``started``: a pack touched since is kept."""
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
    index: FsckIndex,
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
    index: FsckIndex,
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
