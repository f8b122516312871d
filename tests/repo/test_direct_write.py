"""Objects written with O_DIRECT: exact bytes and sizes, no page cache left behind, fallback.

The page-cache checks ask ``fincore`` (util-linux) how much of a file the kernel
holds in memory: a file written through the page cache is all resident until
writeback and reclaim, one written with O_DIRECT is not resident at all.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from asyncart.repo.blobstores.direct_write import (
    ALIGNMENT,
    BUFFER_SIZE,
    AlignedBuffers,
    DirectWriter,
)
from asyncart.repo.blobstores.filesystem import FilesystemBlobStore

KEY = "packs/" + "ab" * 32


def _resident_bytes(path: Path) -> int:
    """How many of ``path``'s bytes are in the page cache, by fincore."""
    out = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out.split()[0])


def _write(path: Path, parts: list[bytes], buffers: AlignedBuffers) -> DirectWriter:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        writer = DirectWriter(fd, buffers)
        writer.write(parts)
        assert writer.finish() == sum(map(len, parts))
        os.fsync(fd)
    finally:
        os.close(fd)
    return writer


@pytest.mark.parametrize(
    "size",
    [
        0,
        1,
        ALIGNMENT - 1,
        ALIGNMENT,
        ALIGNMENT + 1,
        BUFFER_SIZE - 1,
        BUFFER_SIZE,
        3 * BUFFER_SIZE + 17,
    ],
)
def test_bytes_and_size_are_exact_whatever_the_alignment(tmp_path: Path, size: int) -> None:
    data = random.Random(size).randbytes(size)
    # Parts of awkward sizes, so copies straddle the buffer's and the blocks' edges.
    cuts = sorted(random.Random(size + 1).sample(range(size + 1), min(size + 1, 7)))
    parts = [data[a:b] for a, b in zip([0, *cuts], [*cuts, size], strict=True)]
    path = tmp_path / "object"
    _write(path, parts, AlignedBuffers())
    assert path.stat().st_size == size
    assert path.read_bytes() == data


@pytest.mark.skipif(shutil.which("fincore") is None, reason="needs util-linux's fincore")
def test_a_direct_write_leaves_nothing_in_the_page_cache(tmp_path: Path) -> None:
    data = random.Random(5).randbytes(3 * BUFFER_SIZE + 1000)
    direct = _write(tmp_path / "direct", [data], AlignedBuffers())
    if not direct.direct:
        pytest.skip(f"the filesystem under {tmp_path} refuses O_DIRECT")
    buffered = tmp_path / "buffered"
    buffered.write_bytes(data)
    assert _resident_bytes(buffered) >= len(data) - ALIGNMENT
    # At most the zero-padded last block may have gone through the cache (truncate).
    assert _resident_bytes(tmp_path / "direct") <= ALIGNMENT


def test_buffers_are_reused_and_the_pool_stays_bounded() -> None:
    pool = AlignedBuffers(size=ALIGNMENT, keep=2)
    taken = [pool.take() for _ in range(4)]
    for buffer in taken:
        pool.give_back(buffer)
    assert sum(not b.closed for b in taken) == 2  # two kept, two unmapped
    again = pool.take()
    assert any(again is b for b in taken)


def test_a_finished_writer_refuses_more_bytes(tmp_path: Path) -> None:
    writer = _write(tmp_path / "object", [b"abc"], AlignedBuffers())
    with pytest.raises(ValueError, match="finished"):
        writer.write([b"more"])
    writer.release()  # idempotent


def test_a_filesystem_without_o_direct_gets_ordinary_writes(tmp_path: Path) -> None:
    # /dev/shm is tmpfs; older kernels refuse O_DIRECT there. Whichever way this
    # kernel answers, the object must come out the same.
    shm = Path("/dev/shm")
    if not shm.is_dir():
        pytest.skip("no /dev/shm")
    data = random.Random(9).randbytes(BUFFER_SIZE + 5)
    path = shm / f"asyncart-test-{os.getpid()}"
    try:
        _write(path, [data[:100], data[100:]], AlignedBuffers())
        assert path.read_bytes() == data
    finally:
        path.unlink(missing_ok=True)


async def test_concurrent_streams_through_the_store_keep_their_bytes(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "store")
    blobs = {
        f"packs/{i:02x}" + "c" * 62: random.Random(i).randbytes(BUFFER_SIZE * 2 + i * 999)
        for i in range(12)
    }

    async def put(key: str, data: bytes) -> None:
        async def parts() -> AsyncIterator[bytes]:
            for start in range(0, len(data), 1 << 20):
                yield data[start : start + (1 << 20)]

        assert await store.put_stream(key, parts()) == len(data)

    async with anyio.create_task_group() as tg:
        for key, data in blobs.items():
            tg.start_soon(put, key, data)
    for key, data in blobs.items():
        assert await store.get_bytes(key) == data
    assert not list((tmp_path / "store" / "tmp").iterdir())


async def test_a_stream_that_fails_returns_its_buffer_and_leaves_no_file(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "store")

    async def failing() -> AsyncIterator[bytes]:
        yield b"x" * (BUFFER_SIZE + 1)
        raise RuntimeError("source broke")

    for _ in range(20):  # more than the pool keeps: a leak would show as many mappings
        with pytest.raises(RuntimeError, match="source broke"):
            await store.put_stream(KEY, failing())
    assert not list((tmp_path / "store" / "tmp").iterdir())
    assert not await store.exists(KEY)
    assert store._buffers.idle == 1  # each failed write gave its buffer back
