"""The hash cache: re-logging unchanged files reads no file bytes, and nothing stale slips through.

Real files, real stores (embedded and a server subprocess), a real SQLite cache
in the test's tmp directory (``ASYNCART_CACHE_DIR`` from ``conftest.clean_env``).
``TransferStats.bytes_read`` counts every byte the push read from source files.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import blake3
import pytest

from asyncart import aio
from asyncart.client import hashcache_db
from asyncart.client.hashcache import FILE_NAME, HashCache, HashedFile, settled
from asyncart.client.progress import TransferStats
from asyncart.client.scan import FileIdentity
from asyncart.config import Settings
from asyncart.core.chunking import ChunkerSpec
from asyncart.core.manifest import ChunkRef
from tests.support.live_server import LiveServer

MiB = 1 << 20
SIZE = 40 * MiB + 4321  # several read blocks, not a multiple of any size


def write_random(path: Path, size: int, seed: int) -> bytes:
    data = random.Random(seed).randbytes(size)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def overwrite(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def settle(*paths: Path) -> None:
    """Wait until the cache may record these files (their last change is a few clock ticks old)."""
    for path in paths:
        while not settled(FileIdentity.of(os.stat(path)), time.time_ns()):
            time.sleep(0.02)


def cache_file() -> Path:
    return Settings.from_env().cache_dir / FILE_NAME


async def push(
    path: Path, name: str = "big", url: str | None = None
) -> tuple[aio.Artifact, TransferStats]:
    artifact = aio.Artifact(name=name, type="dataset")
    # 'immutable': the hash cache spares reads of the caller's own files; the default
    # ('mutable') uploads a fresh snapshot, whose path the cache has never seen.
    if path.is_dir():
        artifact.add_dir(path, policy="immutable")
    else:
        artifact.add_file(path, policy="immutable")
    async with await aio.init(job_type="push", url=url) as run:
        await run.log_artifact(artifact)
    assert artifact.last_transfer is not None
    return artifact, artifact.last_transfer


async def pull(name: str, out: Path, url: str | None = None) -> Path:
    async with aio.Api(url=url) as api:
        artifact = await api.artifact(name)
        return Path(await artifact.download(out))


async def versions(name: str = "big", url: str | None = None) -> list[str]:
    async with aio.Api(url=url) as api:
        return [v.version for v in await api.artifact_versions(name)]


@pytest.fixture
def big(tmp_path: Path) -> Path:
    path = tmp_path / "src" / "model.bin"
    write_random(path, SIZE, seed=1)
    settle(path)
    return path


# -- large files ----------------------------------------------------------------------


async def test_unchanged_large_file_is_not_read_again(store: str, big: Path) -> None:
    first, stats = await push(big)
    assert (stats.bytes_read, stats.files_cached, stats.bytes_uploaded) == (SIZE, 0, SIZE)
    assert cache_file().exists()

    second, stats = await push(big)
    assert stats.bytes_read == 0
    assert stats.files_cached == 1
    assert (stats.bytes_uploaded, stats.bytes_skipped) == (0, SIZE)
    assert (second.version, second.digest) == (first.version, first.digest) == ("v0", first.digest)
    assert second.manifest == first.manifest
    assert await versions() == ["v0"]


async def test_touch_rehashes(store: str, big: Path) -> None:
    first, _ = await push(big)
    assert (await push(big))[1].bytes_read == 0
    st = big.stat()
    os.utime(big, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))

    again, stats = await push(big)
    assert (stats.bytes_read, stats.files_cached) == (SIZE, 0)
    assert (again.version, again.digest) == ("v0", first.digest)  # same bytes, same version


async def test_same_size_content_change_rehashes_into_a_new_version(
    store: str, big: Path, tmp_path: Path
) -> None:
    first, _ = await push(big)
    st = big.stat()
    overwrite(big, SIZE // 2, b"changed!")
    # Same size and the old mtime: only ctime (which cannot be set back) tells them apart.
    os.utime(big, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (big.stat().st_size, big.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)

    second, stats = await push(big)
    assert (stats.bytes_read, stats.files_cached) == (SIZE, 0)
    assert second.version == "v1"
    assert second.digest != first.digest
    assert 0 < stats.bytes_uploaded < SIZE  # only the chunks around the edit are new
    pulled = await pull("big:v1", tmp_path / "pulled")
    assert (pulled / "model.bin").read_bytes() == big.read_bytes()


@pytest.mark.parametrize(
    "damage", ["garbage", "garbage-after-header", "garbage-after-schema", "wrong-schema"]
)
async def test_corrupt_cache_is_rebuilt(store: str, big: Path, damage: str) -> None:
    first, _ = await push(big)
    db = cache_file()
    for side in (Path(f"{db}-wal"), Path(f"{db}-shm")):
        assert not side.exists()  # the push closed (and checkpointed) the cache
    if damage == "garbage":
        db.write_bytes(os.urandom(64 << 10))
    elif damage == "garbage-after-header":
        # Keep SQLite's 100-byte file header, destroy every page.
        overwrite(db, 100, os.urandom(db.stat().st_size - 100))
    elif damage == "garbage-after-schema":
        # The file opens and the schema checks out; the table's pages are garbage.
        overwrite(db, 4096, os.urandom(db.stat().st_size - 4096))
    else:
        db.unlink()
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE files (path TEXT, digest TEXT)")
            conn.execute("PRAGMA user_version = 1")
        conn.close()

    second, stats = await push(big)
    assert (second.version, second.digest) == ("v0", first.digest)
    assert stats.bytes_read == SIZE  # nothing was trusted
    third, stats = await push(big)
    assert (stats.bytes_read, stats.files_cached) == (0, 1)  # the rebuilt cache works
    assert third.digest == first.digest


async def test_unusable_cache_directory_is_not_an_error(
    big: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    monkeypatch.setenv("ASYNCART_CACHE_DIR", str(blocker))
    for _ in range(2):
        art, stats = await push(big)
        assert (art.version, stats.bytes_read, stats.files_cached) == ("v0", SIZE, 0)


async def test_disabled_by_environment(
    store: str, big: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASYNCART_HASH_CACHE", "0")
    for _ in range(2):
        art, stats = await push(big)
        assert (art.version, stats.bytes_read, stats.files_cached) == ("v0", SIZE, 0)
    assert not cache_file().parent.exists()


@pytest.mark.parametrize("shared", [0, 1], ids=["empty-store", "half-in-store"])
async def test_cached_file_to_another_store_reads_only_missing_ranges(
    big: Path, server: LiveServer, tmp_path: Path, shared: int
) -> None:
    first, _ = await push(big)  # embedded store: now cached
    data = big.read_bytes()
    if shared:
        # The server already holds the chunks of the first half (another artifact).
        half = tmp_path / "half" / "half.bin"
        half.parent.mkdir()
        half.write_bytes(data[: SIZE // 2])
        await push(half, name="half", url=server.url)

    other, stats = await push(big, url=server.url)
    assert stats.files_cached == 1
    assert stats.bytes_read == stats.bytes_uploaded  # read exactly what the server lacked
    assert stats.bytes_read + stats.bytes_skipped == SIZE
    if shared:
        assert SIZE // 3 < stats.bytes_read < SIZE * 2 // 3
    else:
        assert stats.bytes_read == SIZE
    assert (other.version, other.digest) == ("v0", first.digest)
    pulled = await pull("big:v0", tmp_path / "pulled", url=server.url)
    assert (pulled / "model.bin").read_bytes() == data


async def test_cached_chunk_that_does_not_match_falls_back_to_a_full_read(
    big: Path, server: LiveServer, tmp_path: Path
) -> None:
    """Same stat, different bytes (as if written behind the cache's back): never trusted."""
    first, _ = await push(big)
    settings = Settings.from_env()
    identity = FileIdentity.of(os.stat(big))
    cache = HashCache.open(settings.cache_dir, settings.chunker)
    assert cache is not None
    try:
        (hit,) = cache.lookup([(big.resolve(), identity)])
        assert hit is not None and len(hit.chunks) > 3
        lie = ChunkRef(blake3.blake3(b"not these bytes").hexdigest(), hit.chunks[2].size)
        chunks = [*hit.chunks[:2], lie, *hit.chunks[3:]]
        assert cache.remember(
            [HashedFile(big.resolve(), identity, hit.digest, chunks, time.time_ns())]
        )
    finally:
        cache.close()

    other, stats = await push(big, url=server.url)  # the server lacks every chunk: ranges are read
    assert stats.files_cached == 0
    assert stats.bytes_read > SIZE  # the first chunks, then the whole file
    assert (other.version, other.digest) == ("v0", first.digest)
    assert other.manifest == first.manifest
    pulled = await pull("big:v0", tmp_path / "pulled", url=server.url)
    assert (pulled / "model.bin").read_bytes() == big.read_bytes()
    # The full read recorded the truth again.
    assert (await push(big, url=server.url))[1].bytes_read == 0


async def test_failed_cache_writes_do_not_affect_the_push(
    big: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds the cache's write lock for the whole push: nothing is recorded."""
    monkeypatch.setattr(hashcache_db, "BUSY_TIMEOUT", 0.05)
    cache = HashCache.open(cache_file().parent, Settings.from_env().chunker)
    assert cache is not None
    cache.close()
    holder = sqlite3.connect(cache_file(), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        art, stats = await push(big)
        assert (art.version, stats.bytes_read) == ("v0", SIZE)
    finally:
        holder.close()
    art, stats = await push(big)
    assert (art.version, stats.bytes_read, stats.files_cached) == ("v0", SIZE, 0)
    assert (await push(big))[1].bytes_read == 0


# -- small files ----------------------------------------------------------------------


async def test_small_files_hit_without_being_opened(store: str, tmp_path: Path) -> None:
    src = tmp_path / "many"
    rnd = random.Random(3)
    sizes = [rnd.randrange(1, 20_000) for _ in range(300)] + [0, MiB]
    paths = [src / f"d{i % 7}" / f"f{i:03}.bin" for i in range(len(sizes))]
    for i, (path, size) in enumerate(zip(paths, sizes, strict=True)):
        write_random(path, size, seed=100 + i)
    settle(*paths)
    total = sum(sizes)

    first, stats = await push(src, name="many")
    assert (stats.bytes_read, stats.files_cached) == (total, 0)
    second, stats = await push(src, name="many")
    assert (stats.bytes_read, stats.files_cached) == (0, len(paths))
    assert (second.version, second.digest) == ("v0", first.digest)

    write_random(paths[5], sizes[5], seed=999)  # same size, new bytes
    third, stats = await push(src, name="many")
    assert (stats.bytes_read, stats.files_cached) == (sizes[5], len(paths) - 1)
    assert third.version == "v1"
    pulled = await pull("many:v1", tmp_path / "pulled")
    for path in paths:
        assert (pulled / path.relative_to(src)).read_bytes() == path.read_bytes()


# -- several processes ----------------------------------------------------------------------

WORKER = """
import json, sys, asyncart
src, name = sys.argv[1], sys.argv[2]
with asyncart.init(job_type="worker") as run:
    art = asyncart.Artifact(name, type="dataset")
    art.add_dir(src, policy="immutable")
    run.log_artifact(art)
    s = art.last_transfer
    print(json.dumps({"version": art.version, "digest": art.digest, "read": s.bytes_read}))
"""


def run_workers(jobs: list[tuple[Path, str]]) -> list[dict[str, object]]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(src), name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        for src, name in jobs
    ]
    results = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=180)
            assert p.returncode == 0, err
            assert err == ""  # no warning about the cache either
            results.append(json.loads(out))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return results


def test_processes_pushing_at_once(store: str, tmp_path: Path) -> None:
    """Three processes push at once (one shared large file, their own small files); twice."""
    shared = tmp_path / "shared.bin"
    write_random(shared, 12 * MiB, seed=7)
    jobs = []
    paths = [shared]
    for w in range(3):
        src = tmp_path / f"w{w}"
        os.link(shared, (src.mkdir(), src / "shared.bin")[1])
        for i in range(150):
            paths.append(src / f"s{i:03}.txt")
            write_random(paths[-1], 2_000 + i, seed=w * 1000 + i)
        jobs.append((src, f"set-{w}"))
    settle(*paths)

    cold = run_workers(jobs)
    assert [r["version"] for r in cold] == ["v0"] * 3
    warm = run_workers(jobs)
    assert [(r["version"], r["read"]) for r in warm] == [("v0", 0)] * 3
    assert [r["digest"] for r in warm] == [r["digest"] for r in cold]


# -- the cache on its own -------------------------------------------------------------


def _hashed(path: Path, checked_ns: int | None = None) -> HashedFile:
    identity = FileIdentity.of(os.stat(path))
    data = path.read_bytes()
    digest = blake3.blake3(data).hexdigest()
    now = time.time_ns() if checked_ns is None else checked_ns
    return HashedFile(path, identity, digest, [ChunkRef(digest, len(data))], now)


def test_keys_are_path_stat_and_chunker(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    write_random(path, 1000, seed=1)
    settle(path)
    spec = Settings.from_env().chunker
    cache = HashCache.open(tmp_path / "c", spec)
    assert cache is not None
    entry = _hashed(path)
    assert cache.remember([entry]) == 1
    (hit,) = cache.lookup([(path, entry.identity)])
    assert hit is not None and hit.digest == entry.digest and hit.chunks == tuple(entry.chunks)
    cache.close()

    other = HashCache.open(tmp_path / "c", ChunkerSpec.fixed(MiB))
    assert other is not None
    assert other.lookup([(path, entry.identity)]) == [None]  # another chunker: a miss
    other.close()

    cache = HashCache.open(tmp_path / "c", spec)
    assert cache is not None
    moved = tmp_path / "b.bin"
    os.link(path, moved)  # same inode and bytes, another path (and a new ctime for both)
    stat_now = FileIdentity.of(os.stat(path))
    assert cache.lookup([(path, stat_now), (moved, stat_now)]) == [None, None]
    # The identity the file was added with must still be its stat now.
    assert cache.lookup([(path, entry.identity)]) == [None]
    cache.close()


def test_reads_of_a_just_changed_file_are_not_recorded(tmp_path: Path) -> None:
    path = tmp_path / "fresh.bin"
    write_random(path, 1000, seed=2)
    cache = HashCache.open(tmp_path / "c", Settings.from_env().chunker)
    assert cache is not None
    ctime = os.stat(path).st_ctime_ns
    # Checked in the same clock tick as the last write: a later write could keep the stat.
    assert cache.remember([_hashed(path, checked_ns=ctime + 1_000_000)]) == 0
    assert cache.lookup([(path, FileIdentity.of(os.stat(path)))]) == [None]
    cache.close()


def test_damaged_row_is_a_miss_and_dropped(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    write_random(path, 5000, seed=3)
    settle(path)
    cache = HashCache.open(tmp_path / "c", Settings.from_env().chunker)
    assert cache is not None
    entry = _hashed(path)
    assert cache.remember([entry]) == 1
    with sqlite3.connect(cache.path, isolation_level=None) as conn:
        conn.execute("UPDATE files SET digest = zeroblob(32)")  # a flipped value, valid SQLite
    conn.close()
    assert cache.lookup([(path, entry.identity)]) == [None]
    cache.close()
    with sqlite3.connect(tmp_path / "c" / FILE_NAME) as conn:
        assert conn.execute("SELECT count(*) FROM files").fetchone() == (0,)
    conn.close()


def test_rows_are_bounded_least_recently_used_first(tmp_path: Path) -> None:
    paths = []
    for i in range(25):
        paths.append(tmp_path / "src" / f"f{i:02}")
        write_random(paths[-1], 100 + i, seed=i)
    settle(*paths)
    cache = HashCache.open(tmp_path / "c", Settings.from_env().chunker, max_entries=10)
    assert cache is not None
    for path in paths:  # one push per file: each row younger than the one before
        assert cache.remember([_hashed(path)]) == 1
    cache.close()
    with sqlite3.connect(tmp_path / "c" / FILE_NAME) as conn:
        kept = sorted(os.fsdecode(p) for (p,) in conn.execute("SELECT path FROM files"))
    conn.close()
    assert kept == [str(p) for p in paths[-9:]]  # pruned to 90 % of the bound, oldest first
