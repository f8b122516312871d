"""Streaming for data loaders: ``artifact.iter_files(prefix)`` yields files in manifest order
with bounded prefetch; bytes are counted at the server through a proxy, never timed."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

import asyncart
from asyncart import aio
from asyncart.errors import ConfigError
from tests.support.fault_proxy import FaultProxy, running_fault_proxy
from tests.support.live_server import LiveServer

MiB = 1 << 20
PACKS = "/v1/packs/"
PREFETCH = 3 * MiB  # batches of 1 MiB: 20 small files each


@pytest.fixture
def proxy(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    with running_fault_proxy(server.url) as p:
        monkeypatch.setenv("ASYNCART_URL", p.url)
        yield p


def _dataset() -> dict[str, bytes]:
    rng = random.Random(7)
    files = {f"train/{i:03d}.bin": rng.randbytes(50_000) for i in range(100)}
    files["train/zz-large.bin"] = rng.randbytes(12 * MiB)  # over a batch: read lazily
    files["test/a.bin"] = b"held out"
    for path, data in files.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data)
    return files


def _log() -> asyncart.Artifact:
    with asyncart.init(job_type="prep") as run:
        art = asyncart.Artifact("frames", type="dataset")
        art.add_dir("train", name="train")
        art.add_dir("test", name="test")
        run.log_artifact(art, wait=True)
    return asyncart.Api().artifact("frames:latest")


def test_files_stream_in_order_with_bounded_prefetch(proxy: FaultProxy) -> None:
    files = _dataset()
    art = _log()
    before = proxy.bytes_sent("GET", PACKS)
    seen: list[str] = []
    for name, f in art.iter_files("train/", prefetch=PREFETCH):
        if not seen:  # the loop starts long before the 17 MiB have arrived
            assert proxy.bytes_sent("GET", PACKS) - before <= PREFETCH + MiB
        seen.append(name)
        if name == "train/zz-large.bin":
            f.seek(5 * MiB)
            assert f.read(1000) == files[name][5 * MiB : 5 * MiB + 1000]
        else:
            assert f.read() == files[name]
    assert seen == sorted(p for p in files if p.startswith("train/"))
    # every small file once, and of the large one only what was read (a chunk or two)
    small = 100 * 50_000
    assert small <= proxy.bytes_sent("GET", PACKS) - before <= small + 2 * MiB


def test_leaving_the_loop_early_stops_the_fetching(proxy: FaultProxy) -> None:
    _dataset()
    art = _log()
    before = proxy.bytes_sent("GET", PACKS)
    stream = art.iter_files(prefetch=PREFETCH)
    for count, (_, f) in enumerate(stream):
        f.read()
        if count == 1:
            break
    stream.close()  # what a `for` leaving it does once the generator is dropped
    after = proxy.bytes_sent("GET", PACKS) - before
    assert after <= PREFETCH + MiB, after  # not the 17 MiB of the whole version


def test_bad_arguments_are_refused_at_once(proxy: FaultProxy) -> None:
    _dataset()
    art = _log()
    with pytest.raises(ConfigError, match="prefetch must be at least 1 MiB"):
        art.iter_files(prefetch=1000)


async def test_the_async_stream(proxy: FaultProxy) -> None:
    files = _dataset()
    async with await aio.init(job_type="prep") as run:
        art = aio.Artifact("aframes", type="dataset")
        art.add_dir("train", name="train")
        await run.log_artifact(art)
    async with aio.Api() as api:
        stored = await api.artifact("aframes:latest")
        got: dict[str, bytes] = {}
        async with stored.iter_files("train/0", prefetch=PREFETCH) as stream:
            async for name, f in stream:
                got[name] = f.read() if isinstance(f, io.BytesIO) else await f.read()
    assert got == {p: d for p, d in files.items() if p.startswith("train/0")}
