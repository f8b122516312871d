"""The download cache's tee (``client/cache_tee.py``): a pull writes each fetched file's
cache entry from the bytes it verified, never reading the pulled file back; a failing
cache never fails the pull; a failed pull leaves no temp files; a delta or resumed pull falls
back to the copy.

"Never read back" is what the kernel saw: inotify(7) events of the pull's directory
(``tests/support/file_events.py``) show whether anything opened the file after the
pull renamed it into place (the copy-based store opens it there to copy and hash it).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import anyio
import blake3
import pytest

import asyncart
from asyncart import aio
from asyncart.client.cache import BlobCache, reflink_works
from asyncart.config import Settings
from asyncart.errors import IntegrityError
from tests.support.fault_proxy import Fault, FaultProxy
from tests.support.file_events import DirectoryEvents, opened_after_rename
from tests.support.live_server import LiveServer
from tests.support.transfers import use_small_transfers

MiB = 1 << 20
PACKS = "/v1/packs/"
BIG = 3 * MiB + 17
TEE_WARNING = "cannot write the download cache's copy"
DEADLINE = 60.0


@pytest.fixture(autouse=True)
def one_range_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """1 MiB ranges, one in flight: the big file spans four, fetched in pack order."""
    use_small_transfers(monkeypatch, MiB, one_at_a_time=True)


def _log(files: dict[str, bytes], url: str, name: str = "model") -> None:
    src = Path(f"src-{name}")
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    run = asyncart.init(job_type="train", url=url)
    art = asyncart.Artifact(name, type="model")
    art.add_dir(src)
    run.log_artifact(art)
    run.finish()


@pytest.fixture
def files(server: LiveServer) -> dict[str, bytes]:
    rng = random.Random(81)
    data = {"model.bin": rng.randbytes(BIG), "small.json": rng.randbytes(300)}
    _log(data, server.url)
    return data


def _digest(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def _cache_dir() -> Path:
    return Settings.from_env().cache_dir


def _entries() -> dict[str, int]:
    """The index's entries (digest -> size), each checked against its blob: present,
    of that size, hashing to its name (nothing torn or damaged was stored)."""
    cache = BlobCache(_cache_dir(), None)
    try:
        rows = cache.index.conn.execute("SELECT digest, size FROM blobs").fetchall()
        for digest, size in rows:
            data = cache.blob_path(digest).read_bytes()
            assert (len(data), _digest(data)) == (size, digest)
        return dict(rows)
    finally:
        cache.close()


def _temps() -> list[str]:
    tmp = _cache_dir() / "blobs" / "tmp"
    return sorted(p.name for p in tmp.iterdir()) if tmp.is_dir() else []


async def _until(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(DEADLINE):
        while not condition():  # noqa: ASYNC110 (a state in another process)
            await anyio.sleep(0.01)


def _hold_the_second_range(proxy: FaultProxy) -> Fault:
    """Hold the second pack read until the test opens the gate: by then the first range
    is written, teed and credited (one range at a time), and nothing more is."""
    return proxy.stall(DEADLINE, method="GET", path=PACKS, skip=1, gate=asyncio.Event())


async def _second_range_held(proxy: FaultProxy) -> None:
    await _until(lambda: proxy.count("GET", PACKS) >= 2)


async def test_a_pull_fills_the_cache_without_reading_the_pulled_file_back(
    server: LiveServer, files: dict[str, bytes]
) -> None:
    Path("first").mkdir()
    async with FaultProxy(server.url) as proxy, aio.Api(url=proxy.url) as api:
        with DirectoryEvents(Path("first")) as watch:
            await (await api.artifact("model:v0")).download("first")
            events = watch.read()
        first = proxy.bytes_sent(path=PACKS)
        assert first >= BIG
        again = await api.artifact("model:v0")
        await again.download("second")
        assert proxy.bytes_sent(path=PACKS) == first  # the second pull: from the cache
    # Neither pulled file was opened once renamed into place: their entries were written
    # from the pull's own verified buffers, as the bytes arrived.
    assert opened_after_rename(events, "model.bin") == 0
    assert opened_after_rename(events, "small.json") == 0
    assert _entries() == {_digest(d): len(d) for d in files.values()}
    blob = BlobCache(_cache_dir(), None).blob_path(_digest(files["model.bin"]))
    assert blob.read_bytes() == files["model.bin"] and blob.stat().st_mode & 0o777 == 0o444
    assert _temps() == []
    stats = again.last_transfer
    assert stats is not None and (stats.cache_hits, stats.bytes_downloaded) == (2, 0)
    assert all((Path("second") / rel).read_bytes() == d for rel, d in files.items())


async def test_a_cache_that_fails_mid_pull_never_fails_the_pull_nor_stores_a_torn_entry(
    server: LiveServer, files: dict[str, bytes], caplog: pytest.LogCaptureFixture
) -> None:
    """After the first range, ``blobs/tmp`` becomes a file: every later write of the
    tee fails (ENOTDIR), as a cache disk gone bad would."""
    tmp = _cache_dir() / "blobs" / "tmp"
    caplog.set_level(logging.WARNING, "asyncart.client.cache")
    async with FaultProxy(server.url) as proxy, aio.Api(url=proxy.url) as api:
        held = _hold_the_second_range(proxy)
        art = await api.artifact("model:v0")
        async with anyio.create_task_group() as tg:
            tg.start_soon(art.download, "out")
            await _second_range_held(proxy)
            assert _temps()  # the tee has started writing
            tmp.rename(tmp.with_name("tmp-gone"))
            tmp.write_bytes(b"not a directory")
            proxy.open_gate(held)
    assert all((Path("out") / rel).read_bytes() == d for rel, d in files.items())
    assert _digest(files["model.bin"]) not in _entries()  # nothing of it stored, torn or not
    assert sum(TEE_WARNING in r.getMessage() for r in caplog.records) == 1  # logged once


@pytest.mark.parametrize("how", ["corrupted", "cancelled"])
async def test_a_failed_pull_leaves_no_cache_temp_files(
    server: LiveServer, files: dict[str, bytes], how: str
) -> None:
    async with FaultProxy(server.url) as proxy, aio.Api(url=proxy.url) as api:
        held = _hold_the_second_range(proxy)
        proxy.corrupt(at_byte=100, method="GET", path=PACKS, times=100)  # from the third on
        art = await api.artifact("model:v0")
        failed: list[BaseException] = []

        async def pull() -> None:
            try:
                await art.download("out")
            except IntegrityError as exc:
                failed.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(pull)
            await _second_range_held(proxy)
            assert _temps()  # the tee has temp files
            if how == "cancelled":
                tg.cancel_scope.cancel()
            else:
                proxy.open_gate(held)
        assert failed if how == "corrupted" else not failed
    assert _temps() == []
    assert _entries() == {}
    assert not Path("out/model.bin").exists()


async def test_a_delta_pull_stores_its_file_by_copy(
    server: LiveServer, files: dict[str, bytes]
) -> None:
    """Chunks copied from the file already there never reached the tee: the pulled file
    is copied into the cache instead (and, that copy being a read, the events show it)."""
    changed = bytearray(files["model.bin"])
    changed[2 * MiB : 2 * MiB + 10] = b"0123456789"
    _log({"model.bin": bytes(changed), "small.json": files["small.json"]}, server.url)
    async with aio.Api(url=server.url) as api:
        await (await api.artifact("model:v0")).download("out")
        with DirectoryEvents(Path("out")) as watch:
            art = await api.artifact("model:v1")
            await art.download("out")
            events = watch.read()
    stats = art.last_transfer
    assert stats is not None and stats.bytes_reused > 0  # a delta pull
    assert Path("out/model.bin").read_bytes() == bytes(changed)
    assert opened_after_rename(events, "model.bin") >= 1  # the copy-based store read it
    assert _entries()[_digest(bytes(changed))] == BIG
    assert _temps() == []


async def test_a_resumed_pull_stores_its_file_by_copy(
    server: LiveServer, files: dict[str, bytes]
) -> None:
    """A pull cancelled after its first range keeps its part file; the next pull keeps
    those chunks (never teed) and stores the file by copy."""
    Path("out").mkdir()
    async with FaultProxy(server.url) as proxy, aio.Api(url=proxy.url) as api:
        _hold_the_second_range(proxy)
        art = await api.artifact("model:v0")
        async with anyio.create_task_group() as tg:
            tg.start_soon(art.download, "out")
            await _second_range_held(proxy)
            tg.cancel_scope.cancel()
        with DirectoryEvents(Path("out")) as watch:
            again = await api.artifact("model:v0")
            await again.download("out")
            events = watch.read()
    stats = again.last_transfer
    assert stats is not None and stats.bytes_resumed > 0  # a resumed pull
    assert Path("out/model.bin").read_bytes() == files["model.bin"]
    assert opened_after_rename(events, "model.bin") >= 1  # the copy-based store read it
    assert _entries()[_digest(files["model.bin"])] == BIG
    assert _temps() == []


#: Read at import: the suite's clean environment drops every ASYNCART_* before a test.
REFLINK_DIR = os.environ.get("ASYNCART_TEST_REFLINK_DIR")


def _reflink_dir() -> Path | None:
    """A directory on a file system that clones (btrfs, XFS with reflink): the one named
    by ``ASYNCART_TEST_REFLINK_DIR`` (e.g. a loop-mounted image), else none."""
    return Path(REFLINK_DIR) if REFLINK_DIR and reflink_works(Path(REFLINK_DIR)) else None


def _used(path: Path) -> int:
    os.sync()
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


async def test_on_a_file_system_that_clones_the_entry_shares_the_pulled_files_extents(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cache and target on btrfs/XFS: nothing is teed (no second copy written); the
    entry is a reflink of the pulled file, so a pull with the cache costs 1x on disk,
    and a hit costs nothing more."""
    where = _reflink_dir()
    if where is None:
        pytest.skip(
            "needs a reflink file system: set ASYNCART_TEST_REFLINK_DIR to a directory on "
            "btrfs or XFS (e.g. a loop-mounted image); this machine's tmp is not one"
        )
    base = Path(tempfile.mkdtemp(prefix="asyncart-reflink-", dir=where))
    try:
        monkeypatch.setenv("ASYNCART_CACHE_DIR", str(base / "cache"))
        size = 8 * MiB
        data = random.Random(7).randbytes(size)
        _log({"weights.bin": data}, server.url, name="weights")
        before = _used(base)
        async with aio.Api(url=server.url) as api:
            (base / "first").mkdir()
            with DirectoryEvents(base / "first") as watch:
                await (await api.artifact("weights:v0")).download(base / "first")
                events = watch.read()
            first = _used(base)
            await (await api.artifact("weights:v0")).download(base / "second")
            second = _used(base)
        assert (base / "first" / "weights.bin").read_bytes() == data
        assert (base / "second" / "weights.bin").read_bytes() == data
        assert [p.name for p in (base / "cache" / "blobs" / "tmp").iterdir()] == []
        blob = BlobCache(base / "cache", None).blob_path(_digest(data))
        assert blob.read_bytes() == data
        # One copy of the bytes for the pulled file and the entry together (metadata
        # aside), none more for the hit; the entry was cloned from the pulled file.
        assert first - before < size + size // 2, (before, first)
        assert second - first < size // 2, (first, second)
        assert opened_after_rename(events, "weights.bin") == 1  # once, to be cloned
    finally:
        shutil.rmtree(base, ignore_errors=True)
