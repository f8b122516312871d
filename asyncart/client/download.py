"""The pull pipeline: skip what is present, locate chunks, fetch ranges in parallel, verify, rename.

For each file to fetch, chunks are verified as they stream in and written at
their offsets into ``<name>.asyncart-part`` beside the target
(``range_writer.py``); the file's digest is computed while ranges complete
(``assembly.py``) and checked before the part file is renamed into place. A
partly written file never appears under its final name.

Ranges follow what the store holds: chunks adjacent in a pack (the usual case
for a file pushed at once, and for many small files pushed together) are read
with one request of up to ``range_size`` bytes.
"""

from __future__ import annotations

import functools
import itertools
import os
import stat
from collections.abc import Sequence
from pathlib import Path

import anyio
import anyio.to_thread

from asyncart.client import side_files
from asyncart.client.assembly import (
    HOLD_BUDGET,
    PartFile,
    discard_all,
    finalize_all,
    keep_resumable,
)
from asyncart.client.cache_pull import cache_wanted, cached_pull
from asyncart.client.cache_tee import CacheTee
from asyncart.client.concurrency import AdaptiveLimit
from asyncart.client.delta import LocalPiece, chunk_index, copy_local_pieces, scan_local_file
from asyncart.client.hashcache import HashCache, HashedFile
from asyncart.client.journal import journal_path
from asyncart.client.leftovers import part_bytes, remove_leftovers
from asyncart.client.progress import Progress, TransferStats
from asyncart.client.pull_lock import pull_lock
from asyncart.client.range_writer import PackRange, Piece, RangeWriter
from asyncart.client.references import ReferenceNotFound, copy_reference
from asyncart.client.remote import Remote
from asyncart.client.s3_references import fetch_s3, is_s3
from asyncart.client.scan import FileIdentity
from asyncart.client.tasks import task_group
from asyncart.client.url_references import fetch_url, is_url
from asyncart.config import Settings
from asyncart.core.chunking import ChunkerSpec
from asyncart.core.entry_uris import is_artifact_uri
from asyncart.core.manifest import ChunkRef, Manifest, ManifestEntry
from asyncart.core.models import ChunkLocation
from asyncart.core.names import parse_version, validate_name
from asyncart.core.paths import RESERVED_SUFFIX, safe_join, sidecar_path
from asyncart.errors import ChunkMissing, ConfigError, IntegrityError, ProtocolError

_INTEGRITY_ATTEMPTS = 3


