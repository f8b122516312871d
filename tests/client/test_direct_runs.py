"""Pulled bytes written with O_DIRECT (whole pages) and through the cache (edges), and
hashed from memory or read back past the cache: every byte lands where it belongs."""

from __future__ import annotations

import itertools
import os
import random
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from asyncart.client import assembly, direct_runs
from asyncart.client.assembly import finalize_all
from asyncart.client.direct_runs import FileWriter, Mirror, open_direct
from asyncart.client.range_writer import RangeWriter
from tests.client.test_range_writer import _feed, _Pack, _part_file, _plan

pytestmark = pytest.mark.skipif(not direct_runs.O_DIRECT, reason="this platform has no O_DIRECT")


@pytest.fixture
def direct_for_all_sizes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every multi-range file is written with O_DIRECT (not only those of 64 MiB and more)."""
    monkeypatch.setattr(direct_runs, "DIRECT_FROM", 1)
    yield
    assert assembly._budget.held == 0  # every byte kept for hashing was given back


def _writer(path: Path) -> FileWriter:
    fd = os.open(path, os.O_WRONLY)
    direct = open_direct(lambda flags: os.open(path, flags))
    if direct < 0:
        os.close(fd)
        pytest.skip(f"the filesystem of {path} refuses O_DIRECT")
    return FileWriter(fd, direct)


@pytest.mark.parametrize("seed", range(4))
def test_runs_at_any_offset_land_exactly(tmp_path: Path, seed: int) -> None:
    rnd = random.Random(seed)
    size = rnd.randrange(1 << 20, 3 << 20)
    expected = rnd.randbytes(size)
    path = tmp_path / "f.bin"
    path.write_bytes(b"")
    cuts = sorted({0, size, *(rnd.randrange(size) for _ in range(40))})
    # Some runs are page-aligned at one or both ends, some shorter than a page.
    cuts = sorted({*cuts, 4096 * 3, 4096 * 5, 4096 * 5 + 10})
    runs = list(itertools.pairwise(cuts))
    rnd.shuffle(runs)  # neighbouring ranges finish in any order
    writer = _writer(path)
    try:
        for start, end in runs:
            data = memoryview(expected)[start:end]
            pieces = sorted({0, len(data), *(rnd.randrange(len(data) + 1) for _ in range(3))})
            views = [data[a:b] for a, b in itertools.pairwise(pieces)]
            writer.write(views, start, end - start)
    finally:
        writer.close()
    assert path.read_bytes() == expected
    assert writer.direct_bytes > size // 2  # most of it bypassed the cache


def test_a_mirror_gets_every_byte_from_the_same_aligned_copy(tmp_path: Path) -> None:
    rnd = random.Random(5)
    size = (3 << 20) + 777  # several aligned blocks, ragged edges
    expected = rnd.randbytes(size)
    paths = [tmp_path / "part.bin", tmp_path / "temp.bin"]
    for p in paths:
        p.write_bytes(b"")
    part, temp = (_writer(p) for p in paths)
    failures: list[Exception] = []
    try:
        for start, end in [(5000, size), (0, 5000)]:
            data = memoryview(expected)[start:end]
            views = [data[: len(data) // 3], data[len(data) // 3 :]]
            part.write(views, start, end - start, Mirror(temp, failures.append))
    finally:
        part.close()
        temp.close()
    assert not failures
    assert paths[0].read_bytes() == expected and paths[1].read_bytes() == expected
    assert temp.direct_bytes > size // 2  # its pages went by DMA from the shared buffer


def test_a_failing_mirror_is_reported_once_and_never_fails_the_write(tmp_path: Path) -> None:
    expected = random.Random(6).randbytes((2 << 20) + 100)
    paths = [tmp_path / "part.bin", tmp_path / "temp.bin"]
    for p in paths:
        p.write_bytes(b"")
    part, temp = (_writer(p) for p in paths)
    temp.close()  # every write to it fails (EBADF)
    failures: list[Exception] = []
    try:
        rest = memoryview(expected)[100:]
        part.write([rest], 100, len(rest), Mirror(temp, failures.append))
        part.write([memoryview(expected)[:100]], 0, 100, Mirror(temp, failures.append))
    finally:
        part.close()
    assert paths[0].read_bytes() == expected
    assert len(failures) == 2 and all(isinstance(e, OSError) for e in failures)  # one per Mirror


async def test_files_assemble_through_direct_writes(
    tmp_path: Path, direct_for_all_sizes: None
) -> None:
    rnd = random.Random(11)
    chunks = [rnd.randbytes(rnd.randrange(1, 700_000)) for _ in range(24)]
    big = _part_file(tmp_path, "big.bin", [*chunks, chunks[3]])
    pack = _Pack(chunks)
    ranges = _plan([big], pack, 1 << 20)
    assert len(ranges) > 4 and not big.single_range
    random.Random(2).shuffle(ranges)  # the hashing point is passed by later ranges
    completed = []
    for rng in ranges:
        writer = RangeWriter(rng)
        await _feed(writer, pack.body[rng.offset : rng.offset + rng.length], [1, 4096, 65536])
        assert writer.failure is None
        completed += writer.completed
    assert completed == [big]
    await anyio.to_thread.run_sync(finalize_all, completed)
    assert (tmp_path / "big.bin").read_bytes() == b"".join([*chunks, chunks[3]])


@pytest.mark.parametrize("budget", [0, 64 << 20])
def test_regions_read_back_past_the_cache_or_hashed_from_memory(
    tmp_path: Path, direct_for_all_sizes: None, monkeypatch: pytest.MonkeyPatch, budget: int
) -> None:
    """With no budget every region ahead of the hashing point is read back (O_DIRECT
    reads of what O_DIRECT wrote); with one, from the bytes kept in memory."""
    monkeypatch.setattr(assembly, "_budget", assembly._HoldBudget(budget))
    rnd = random.Random(5)
    chunks = [rnd.randbytes(rnd.randrange(10_000, 300_000)) for _ in range(16)]
    f = _part_file(tmp_path, "f.bin", chunks)
    f.create()
    body = b"".join(chunks)
    regions, offset = [], 0
    for c in chunks:
        regions.append((offset, len(c)))
        offset += len(c)
    rnd.shuffle(regions)
    writer = _writer(f.part)
    done = []
    try:
        for start, size in regions:
            view = memoryview(body)[start : start + size]
            writer.write([view], start, size)
            done.append(f.credit(start, size, [view]))
    finally:
        writer.close()
    assert done.count(True) == 1 and done[-1]
    f.finalize()
    assert (tmp_path / "f.bin").read_bytes() == body
    assert assembly._budget.held == 0


def test_bytes_changed_on_disk_before_read_back_are_caught(
    tmp_path: Path, direct_for_all_sizes: None
) -> None:
    chunks = [os.urandom(200_000) for _ in range(3)]
    f = _part_file(tmp_path, "f.bin", chunks)
    f.create()
    body = bytearray(b"".join(chunks))
    with open(f.part, "r+b") as out:
        out.write(body)
    body[450_000] ^= 1
    with open(f.part, "r+b") as out:  # the disk's copy differs from what was verified
        out.write(body)
    for start in (400_000, 200_000, 0):  # out of order, no bytes kept: all read back
        f.credit(start, 200_000)
    with pytest.raises(Exception, match="hashes to"):
        f.finalize()
    assert not f.part.exists()


def test_direct_io_only_on_local_disk_filesystems() -> None:
    from asyncart.core.direct_io import _unescape, direct_io_pays

    assert not direct_io_pays("/proc/self")  # proc
    assert not direct_io_pays("/dev/shm/x")  # tmpfs: no disk behind it
    assert _unescape(r"/mnt/my\040disk") == "/mnt/my disk"
