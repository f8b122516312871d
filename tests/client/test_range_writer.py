"""The streamed range writer and part-file assembly, fed bytes directly in awkward pieces."""

from __future__ import annotations

import os
import random
from pathlib import Path

import anyio
import blake3
import pytest

from asyncart.client.assembly import PartFile, finalize_all
from asyncart.client.download import _in_file_order, _plan_ranges
from asyncart.client.range_writer import BATCH_BYTES, PackRange, Piece, RangeWriter
from asyncart.core.manifest import ChunkRef, ManifestEntry
from asyncart.core.models import ChunkLocation


def _h(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


class _Pack:
    """Chunks laid out one after another, as a pack body holds them."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.body = b"".join(chunks)
        self.locations: dict[str, ChunkLocation] = {}
        offset = 0
        for c in chunks:
            self.locations.setdefault(_h(c), ChunkLocation("p1", offset, len(c)))
            offset += len(c)


def _part_file(tmp_path: Path, name: str, chunks: list[bytes]) -> PartFile:
    data = b"".join(chunks)
    refs = [ChunkRef(_h(c), len(c)) for c in chunks]
    entry = ManifestEntry.for_file(name, len(data), _h(data), refs)
    final = tmp_path / name
    return PartFile(entry, final, tmp_path / (name + ".asyncart-part"))


def _plan(files: list[PartFile], pack: _Pack, max_range: int) -> list[PackRange]:
    pieces = []
    for f in files:
        offset = 0
        for c in f.entry.chunks:
            pieces.append(Piece(f, offset, c.hash, c.size, pack.locations[c.hash]))
            offset += c.size
    ranges = _plan_ranges(pieces, max_range)
    spans: dict[PartFile, int] = {}
    for rng in ranges:
        for f in {p.file for p in rng.pieces}:
            spans[f] = spans.get(f, 0) + 1
    for f in files:
        f.single_range = spans[f] == 1
        if not f.single_range:
            f.create()
    return ranges


async def _feed(writer: RangeWriter, body: bytes, sizes: list[int]) -> None:
    writer.restart()
    pos = 0
    rng = random.Random(len(body))
    while pos < len(body):
        n = sizes[rng.randrange(len(sizes))]
        await writer.write(body[pos : pos + n])
        pos += n
    await writer.finish()


@pytest.mark.parametrize("max_range", [1 << 20, 64 << 20])
async def test_files_assemble_from_ranges_fed_in_odd_pieces(tmp_path: Path, max_range: int) -> None:
    rnd = random.Random(7)
    chunk_a = rnd.randbytes(300_000)
    big_chunks = [rnd.randbytes(rnd.randrange(1, 400_000)) for _ in range(12)]
    # chunk_a occurs twice in the big file and once in a small one (dedup within and across).
    big = _part_file(tmp_path, "big.bin", [*big_chunks[:5], chunk_a, *big_chunks[5:], chunk_a])
    small = _part_file(tmp_path, "small.bin", [chunk_a])
    pack = _Pack([*big_chunks, chunk_a])
    ranges = _plan([big, small], pack, max_range)
    random.Random(1).shuffle(ranges)  # ranges complete out of order
    completed: list[PartFile] = []
    for rng in ranges:
        writer = RangeWriter(rng)
        await _feed(
            writer,
            pack.body[rng.offset : rng.offset + rng.length],
            [1, 7, 4096, 65536, BATCH_BYTES + 3],
        )
        assert writer.failure is None
        completed += writer.completed
    assert sorted(f.entry.path for f in completed) == ["big.bin", "small.bin"]
    await anyio.to_thread.run_sync(finalize_all, completed)
    expected_big = b"".join([*big_chunks[:5], chunk_a, *big_chunks[5:], chunk_a])
    assert (tmp_path / "big.bin").read_bytes() == expected_big
    assert (tmp_path / "small.bin").read_bytes() == chunk_a
    assert not list(tmp_path.glob("*.asyncart-part"))


async def test_a_corrupted_chunk_is_never_written_and_a_retry_completes(tmp_path: Path) -> None:
    rnd = random.Random(3)
    chunks = [rnd.randbytes(100_000) for _ in range(4)]
    f = _part_file(tmp_path, "f.bin", chunks)
    pack = _Pack(chunks)
    (rng,) = _plan([f], pack, 64 << 20)
    f.create()  # created up front so the test can look inside it
    writer = RangeWriter(rng)
    bad = bytearray(pack.body)
    bad[250_000] ^= 0xFF  # inside the third chunk
    await _feed(writer, bytes(bad), [65536])
    assert writer.failure is not None
    assert "arrived corrupted" in str(writer.failure)
    part = f.part.read_bytes()
    assert part[:200_000] == pack.body[:200_000]  # verified chunks were written
    assert len(part) == 200_000  # and nothing of the corrupted chunk or after it
    assert not writer.completed
    await _feed(writer, pack.body, [65536])  # the retry, with the same writer
    assert writer.failure is None
    assert writer.completed == [f]
    f.finalize()
    assert (tmp_path / "f.bin").read_bytes() == pack.body


async def test_credit_is_counted_once_across_retries(tmp_path: Path) -> None:
    chunks = [os.urandom(2 << 20) for _ in range(3)]
    f = _part_file(tmp_path, "f.bin", chunks)
    pack = _Pack(chunks)
    (rng,) = _plan([f], pack, 64 << 20)
    writer = RangeWriter(rng)
    # A broken connection: two chunks arrive (and are processed), then nothing.
    writer.restart()
    await writer.write(pack.body[: BATCH_BYTES + 100])
    assert f.remaining == len(pack.body) - (4 << 20)
    await _feed(writer, pack.body, [4096])  # the transport's retry restarts the writer
    assert writer.completed == [f]
    assert f.remaining == 0
    f.finalize()
    assert (tmp_path / "f.bin").read_bytes() == pack.body


def test_a_part_file_whose_bytes_disagree_with_its_digest_is_refused(tmp_path: Path) -> None:
    chunks = [os.urandom(1000), os.urandom(1000)]
    f = _part_file(tmp_path, "f.bin", chunks)
    f.create()
    with open(f.part, "r+b") as out:
        out.write(b"x" * 2000)  # not what the manifest says
    f.credit(0, 2000)
    with pytest.raises(Exception, match="hashes to"):
        f.finalize()
    assert not f.part.exists() and not f.final.exists()


def test_ranges_are_fetched_in_the_order_their_files_need_them(tmp_path: Path) -> None:
    rnd = random.Random(9)
    chunks = [rnd.randbytes(1000) for _ in range(6)]
    first = _part_file(tmp_path, "a.bin", chunks[:4])
    second = _part_file(tmp_path, "b.bin", chunks[4:])
    # Packs are named by content: here "p9" holds a.bin's first bytes, "p1" its last.
    packs = {"p9": chunks[:2], "p1": [*chunks[2:4], *chunks[4:]]}
    where: dict[str, ChunkLocation] = {}
    for name, held in packs.items():
        offset = 0
        for c in held:
            where[_h(c)] = ChunkLocation(name, offset, len(c))
            offset += len(c)
    pieces = []
    for f in (second, first):  # pending in any order
        offset = 0
        for c in f.entry.chunks:
            pieces.append(Piece(f, offset, c.hash, c.size, where[c.hash]))
            offset += c.size
    ranges = _in_file_order(_plan_ranges(pieces, 1 << 20), [first, second])
    assert [(r.pack, r.offset) for r in ranges] == [("p9", 0), ("p1", 0)]
    by_pack = _plan_ranges(pieces, 1 << 20)
    assert [r.pack for r in by_pack] == ["p1", "p9"]  # what pack order would have fetched first


def _pack_pieces(tmp_path: Path, sizes: list[int], *, pack: str = "p1") -> list[Piece]:
    """Pieces of one file laid out back to back in ``pack`` (sizes only: no bytes move)."""
    refs = [ChunkRef(f"{i:064x}", size) for i, size in enumerate(sizes)]
    entry = ManifestEntry.for_file("f.bin", sum(sizes), "0" * 64, refs)
    part = PartFile(entry, tmp_path / "f.bin", tmp_path / "f.bin.asyncart-part")
    pieces, offset = [], 0
    for ref in refs:
        pieces.append(
            Piece(part, offset, ref.hash, ref.size, ChunkLocation(pack, offset, ref.size))
        )
        offset += ref.size
    return pieces


def test_a_pack_just_over_the_range_size_is_read_as_two_halves(tmp_path: Path) -> None:
    """A 32 MiB pack ends with the chunk that reaches 32 MiB: two ~16.5 MiB reads, not a
    full 32 MiB read and a sliver."""
    mib = 1 << 20
    pieces = _pack_pieces(tmp_path, [mib] * 32 + [mib // 2])
    ranges = _plan_ranges(pieces, 32 * mib)
    assert [r.length for r in ranges] == [16 * mib, 16 * mib + mib // 2]
    assert [(r.offset, r.length) for r in _plan_ranges(pieces, 64 * mib)] == [
        (0, 32 * mib + mib // 2)
    ]


@pytest.mark.parametrize("seed", range(40))
def test_ranges_cover_every_piece_once_in_the_fewest_near_equal_reads(
    tmp_path: Path, seed: int
) -> None:
    rnd = random.Random(seed)
    sizes = [rnd.randrange(1, 300_000) for _ in range(rnd.randrange(1, 200))]
    pieces = _pack_pieces(tmp_path, sizes)
    pieces += [pieces[i] for i in rnd.sample(range(len(pieces)), min(5, len(pieces)))]  # again
    rnd.shuffle(pieces)
    max_range = rnd.choice([64 << 10, 500_000, 1 << 20, 4 << 20, 64 << 20])
    ranges = _plan_ranges(pieces, max_range)
    total = sum(sizes)
    assert sorted(id(p) for r in ranges for p in r.pieces) == sorted(id(p) for p in pieces)
    offset = 0
    for r in ranges:  # back to back, each piece inside its range
        assert r.offset == offset
        offset += r.length
        for p in r.pieces:
            assert r.offset <= p.loc.offset and p.loc.offset + p.size <= r.offset + r.length
        assert r.length <= max_range or len({p.loc.offset for p in r.pieces}) == 1
    assert offset == total
    if max(sizes) <= max_range // 8:  # chunks small against the range: close to the ideal
        fewest = -(-total // max_range)
        assert len(ranges) <= fewest + 1
        assert max(r.length for r in ranges) <= total / fewest + max(sizes)
