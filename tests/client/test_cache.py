"""The download cache (issue 18): a second pull moves only the manifest, eight processes
fetch each byte once, damaged entries are refetched, the budget holds, locks are respected.

A live server behind the fault proxy, which counts the pack bytes it relays; the cache
directory is the per-test one ``tests/conftest.py`` sets (ASYNCART_CACHE_DIR).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import blake3
import pytest

import asyncart
from asyncart import aio
from asyncart.client.cache import BlobCache
from asyncart.config import Settings
from asyncart.errors import ConfigError
from tests.support.fault_proxy import FaultProxy, running_fault_proxy
from tests.support.live_server import LiveServer
from tests.support.transfers import use_small_transfers

MiB = 1 << 20
PACKS = "/v1/packs/"
BIG = 3 * MiB + 17
DEADLINE = 120.0


@pytest.fixture(autouse=True)
def small_transfers(monkeypatch: pytest.MonkeyPatch) -> None:
    use_small_transfers(monkeypatch, MiB)


def _log(server: LiveServer, files: dict[str, bytes], name: str = "model") -> None:
    src = Path(f"src-{name}")
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    run = asyncart.init(job_type="train", url=server.url)
    art = asyncart.Artifact(name, type="model")
    art.add_dir(src)
    run.log_artifact(art)
    run.finish()


@pytest.fixture
def files(server: LiveServer) -> dict[str, bytes]:
    rng = random.Random(18)
    data = {"model.bin": rng.randbytes(BIG), "conf/small.json": rng.randbytes(300)}
    _log(server, data)
    return data


async def test_a_budget_of_zero_turns_the_cache_off(
    server: LiveServer, files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``ASYNCART_CACHE_MAX_SIZE=0`` a pull neither fills nor reads the cache: a
    second pull fetches the bytes again."""
    monkeypatch.setenv("ASYNCART_CACHE_MAX_SIZE", "0")
    async with FaultProxy(server.url) as proxy, aio.Api(url=proxy.url) as api:
        await (await api.artifact("model:v0")).download("first")
        first = proxy.bytes_sent(path=PACKS)
        assert first >= BIG
        again = await api.artifact("model:v0")
        await again.download("second")
        assert proxy.bytes_sent(path=PACKS) == 2 * first
    stats = again.last_transfer
    assert stats is not None and stats.cache_hits == 0
    assert not (Settings.from_env().cache_dir / "blobs").exists()
    assert _same(Path("second"), files)


