"""Lazy reads and the download cache (issue 18): ``open(path)`` reads a file the cache holds
whole from its blob, checking every chunk; a damaged blob is discarded and the bytes come
from the server; an open file's blob survives ``asyncart cache clear`` and eviction.

A live server behind the fault proxy, which counts the pack bytes it relays; the cache
directory is the per-test one ``tests/conftest.py`` sets (ASYNCART_CACHE_DIR).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import blake3
import pytest

import asyncart
from asyncart import aio
from asyncart.client.cache import BlobCache
from asyncart.config import Settings
from tests.support.cli import run_cli
from tests.support.fault_proxy import FaultProxy, running_fault_proxy
from tests.support.live_server import LiveServer
from tests.support.transfers import use_small_transfers

MiB = 1 << 20
PACKS = "/v1/packs/"
BIG = 3 * MiB + 17


@pytest.fixture(autouse=True)
def small_transfers(monkeypatch: pytest.MonkeyPatch) -> None:
    use_small_transfers(monkeypatch, MiB)


@pytest.fixture
def data(server: LiveServer) -> bytes:
    """``model:v0`` holding ``model.bin`` (BIG random bytes, several chunks)."""
    blob = random.Random(18).randbytes(BIG)
    Path("src").mkdir()
    Path("src/model.bin").write_bytes(blob)
    run = asyncart.init(job_type="train", url=server.url)
    art = asyncart.Artifact("model", type="model")
    art.add_dir("src")
    run.log_artifact(art)
    run.finish()
    return blob


def _cache() -> BlobCache:
    return BlobCache(Settings.from_env().cache_dir, None)


def _blob(data: bytes) -> Path:
    cache = _cache()
    try:
        return cache.blob_path(blake3.blake3(data).hexdigest())
    finally:
        cache.close()


def _indexed(data: bytes) -> int | None:
    cache = _cache()
    try:
        return cache.index.size_of(blake3.blake3(data).hexdigest())
    finally:
        cache.close()


async def test_after_a_pull_open_reads_from_the_cache(server: LiveServer, data: bytes) -> None:
    async with FaultProxy(server.url) as proxy, aio.Api(url=proxy.url) as api:
        art = await api.artifact("model:v0")
        await art.download("first")
        pulled = proxy.bytes_sent("GET", PACKS)
        assert pulled >= BIG
        async with await art.open("model.bin") as f:
            f.seek(BIG // 2)
            middle = await f.read(MiB)
            f.seek(0)
            whole = await f.read()
        assert middle == data[BIG // 2 : BIG // 2 + MiB] and whole == data
        assert proxy.bytes_sent("GET", PACKS) == pulled  # not one pack byte
        async with await art.open("model.bin", skip_cache=True) as f:
            assert await f.read(100) == data[:100]
        assert proxy.bytes_sent("GET", PACKS) > pulled  # skip_cache: over the network


async def test_a_file_not_in_the_cache_is_read_over_the_network_and_not_stored(
    server: LiveServer, data: bytes
) -> None:
    async with FaultProxy(server.url) as proxy, aio.Api(url=proxy.url) as api:
        art = await api.artifact("model:v0")
        async with await art.open("model.bin") as f:
            assert await f.read() == data
        assert proxy.bytes_sent("GET", PACKS) >= BIG
    assert _indexed(data) is None and not _blob(data).exists()  # a read never fills it


async def test_a_corrupted_cache_blob_is_discarded_and_read_from_the_server(
    server: LiveServer, data: bytes
) -> None:
    async with FaultProxy(server.url) as proxy, aio.Api(url=proxy.url) as api:
        art = await api.artifact("model:v0")
        await art.download("first")
        pulled = proxy.bytes_sent("GET", PACKS)
        blob = _blob(data)
        blob.chmod(0o644)
        damaged = bytearray(blob.read_bytes())
        damaged[BIG - 5] ^= 0xFF  # in the last chunk
        blob.write_bytes(bytes(damaged))
        async with await art.open("model.bin") as f:
            assert await f.read(MiB) == data[:MiB]  # intact chunks: from the blob
            assert proxy.bytes_sent("GET", PACKS) == pulled
            f.seek(BIG - MiB)
            assert await f.read() == data[BIG - MiB :]  # the bad chunk: from the server
        assert proxy.bytes_sent("GET", PACKS) > pulled
    assert not blob.exists() and _indexed(data) is None  # the damaged entry is gone


async def test_an_open_files_blob_survives_cache_clear_and_eviction(
    server: LiveServer, data: bytes
) -> None:
    async with FaultProxy(server.url) as proxy, aio.Api(url=proxy.url) as api:
        art = await api.artifact("model:v0")
        await art.download("first")
        blob = _blob(data)
        f = await art.open("model.bin")
        try:
            cleared = run_cli("cache", "clear", "--json")  # another process
            assert cleared.returncode == 0, cleared.stderr
            assert json.loads(cleared.stdout)["in_use"] == 1
            cache = _cache()
            try:
                assert cache.evict(max_size=0).busy == 1
            finally:
                cache.close()
            assert blob.exists() and _indexed(data) == BIG
            # A pull of the same file meanwhile shares the entry: no wait, no bytes.
            before = proxy.bytes_sent("GET", PACKS)
            await (await api.artifact("model:v0")).download("second")
            assert proxy.bytes_sent("GET", PACKS) == before
            assert Path("second/model.bin").read_bytes() == data
            assert await f.read() == data
            assert proxy.bytes_sent("GET", PACKS) == before
        finally:
            await f.aclose()
    cleared = run_cli("cache", "clear", "--json")
    assert cleared.returncode == 0, cleared.stderr
    assert json.loads(cleared.stdout)["in_use"] == 0
    assert not blob.exists()


def test_the_sync_open_reads_from_the_cache_too(server: LiveServer, data: bytes) -> None:
    with running_fault_proxy(server.url) as proxy:
        api = asyncart.Api(url=proxy.url)
        art = api.artifact("model:v0")
        art.download("first")
        pulled = proxy.bytes_sent("GET", PACKS)
        with art.open("model.bin") as f:
            assert f.read() == data
        assert proxy.bytes_sent("GET", PACKS) == pulled
