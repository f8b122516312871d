"""What a push or a pull would move, found without storing or writing anything.

:func:`plan_push` runs the real push pipeline (read, cut, hash, ask the store which
chunks it lacks) against a remote that counts the packs instead of sending them, so
the answer accounts for everything a push skips: chunks the store has, and chunks
repeated within the push. :func:`plan_pull` checks the files already in the target
directory (by digest, through the hash cache) and which chunks local files could
lend, as a pull does, without creating a part file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from asyncart.client.download import local_files
from asyncart.client.hashcache import HashCache
from asyncart.client.progress import TransferStats
from asyncart.client.remote import Remote
from asyncart.client.upload import PushPipeline, SourceFile
from asyncart.config import Settings
from asyncart.core.manifest import Manifest
from asyncart.core.paths import safe_join


@dataclass(frozen=True)
class TransferPlan:
    """What a transfer would move: of ``files`` files (``total_bytes``), ``files_to_move``
    have bytes to move, ``bytes_to_move`` in all (a pull: at most, as part files an
    interrupted pull left may hold some of them)."""

    files: int
    total_bytes: int
    files_to_move: int
    bytes_to_move: int


class _CountingRemote:
    """Answers 'missing' from the real store; counts the packs a push would send."""

    def __init__(self, remote: Remote) -> None:
        self._remote = remote
        self.missing: set[str] = set()

    async def missing_chunks(self, hashes: Sequence[str]) -> list[str]:
        missing = await self._remote.missing_chunks(hashes)
        self.missing.update(missing)
        return missing

    async def upload_pack(
        self, parts: Sequence[bytes | memoryview], what: str, project: str | None = None
    ) -> None:
        return None  # a dry run: the pipeline counts the pack's bytes, nothing is sent

    def __getattr__(self, name: str) -> Any:
        return getattr(self._remote, name)


async def plan_push(
    remote: Remote, files: Sequence[SourceFile], settings: Settings
) -> TransferPlan:
    """What pushing ``files`` would upload to the store behind ``remote``.

    Raises:
        FileChangedError: a file changed while it was read.
    """
    counting = _CountingRemote(remote)
    stats = TransferStats()
    entries = await PushPipeline(cast(Remote, counting), files, settings, stats).run()
    changed = [e for e in entries if any(c.hash in counting.missing for c in e.chunks)]
    return TransferPlan(
        files=len(entries),
        total_bytes=sum(e.size for e in entries),
        files_to_move=len(changed),
        bytes_to_move=stats.bytes_uploaded,
    )


def plan_pull(
    manifest: Manifest, root: Path, settings: Settings, only: Sequence[str] | None = None
) -> TransferPlan:
    """What pulling ``manifest`` (only the ``only`` paths if given) into ``root`` would
    download (sync: call in a thread)."""
    entries = list(manifest) if only is None else [e for p in only if (e := manifest.get(p))]
    finals = [safe_join(root, e.path, {}) for e in entries]
    cache = HashCache.open(settings.cache_dir, manifest.chunker) if settings.hash_cache else None
    try:
        local, _ = local_files(entries, finals, manifest.chunker, cache)
    finally:
        if cache is not None:
            cache.close()
    lendable = {c.hash for have in local.values() for c in have.chunks}
    files_to_move = bytes_to_move = 0
    for entry, final in zip(entries, finals, strict=True):
        have = local.get(final)
        if have is not None and have.digest == entry.digest and have.identity.size == entry.size:
            continue
        files_to_move += 1
        if entry.ref is not None:
            bytes_to_move += entry.size
        else:
            bytes_to_move += sum(c.size for c in entry.chunks if c.hash not in lendable)
    return TransferPlan(
        files=len(entries),
        total_bytes=sum(e.size for e in entries),
        files_to_move=files_to_move,
        bytes_to_move=bytes_to_move,
    )