def _plan_ranges(pieces: list[Piece], max_range: int) -> list[PackRange]:
    """Group pieces that are contiguous in a pack into ranged reads of at most ``max_range``.

    A contiguous run longer than ``max_range`` is cut into the fewest ranges that fit, of
    about equal length: a pack slightly over ``max_range`` (a pack ends with the chunk that
    reaches the pack size) is read as two halves, not as one full range and a sliver, which
    fetched a 2 GiB file of 32 MiB packs 15 % slower than halves did (docs/performance-notes.md).
    """
    ranges: list[PackRange] = []
    for run in _contiguous_runs(pieces):
        target = run.length / -(-run.length // max_range)
        current: PackRange | None = None
        for piece in run.pieces:
            end = piece.loc.offset + piece.size
            if current is not None and end <= current.offset + current.length:
                current.pieces.append(piece)  # the same chunk again (duplicate content)
                continue
            if current is None or (
                current.length + piece.size / 2 > target or current.length + piece.size > max_range
            ):
                current = PackRange(piece.loc.pack, piece.loc.offset, piece.size, [piece])
                ranges.append(current)
            else:
                current.length += piece.size
                current.pieces.append(piece)
    return ranges


def _contiguous_runs(pieces: list[Piece]) -> list[PackRange]:
    """``pieces`` grouped into runs of adjacent bytes in one pack, in pack order."""
    runs: list[PackRange] = []
    for piece in sorted(pieces, key=lambda p: (p.loc.pack, p.loc.offset)):
        last = runs[-1] if runs else None
        if last is not None and last.pack == piece.loc.pack:
            end = last.offset + last.length
            if piece.loc.offset == end:
                last.length += piece.size
                last.pieces.append(piece)
                continue
            if piece.loc.offset + piece.size <= end:
                last.pieces.append(piece)  # the same chunk again (duplicate content)
                continue
        runs.append(PackRange(piece.loc.pack, piece.loc.offset, piece.size, [piece]))
    return runs


def _in_file_order(ranges: list[PackRange], targets: list[PartFile]) -> list[PackRange]:
    """``ranges`` in the order their files need them (file by file, then by offset).

    Packs are named by content, so pack order is random against file order; fetched in
    pack order, a large file's hashing point waited for whichever range held its first
    bytes, and nearly every region was held past the budget and read back from disk.
    In file order, ranges finish about where the file's hasher is (``assembly.py``).
    """
    order = {id(t): i for i, t in enumerate(targets)}

    def first_need(rng: PackRange) -> tuple[int, int]:
        return min((order.get(id(p.file), len(order)), p.file_offset) for p in rng.pieces)

    return sorted(ranges, key=first_need)


class _HashWindow:
    """Holds back a range of a file until it ends within ``limit`` bytes of that file's
    hashing point: ranges ahead of the point keep their bytes in memory for the file's
    hasher (``assembly.HOLD_BUDGET``), and a range that starts later than that would have
    its bytes read back from disk (with O_DIRECT, a second pass over the disk) instead.
    A range whose pieces belong to several files, or whose file is not hashed in order,
    is never held back."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self._moved = anyio.Event()

    def started(self) -> None:
        self.in_flight += 1

    def moved(self) -> None:
        """A range finished: hashing points may have moved."""
        self.in_flight -= 1
        self._moved.set()
        self._moved = anyio.Event()

    async def wait(self, rng: PackRange) -> None:
        """Return once ``rng`` may start."""
        file = rng.pieces[0].file
        if not file.hashes_in_order or any(p.file is not file for p in rng.pieces):
            return
        start = min(p.file_offset for p in rng.pieces)
        end = max(p.file_offset + p.size for p in rng.pieces)
        # With nothing in flight no hashing point can move: start it (its bytes are read
        # back if need be, as before), so a gap filled from elsewhere never stalls a pull.
        while self.in_flight and start > file.hashed_upto and end - file.hashed_upto > self.limit:
            await self._moved.wait()


def _prepare(target: PartFile, made_dirs: set[Path]) -> None:
    """Create the parent directory; part files are created later.

    A file fetched in one range is created by its only write (one open, not two):
    with tens of thousands of small files, that is most of the cost.
    """
    parent = target.final.parent
    if parent not in made_dirs:
        parent.mkdir(parents=True, exist_ok=True)
        made_dirs.add(parent)
    if target.final.is_dir() and not target.final.is_symlink():
        raise ConfigError(f"{target.final} is a directory; cannot write file {target.entry.path!r}")


def _create_parts(targets: list[PartFile]) -> None:
    for target in targets:
        target.create()


DOWNLOADS_DIR = Path("artifacts")


def default_root(name: str, version: str | None) -> Path:
    """``artifacts/<name>:<version>`` (relative to the working directory), checked to be one
    directory inside ``artifacts``: the name and version come from a server's answer.
    ``version`` None: ``artifacts/<name>`` (where ``checkout`` keeps a collection's files).

    Raises:
        ConfigError: the name or version is not one, or the directory is a symlink out.
    """
    validate_name(name)
    if version is not None and parse_version(version) is None:
        raise ConfigError(f"version {version[:40]!r} is not of the form v<number>")
    target = DOWNLOADS_DIR / (name if version is None else f"{name}:{version}")
    base = DOWNLOADS_DIR.resolve()
    resolved = target.resolve()
    if len(target.parts) != 2 or resolved.parent != base:
        raise ConfigError(
            f"the default download directory {str(target)!r} leads out of {str(DOWNLOADS_DIR)!r} "
            f"(to {str(resolved)!r}); pass a directory to download into"
        )
    return target


async def download_manifest(
    remote: Remote,
    manifest: Manifest,
    root: Path,
    settings: Settings,
    stats: TransferStats | None = None,
    progress: Progress | None = None,
    only: Sequence[str] | None = None,
    missing_references: list[str] | None = None,
    use_cache: bool = True,
) -> Path:
    """Materialise ``manifest`` under ``root`` (only the ``only`` paths if given); verified.

    ``use_cache``: consult the download cache before the server and store what is
    fetched into it (``cache.py``); never for the embedded store.

    ``missing_references``: when given, a reference whose target is not there is
    skipped and its path appended (else ``ReferenceNotFound`` is raised).

    Holds the pull lock of ``root`` (``pull_lock.py``) throughout: processes pulling
    into the same directory at once take turns, and every one after the first finds
    the files present (checked as always) and fetches nothing.

    Raises:
        IntegrityError: a chunk or file did not match its digest after retries.
        ChunkMissing: the store lacks chunks the manifest names.
        PullLockTimeout: another process held the directory past ``settings.lock_timeout``.
    """
    stats = stats or TransferStats()
    progress = progress or Progress()
    entries = [manifest.get(p) for p in only] if only is not None else list(manifest)
    if any(e is None for e in entries):
        missing = [p for p, e in zip(only or (), entries, strict=True) if e is None]
        raise ConfigError(f"the artifact has no file {missing[0]!r}")
    wanted: list[ManifestEntry] = [e for e in entries if e is not None]
    async with pull_lock(root, settings.cache_dir, settings.lock_timeout):
        await _download_locked(
            remote,
            manifest,
            wanted,
            root,
            settings,
            stats,
            progress,
            missing_references,
            cache_wanted(settings, remote.is_local, use_cache),
        )
        # What an interrupted pull of another version left here (its part files hold disk).
        removed = await anyio.to_thread.run_sync(remove_leftovers, root, [e.path for e in manifest])
        stats.leftovers_removed += len(removed)
        stats.leftover_bytes_removed += part_bytes(removed)
    return root


async def _download_locked(
    remote: Remote,
    manifest: Manifest,
    wanted: list[ManifestEntry],
    root: Path,
    settings: Settings,
    stats: TransferStats,
    progress: Progress,
    missing_references: list[str] | None,
    use_cache: bool,
) -> None:
    await anyio.to_thread.run_sync(functools.partial(root.mkdir, parents=True, exist_ok=True))
    progress.on_start("pull", sum(e.size for e in wanted), len(wanted))
    cache: HashCache | None = None
    if settings.hash_cache:
        cache = await anyio.to_thread.run_sync(HashCache.open, settings.cache_dir, manifest.chunker)
    try:
        targets, previous, skipped, resumed, read = await anyio.to_thread.run_sync(
            _targets_to_fetch, wanted, root, manifest.chunker, cache, missing_references
        )
        stats.bytes_read += read
        stats.files_skipped += skipped
        stats.bytes_resumed += resumed
        progress.on_skip(sum(e.size for e in wanted) - sum(t.entry.size for t in targets) + resumed)
        if targets and use_cache:
            async with cached_pull(settings, targets, stats, progress) as served:
                await _fetch_targets(
                    remote, served.misses, previous, settings, stats, progress, served.tee
                )
        elif targets:
            await _fetch_targets(remote, targets, previous, settings, stats, progress)
    finally:
        progress.on_done()
        if cache is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(cache.close)


async def _fetch_targets(
    remote: Remote,
    targets: list[PartFile],
    previous: dict[Path, Sequence[ChunkRef]],
    settings: Settings,
    stats: TransferStats,
    progress: Progress,
    tee: CacheTee | None = None,
) -> None:
    """Fill ``targets`` from local files where they lend chunks, the rest from ``remote``
    (written through ``tee`` into the download cache too, if given)."""
    if targets:
        pending = await _reuse_local(targets, previous, stats, progress)
        await _fetch(remote, targets, pending, settings, stats, progress, tee)


def fetch_reference(entry: ManifestEntry, final: Path) -> None:
    """Copy or fetch what reference ``entry`` names to ``final`` (by its URI's scheme)."""
    assert entry.ref is not None
    if is_artifact_uri(entry.ref):  # resolved before a pull: client/artifact_references.py
        raise ConfigError(
            f"entry {entry.path!r} refers to another version ({entry.ref!r}) and was not "
            "resolved; download it through the artifact (artifact.download())"
        )
    if is_url(entry.ref):
        fetch_url(entry, final)
    elif is_s3(entry.ref):
        fetch_s3(entry, final)
    else:
        copy_reference(entry, final)


def local_files(
    entries: list[ManifestEntry], finals: list[Path], spec: ChunkerSpec, cache: HashCache | None
) -> tuple[dict[Path, HashedFile], int]:
    """What the files already at the target paths hold: digest and chunks, cut with ``spec``.

    From the hash cache where it knows a file; otherwise the file is read once
    (and the cache told), but only if it could be the wanted file (same size) or
    could lend chunks to it (the wanted file has several).
    """
    found: dict[Path, FileIdentity] = {}
    for entry, final in zip(entries, finals, strict=True):
        try:
            st = os.lstat(final)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and (st.st_size == entry.size or len(entry.chunks) > 1):
            found[final] = FileIdentity.of(st)
    out: dict[Path, HashedFile] = {}
    if not found:
        return out, 0
    keys = {final: final.resolve() for final in found}
    hits = cache.lookup([(keys[f], i) for f, i in found.items()]) if cache else [None] * len(found)
    scanned: list[HashedFile] = []
    for (final, identity), hit in zip(found.items(), hits, strict=True):
        if hit is not None:
            out[final] = HashedFile(final, identity, hit.digest, hit.chunks, 0)
            continue
        local = scan_local_file(final, identity, spec)
        if local is not None:
            out[final] = local
            scanned.append(
                HashedFile(keys[final], identity, local.digest, local.chunks, local.checked_ns)
            )
    if cache is not None and scanned:
        cache.remember(scanned)
    return out, sum(f.identity.size for f in scanned)


def _targets_to_fetch(
    entries: list[ManifestEntry],
    root: Path,
    spec: ChunkerSpec,
    cache: HashCache | None,
    missing_references: list[str] | None = None,
) -> tuple[list[PartFile], dict[Path, Sequence[ChunkRef]], int, int, int]:
    """Sync, in one worker call: skip files already present, copy references, prepare parts.

    Returns the files to fetch, the chunks of differing files already at their
    paths (delta sources), the count of files already in place, the bytes kept
    from part files an interrupted pull left (see ``journal.py``), and the bytes
    of local files read to learn what they hold.
    """
    targets = []
    previous: dict[Path, Sequence[ChunkRef]] = {}
    skipped = resumed = 0
    checked: dict[Path, bool] = {}
    made_dirs: set[Path] = set()
    finals = [safe_join(root, entry.path, checked) for entry in entries]
    local, read = local_files(entries, finals, spec, cache)
    for entry, final in zip(entries, finals, strict=True):
        have = local.get(final)
        if have is not None and have.digest == entry.digest and have.identity.size == entry.size:
            skipped += 1
            continue
        side_files.check_final(final, root)
        side_files.check(journal_path(final))
        if entry.ref is not None:
            try:
                fetch_reference(entry, final)
            except ReferenceNotFound:
                if missing_references is None:
                    raise
                missing_references.append(entry.path)
            continue
        if have is not None and len(entry.chunks) > 1:
            previous[final] = have.chunks
        target = PartFile(entry, final, sidecar_path(final, RESERVED_SUFFIX))
        _prepare(target, made_dirs)
        if side_files.check(target.part):
            resumed += target.resume()
        if target.remaining == 0:  # empty, or wholly kept from an interrupted pull
            if not target.created:
                target.create()
            target.finalize()
            continue
        targets.append(target)
    return targets, previous, skipped, resumed, read


async def _reuse_local(
    targets: list[PartFile],
    previous: dict[Path, Sequence[ChunkRef]],
    stats: TransferStats,
    progress: Progress,
) -> list[tuple[PartFile, int, str]]:
    """Fill what local files already hold; return the (file, offset, hash) still to fetch."""
    index = chunk_index(previous)
    pending: list[tuple[PartFile, int, str]] = []
    local: list[LocalPiece] = []
    for t in targets:
        offset = 0
        for c in t.entry.chunks:
            source = index.get(c.hash)
            if offset in t.resumed:
                pass
            elif source is not None and source.size == c.size:
                local.append(LocalPiece(t, offset, c.hash, source))
            else:
                pending.append((t, offset, c.hash))
            offset += c.size
    if not local:
        return pending
    reusing = list({p.file: None for p in local})
    try:
        await anyio.to_thread.run_sync(_create_parts, reusing)
        copied, stale, completed = await anyio.to_thread.run_sync(copy_local_pieces, local)
        if completed:
            await anyio.to_thread.run_sync(finalize_all, completed)
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_after_failure, reusing, exc)
        raise
    stats.bytes_reused += copied
    progress.on_skip(copied)  # from local files: nothing crossed the network
    pending += [(p.file, p.file_offset, p.hash) for p in stale]
    return pending


async def _fetch(
    remote: Remote,
    targets: list[PartFile],
    pending: list[tuple[PartFile, int, str]],
    settings: Settings,
    stats: TransferStats,
    progress: Progress,
    tee: CacheTee | None,
) -> None:
    if not pending:
        return
    sizes = {c.hash: c.size for t in targets for c in t.entry.chunks}
    hashes = list(dict.fromkeys(h for _, _, h in pending))
    locations = await remote.locate_chunks(hashes)
    absent = [h for h in hashes if h not in locations]
    if absent:
        raise ChunkMissing(
            f"the store lacks {len(absent)} chunk(s) of this version (first: {absent[0]}); "
            "run 'asyncart server fsck'"
        )
    _check_locations({h: locations[h] for h in hashes}, sizes, remote.description)
    pieces = [Piece(f, off, h, sizes[h], locations[h]) for f, off, h in pending]
    ranges = _in_file_order(_plan_ranges(pieces, settings.range_size), targets)
    await remote.prepare_reads([r.pack for r in ranges])
    spans: dict[PartFile, int] = {}
    for rng in ranges:
        for file in {p.file for p in rng.pieces}:
            spans[file] = spans.get(file, 0) + 1
    fetched = list(spans)
    for t in fetched:
        t.single_range = spans[t] == 1 and not t.created
    await anyio.to_thread.run_sync(
        _create_parts, [t for t in fetched if not t.single_range and not t.created]
    )
    slots = AdaptiveLimit(settings.concurrency, settings.concurrency_ceiling)
    window = _HashWindow(HOLD_BUDGET)

    async def fetch(rng: PackRange, token: object) -> None:
        writer = RangeWriter(rng, tee)
        moved = 0
        try:
            what = f"range {rng.offset}+{rng.length} of pack {rng.pack}"
            for attempt in range(_INTEGRITY_ATTEMPTS):
                await remote.read_range(rng.pack, rng.offset, rng.length, what, writer)
                if writer.failure is None:
                    break
                if attempt == _INTEGRITY_ATTEMPTS - 1:
                    raise writer.failure
            stats.bytes_downloaded += rng.length
            moved = rng.length
            progress.on_progress(sum(p.size for p in rng.pieces))
            if writer.completed:
                await anyio.to_thread.run_sync(finalize_all, writer.completed)
        finally:
            writer.close()
            slots.release(token, moved)
            window.moved()

    try:
        async with task_group() as tg:
            for rng in ranges:
                await window.wait(rng)
                token = await slots.acquire()
                window.started()
                tg.start_soon(fetch, rng, token)
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_after_failure, fetched, exc)
        raise
    finally:
        stats.concurrency_levels += slots.log.levels
        stats.concurrency = slots.log.settled or slots.limit


def _check_locations(
    locations: dict[str, ChunkLocation], sizes: dict[str, int], source: str
) -> None:
    """Refuse locations no honest store gives: a length other than the chunk's size, or two
    different chunks sharing bytes of a pack (one chunk's verified bytes would be written
    where the other belongs).

    Raises:
        ProtocolError: naming the chunk(s) and the pack.
    """
    spans: list[tuple[str, int, int, str]] = []
    for h, loc in locations.items():
        if loc.length != sizes[h]:
            raise ProtocolError(
                f"{source} located chunk {h} as {loc.length} bytes of pack {loc.pack}; "
                f"the manifest says it has {sizes[h]} bytes"
            )
        spans.append((loc.pack, loc.offset, loc.offset + loc.length, h))
    spans.sort()
    for (pack, _, end, first), (next_pack, start, _, second) in itertools.pairwise(spans):
        if pack == next_pack and start < end:
            raise ProtocolError(
                f"{source} located chunks {first} and {second} at bytes of pack {pack} "
                "that overlap; different chunks never share bytes"
            )


def _after_failure(files: list[PartFile], exc: BaseException) -> None:
    """Keep what a re-run can resume, unless the failure says the bytes themselves are bad."""
    if isinstance(exc, IntegrityError):
        discard_all(files)
    else:
        keep_resumable(files)
