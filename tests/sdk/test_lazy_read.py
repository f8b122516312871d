"""Lazy reads: ``artifact.open(path)`` fetches only the chunks covering what is read, each
verified; bytes are counted at the server through a proxy, never timed."""

from __future__ import annotations

import io
import json
import random
import shutil
import struct
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import asyncart
from asyncart import aio
from asyncart.errors import EntryNotFound, IntegrityError
from tests.support.fault_proxy import FaultProxy, running_fault_proxy
from tests.support.live_server import LiveServer

MiB = 1 << 20
PACKS = "/v1/packs/"
TENSORS = 64  # of 1 MiB each: a 64 MiB checkpoint


def _safetensors(rng: random.Random) -> tuple[bytes, dict[str, list[int]]]:
    """A file laid out as safetensors is: 8-byte little-endian header length, JSON, data."""
    offsets = {f"layer.{i}": [i * MiB, (i + 1) * MiB] for i in range(TENSORS)}
    header = json.dumps(
        {k: {"dtype": "U8", "shape": [MiB], "data_offsets": v} for k, v in offsets.items()}
    ).encode()
    return struct.pack("<Q", len(header)) + header + rng.randbytes(TENSORS * MiB), offsets


@pytest.fixture
def proxy(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    with running_fault_proxy(server.url) as p:
        monkeypatch.setenv("ASYNCART_URL", p.url)
        yield p


def _log(files: dict[str, bytes], name: str = "ckpt") -> asyncart.Artifact:
    for path, data in files.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data)
    with asyncart.init(job_type="train") as run:
        art = asyncart.Artifact(name, type="model")
        for path in files:
            art.add_file(path, name=path)
        run.log_artifact(art, wait=True)
    return asyncart.Api().artifact(f"{name}:latest")


def test_a_safetensors_header_and_one_tensor_move_a_few_chunks(proxy: FaultProxy) -> None:
    data, offsets = _safetensors(random.Random(1))
    art = _log({"model.safetensors": data})
    before = proxy.bytes_sent("GET", PACKS)
    with art.open("model.safetensors") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        start, end = header["layer.31"]["data_offsets"]
        f.seek(8 + length + start)
        tensor = f.read(end - start)
        assert f.tell() == 8 + length + end
    assert header.keys() == offsets.keys()
    assert tensor == data[8 + length + start : 8 + length + end]
    served = proxy.bytes_sent("GET", PACKS) - before
    # the header's chunk(s) and the ~2 chunks around the tensor (chunks are <= 1 MiB)
    assert MiB <= served <= 5 * MiB, served
    assert served < len(data) // 10


def test_a_sequential_read_is_whole_and_fetched_ahead_in_few_requests(proxy: FaultProxy) -> None:
    data = random.Random(2).randbytes(24 * MiB)
    art = _log({"blob.bin": data})
    chunks = len(art.manifest.stored.get("blob.bin").chunks)  # type: ignore[union-attr]
    requests = proxy.count("GET", PACKS)
    sink = io.BytesIO()
    with art.open("blob.bin") as f, io.BufferedReader(f, buffer_size=64 << 10) as reader:
        shutil.copyfileobj(reader, sink, 64 << 10)
    assert sink.getvalue() == data
    ranged = proxy.count("GET", PACKS) - requests
    assert chunks > 40 and ranged <= chunks // 4, (ranged, chunks)  # read-ahead batched them
    assert proxy.bytes_sent("GET", PACKS) <= len(data) + len(data) // 4  # nothing read twice


def test_zipfile_and_tarfile_read_one_member_without_the_rest(proxy: FaultProxy) -> None:
    rng = random.Random(3)
    members = {"big-1.bin": rng.randbytes(6 * MiB), "small.txt": b"hello\n" * 1000}
    members["big-2.bin"] = rng.randbytes(6 * MiB)
    zipped, tarred = io.BytesIO(), io.BytesIO()
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_STORED) as z:
        for name, body in members.items():
            z.writestr(name, body)
    with tarfile.open(fileobj=tarred, mode="w") as t:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            t.addfile(info, io.BytesIO(body))
    art = _log({"data.zip": zipped.getvalue(), "data.tar": tarred.getvalue()}, "archives")

    before = proxy.bytes_sent("GET", PACKS)
    with art.open("data.zip") as f, zipfile.ZipFile(f) as z:
        assert z.read("small.txt") == members["small.txt"]
    zip_served = proxy.bytes_sent("GET", PACKS) - before
    assert zip_served <= 4 * MiB, zip_served  # central directory + one member, not 12 MiB

    before = proxy.bytes_sent("GET", PACKS)
    with art.open("data.tar") as f, tarfile.open(fileobj=f, mode="r:") as t:
        small = t.extractfile("small.txt")
        assert small is not None and small.read() == members["small.txt"]
    tar_served = proxy.bytes_sent("GET", PACKS) - before
    assert tar_served <= 6 * MiB, tar_served  # the headers' chunks, not both big members


def test_a_corrupted_chunk_is_read_again_and_never_returned(proxy: FaultProxy) -> None:
    data = random.Random(4).randbytes(3 * MiB)
    art = _log({"blob.bin": data})
    proxy.corrupt(at_byte=1000, method="GET", path=PACKS, times=1)
    with art.open("blob.bin") as f:
        assert f.read(4096) == data[:4096]  # the second answer was sound
    assert proxy.injected["corrupt"] == 1

    proxy.corrupt(at_byte=10, method="GET", path=PACKS, times=100)
    with art.open("blob.bin") as f:
        f.seek(2 * MiB)
        with pytest.raises(IntegrityError, match="arrived corrupted"):
            f.read(100)
        assert f.tell() == 2 * MiB  # nothing was returned, the position did not move


def test_open_refuses_what_is_not_a_stored_file(proxy: FaultProxy) -> None:
    art = _log({"a.bin": b"abc"})
    with pytest.raises(EntryNotFound, match=r"has no file 'b\.bin'"):
        art.open("b.bin")
    f = art.open("a.bin")
    assert (f.readable(), f.seekable(), f.writable()) == (True, True, False)
    assert f.read() == b"abc" and f.read() == b""
    f.seek(-1, io.SEEK_END)
    assert f.read(10) == b"c"
    f.close()
    with pytest.raises(ValueError, match="closed"):
        f.read(1)


def test_embedded_store_reads_lazily_too() -> None:
    data = random.Random(5).randbytes(2 * MiB + 123)
    art = _log({"w/blob.bin": data})
    with art.open("w/blob.bin") as f:
        f.seek(MiB)
        assert f.read(1000) == data[MiB : MiB + 1000]
        buf = bytearray(200)
        f.seek(-100, io.SEEK_END)
        assert f.readinto(buf) == 100 and bytes(buf[:100]) == data[-100:]


async def test_the_async_face_reads_the_same_bytes(proxy: FaultProxy) -> None:
    data = random.Random(6).randbytes(MiB + 7)
    Path("blob.bin").write_bytes(data)
    async with await aio.init(job_type="train") as run:
        art = aio.Artifact("asyncblob", type="model")
        art.add_file("blob.bin")
        await run.log_artifact(art)
    async with aio.Api() as api:
        stored = await api.artifact("asyncblob:latest")
        async with await stored.open("blob.bin") as f:
            f.seek(MiB)
            assert await f.read() == data[MiB:]
            f.seek(3)
            buf = bytearray(4)
            assert await f.readinto(buf) == 4 and bytes(buf) == data[3:7]
        assert f.closed