async def test_the_cache_is_on_by_default(
    server: LiveServer, files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ASYNCART_CACHE_MAX_SIZE")
    async with FaultProxy(server.url) as proxy, aio.Api(url=proxy.url) as api:
        await (await api.artifact("model:v0")).download("first")
        first = proxy.bytes_sent(path=PACKS)
        await (await api.artifact("model:v0")).download("second")
        assert proxy.bytes_sent(path=PACKS) == first  # the second pull: from the cache
    assert _same(Path("second"), files)


def _cache() -> BlobCache:
    return BlobCache(Settings.from_env().cache_dir, None)


def _edit_in_place(path: Path) -> None:
    """What ``torch.save`` into an existing file does: rewrite its bytes, same inode."""
    with open(path, "r+b") as f:
        f.write(b"edited")


def _same(root: Path, files: dict[str, bytes]) -> bool:
    return all((root / rel).read_bytes() == data for rel, data in files.items())


async def test_a_second_pull_into_a_new_directory_moves_only_the_manifest(
    server: LiveServer, files: dict[str, bytes]
) -> None:
    async with FaultProxy(server.url) as proxy, aio.Api(url=proxy.url) as api:
        art = await api.artifact("model:v0")
        await art.download("first")
        first = proxy.bytes_sent(path=PACKS)
        assert first >= BIG  # the first pull fetched the bytes (and filled the cache)
        again = await api.artifact("model:v0")
        await again.download("second")
        assert proxy.bytes_sent(path=PACKS) == first  # nothing more from the packs
        assert proxy.count("POST", "/v1/chunks") == 1  # and no locate for the second pull
    stats = again.last_transfer
    assert stats is not None and stats.bytes_downloaded == 0
    assert (stats.cache_hits, stats.bytes_from_cache) == (2, BIG + 300)
    assert _same(Path("second"), files)
    # A pulled file is its own inode: editing it in place leaves the cache entry intact.
    _edit_in_place(Path("second/model.bin"))
    cache = _cache()
    try:
        digest = blake3.blake3(files["model.bin"]).hexdigest()
        blob = cache.blob_path(digest)
        assert blob.read_bytes() == files["model.bin"]
        assert blob.stat().st_mode & 0o777 == 0o444
        totals = cache.totals()
        assert (totals.entries, totals.bytes, totals.hits, totals.misses) == (2, BIG + 300, 2, 2)
    finally:
        cache.close()


async def test_skip_cache_neither_reads_nor_fills_the_cache(
    server: LiveServer, files: dict[str, bytes]
) -> None:
    async with FaultProxy(server.url) as proxy, aio.Api(url=proxy.url) as api:
        await (await api.artifact("model:v0")).download("a", skip_cache=True)
        one = proxy.bytes_sent(path=PACKS)
        assert not (Settings.from_env().cache_dir / "blobs").exists()  # not filled
        await (await api.artifact("model:v0")).download("b")  # a miss: fetched, stored
        assert proxy.bytes_sent(path=PACKS) == 2 * one
        await (await api.artifact("model:v0")).download("c", skip_cache=True)  # not read
        assert proxy.bytes_sent(path=PACKS) == 3 * one
        entry = (await api.artifact("model:v0")).get_entry("model.bin")
        await entry.download("d", skip_cache=True)
        assert proxy.bytes_sent(path=PACKS) > 3 * one
        await entry.download("e")  # from the cache
        assert proxy.bytes_sent(path=PACKS) < 4 * one
    for root in ("a", "b", "c"):
        assert _same(Path(root), files)
    assert Path("e/model.bin").read_bytes() == files["model.bin"]


@pytest.mark.parametrize("damage", ["flipped", "truncated", "removed"])
async def test_a_damaged_cache_entry_is_detected_and_refetched(
    server: LiveServer, files: dict[str, bytes], damage: str
) -> None:
    digest = blake3.blake3(files["model.bin"]).hexdigest()
    async with FaultProxy(server.url) as proxy, aio.Api(url=proxy.url) as api:
        await (await api.artifact("model:v0")).download("first")
        first = proxy.bytes_sent(path=PACKS)
        cache = _cache()
        blob = cache.blob_path(digest)
        cache.close()
        blob.chmod(0o644)
        if damage == "flipped":
            data = bytearray(blob.read_bytes())
            data[BIG // 2] ^= 0xFF
            blob.write_bytes(bytes(data))
        elif damage == "truncated":  # a torn entry
            os.truncate(blob, MiB)
        else:
            blob.unlink()
        art = await api.artifact("model:v0")
        await art.download("second")
        refetched = proxy.bytes_sent(path=PACKS) - first
    assert BIG <= refetched < first  # the big file again; the small one from the cache
    assert _same(Path("second"), files)
    assert art.last_transfer is not None and art.last_transfer.cache_hits == 1
    assert blob.read_bytes() == files["model.bin"]  # stored again, whole


async def test_an_unfinished_entry_is_never_used(
    server: LiveServer, files: dict[str, bytes]
) -> None:
    """What a crash mid-store leaves (a temp file, or a blob the index never heard of)."""
    digest = blake3.blake3(files["model.bin"]).hexdigest()
    cache = _cache()
    cache.tmp.mkdir(parents=True)
    (cache.tmp / f"{digest}.1.dead").write_bytes(files["model.bin"][:MiB])
    orphan = cache.blob_path(digest)
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"not the file")  # renamed into place, the index row never written
    cache.close()
    async with FaultProxy(server.url) as proxy, aio.Api(url=proxy.url) as api:
        await (await api.artifact("model:v0")).download("out")
        assert proxy.bytes_sent(path=PACKS) >= BIG
    assert _same(Path("out"), files)
    assert orphan.read_bytes() == files["model.bin"]


def test_the_embedded_store_bypasses_the_cache() -> None:
    Path("f.bin").write_bytes(random.Random(1).randbytes(100_000))
    run = asyncart.init(job_type="t")
    art = asyncart.Artifact("local", type="data")
    art.add_file("f.bin")
    run.log_artifact(art)
    run.finish()
    path = asyncart.Api().artifact("local:v0").download("out")
    assert Path(path, "f.bin").read_bytes() == Path("f.bin").read_bytes()
    assert not (Settings.from_env().cache_dir / "blobs").exists()


def _pull_args(url: str, out: str) -> list[str]:
    return [sys.executable, "-m", "asyncart", "pull", "model:v0", "--url", url, "-o", out]


def test_eight_processes_pulling_into_eight_directories_fetch_each_byte_once(
    server: LiveServer,
) -> None:
    data = random.Random(8).randbytes(4 * MiB)
    _log(server, {"model.bin": data})
    with running_fault_proxy(server.url) as proxy:
        reference = subprocess.run(
            [*_pull_args(proxy.url, "reference"), "--no-cache", "-q"],
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )
        assert reference.returncode == 0, reference.stderr
        one_pull = proxy.bytes_sent(path=PACKS)
        assert not (Settings.from_env().cache_dir / "blobs").exists()
        procs = [
            subprocess.Popen(
                [*_pull_args(proxy.url, f"out-{i}"), "--json"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(8)
        ]
        try:
            outputs = [p.communicate(timeout=DEADLINE) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        assert [p.returncode for p in procs] == [0] * 8, [err for _, err in outputs]
        eight = proxy.bytes_sent(path=PACKS) - one_pull
    assert eight == one_pull  # the eight together read the packs once
    reports = [json.loads(out) for out, _ in outputs]
    assert sorted(r["bytes_downloaded"] for r in reports) == [0] * 7 + [len(data)]
    assert sorted(r["bytes_from_cache"] for r in reports) == [0] + [len(data)] * 7
    for i in range(8):
        assert Path(f"out-{i}/model.bin").read_bytes() == data


def _filled(cache: BlobCache, sizes: list[int]) -> list[str]:
    """Store files of ``sizes`` (oldest first); their digests."""
    digests = []
    for i, size in enumerate(sizes):
        data = random.Random(i).randbytes(size)
        digest = blake3.blake3(data).hexdigest()
        Path(f"f{i}").write_bytes(data)
        assert cache.store(digest, size, Path(f"f{i}"))
        digests.append(digest)
        time.sleep(0.002)  # distinct last-use times
    return digests


def test_eviction_keeps_the_budget_least_recently_used_first(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "c", 10 * 100_000)
    try:
        digests = _filled(cache, [100_000] * 12)
        cache.index.used([(digests[0], 100_000)], [])  # the oldest is used again
        done = cache.evict(max_size=500_000)
        assert (done.entries, done.bytes, done.busy) == (7, 700_000, 0)
        kept = {d for d in digests if cache.blob_path(d).exists()}
        assert kept == {digests[0], *digests[8:]}
        assert cache.totals().bytes == 500_000 and cache.totals().entries == 5
        assert not cache.store("0" * 64, 2_000_000, Path("f0"))  # larger than the budget
    finally:
        cache.close()


def test_eviction_never_removes_an_entry_a_pull_holds(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "c", 10 * MiB)
    try:
        digests = _filled(cache, [1000] * 4)
        fd = cache.try_lock(digests[0])  # what a running pull holds while it uses it
        assert fd is not None
        other = BlobCache(tmp_path / "c", 10 * MiB)  # another process's view
        try:
            assert other.try_lock(digests[0]) is None
            done = other.clear()
            assert (done.entries, done.busy) == (3, 1)
        finally:
            other.close()
        assert cache.blob_path(digests[0]).exists()
        assert [cache.blob_path(d).exists() for d in digests[1:]] == [False] * 3
        cache.unlock(digests[0], fd)
        assert cache.evict(max_size=0).entries == 1
        assert cache.totals().entries == 0
    finally:
        cache.close()


def test_prune_older_than_walks_only_old_entries(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "c", 10 * MiB)
    try:
        digests = _filled(cache, [1000] * 3)
        old = time.time() - 3 * 86400
        cache.index.conn.execute(
            "UPDATE blobs SET last_used = ? WHERE digest = ?", (old, digests[1])
        )
        done = cache.evict(older_than=86400)
        assert done.entries == 1 and not cache.blob_path(digests[1]).exists()
        assert cache.totals().entries == 2
    finally:
        cache.close()


def test_cache_size_settings() -> None:
    assert Settings.from_env({}).cache_max_size is None  # on by default: auto
    assert Settings.from_env({"ASYNCART_CACHE_MAX_SIZE": "auto"}).cache_max_size is None
    assert Settings.from_env({"ASYNCART_CACHE_MAX_SIZE": "20GB"}).cache_max_size == 20 * 10**9
    assert Settings.from_env({"ASYNCART_CACHE_MAX_SIZE": "500MiB"}).cache_max_size == 500 * MiB
    assert Settings.from_env({"ASYNCART_CACHE_MAX_SIZE": "0"}).cache_max_size == 0
    with pytest.raises(ConfigError, match=r"ASYNCART_CACHE_MAX_SIZE.*500MiB"):
        Settings.from_env({"ASYNCART_CACHE_MAX_SIZE": "lots"})
    budget = BlobCache(Path("c"), None)
    try:
        st = os.statvfs(".")
        assert budget.max_size == min(st.f_frsize * st.f_blocks // 10, 50 << 30)
    finally:
        budget.close()


def test_shared_readers_keep_an_entry_until_the_last_lets_go(tmp_path: Path) -> None:
    """What lazy files hold (``cached_chunk_source.py``): the lock shared, its file removed
    only by the last reader, so eviction never slips in between two readers."""
    cache = BlobCache(tmp_path / "c", 10 * MiB)
    try:
        (digest,) = _filled(cache, [1000])
        first, second = cache.try_share(digest), cache.try_share(digest)
        assert first is not None and second is not None
        assert cache.try_lock(digest) is None  # a pull or eviction cannot have it
        cache.unshare(digest, first)
        assert cache.lock_path(digest).exists()  # the other reader still holds this file
        assert cache.evict(max_size=0).busy == 1
        cache.unshare(digest, second)
        assert not cache.lock_path(digest).exists()
        held = cache.try_lock(digest)
        assert held is not None and cache.try_share(digest) is None  # exclusive excludes readers
        cache.unlock(digest, held)
        assert cache.evict(max_size=0).entries == 1
    finally:
        cache.close()


def test_a_holder_that_locks_just_after_eviction_looked_sees_right_bytes_or_a_miss(
    tmp_path: Path,
) -> None:
    """Eviction unlinks a blob without locking when no lock file exists (``_remove_unheld``):
    a process that locks right after that check either already has the blob open (its
    descriptor keeps the verified bytes) or opens it after the unlink and sees a miss."""
    cache = BlobCache(tmp_path / "c", 10 * MiB)
    try:
        early, late = _filled(cache, [1000, 1000])
        opened = os.open(cache.blob_path(early), os.O_RDONLY)  # a reader, opened in time
        assert not cache.lock_path(early).exists()  # what eviction checks first
        leftover = cache.lock_path(late)  # a lock file a crashed holder left behind
        leftover.parent.mkdir(parents=True, exist_ok=True)
        leftover.touch()
        done = cache.evict(max_size=0)
        assert (done.entries, done.busy) == (2, 0)
        assert not leftover.exists()  # taken and removed the careful way
        try:
            data = os.pread(opened, 2000, 0)
        finally:
            os.close(opened)
        assert blake3.blake3(data).hexdigest() == early
        held = cache.try_lock(early)  # a pull locking once eviction has unlinked it
        assert held is not None
        try:
            assert not cache.place(early, 1000, tmp_path / "part", tmp_path / "final")
        finally:
            cache.unlock(early, held)
        assert not (tmp_path / "final").exists() and cache.totals().entries == 0
    finally:
        cache.close()
