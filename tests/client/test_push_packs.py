"""How pushes group chunks into packs: whole blocks of new bytes, or sparse changes gathered."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from asyncart import aio
from asyncart.client import push_buffers as push_buffers_module
from asyncart.client.upload import push_buffers
from asyncart.config import Settings
from asyncart.core.pack import ENTRY, PREFIX
from tests.support.transfers import SMALL_CHUNK, use_small_transfers

MiB = 1 << 20
PACK = 4 * MiB


@pytest.fixture(autouse=True)
def small_packs(monkeypatch: pytest.MonkeyPatch) -> None:
    use_small_transfers(monkeypatch, PACK)
    monkeypatch.setenv("ASYNCART_HASH_CACHE", "0")


async def _push(path: Path) -> aio.Artifact:
    async with await aio.init(job_type="t") as run:
        art = aio.Artifact("data", type="dataset")
        art.add_file(path, policy="immutable")  # re-pushes hit the hash cache
        await run.log_artifact(art)
    return art


async def _pull_bytes(out: Path) -> bytes:
    async with aio.Api() as api:
        art = await api.artifact("data:latest")
        await art.download(out)
    return (out / "data.bin").read_bytes()


async def test_new_bytes_go_in_block_sized_packs_and_sparse_edits_share_packs(store: str) -> None:
    data = bytearray(random.Random(1).randbytes(64 * MiB))
    Path("data.bin").write_bytes(data)
    first = await _push(Path("data.bin"))
    stats = first.last_transfer
    assert stats is not None
    assert stats.bytes_uploaded == len(data)
    assert 16 <= stats.packs_uploaded <= 18  # one pack per 4 MiB block of new bytes

    for offset in range(MiB, len(data), 4 * MiB):  # one small edit in every block
        data[offset : offset + 100] = bytes(100)
    Path("data.bin").write_bytes(data)
    second = await _push(Path("data.bin"))
    stats = second.last_transfer
    assert stats is not None and second.version == "v1"
    assert 0 < stats.bytes_uploaded < len(data) // 4
    # ~16 changed chunks of ~64 KiB: gathered into one or two packs, not one per block.
    assert stats.packs_uploaded <= 2
    assert await _pull_bytes(Path("out")) == data


def test_push_buffers_stay_within_the_memory_budget() -> None:
    buffers, ceiling = push_buffers(Settings(pack_size=16 * MiB))
    assert buffers * (16 + 1) <= 160  # 16 MiB blocks, 1 MiB chunk headroom
    assert ceiling == buffers - 4 and ceiling >= Settings().concurrency
    # 32 MiB packs (the default) are filled from two 16 MiB blocks: the same buffers,
    # and the same bytes in flight as four 16 MiB packs.
    assert Settings().pack_size == 32 * MiB
    buffers_32, ceiling_32 = push_buffers(Settings())
    assert buffers_32 == buffers and ceiling_32 * 2 >= Settings().concurrency
    # Huge packs: one in flight, and room for the one being filled (9 blocks at most).
    buffers, ceiling = push_buffers(Settings(pack_size=128 * MiB))
    assert (buffers, ceiling) == (13, 1)


async def test_packs_larger_than_a_read_block_are_filled_across_blocks(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Packs of new bytes span consecutive read buffers (no copy), up to pack_size."""
    monkeypatch.setattr(push_buffers_module, "READ_BLOCK", PACK // 4)
    data = random.Random(3).randbytes(64 * MiB + 12345)
    Path("data.bin").write_bytes(data)
    first = await _push(Path("data.bin"))
    stats = first.last_transfer
    assert stats is not None and stats.bytes_uploaded == len(data)
    assert 17 <= stats.packs_uploaded <= 19  # 4 MiB packs, not one per 1 MiB block
    packs = [
        p for p in tmp_path.rglob("*") if p.is_file() and "packs" in p.parts and p.stat().st_size
    ]
    assert len(packs) == stats.packs_uploaded
    # the header (chunks of 16 KiB at least) and pack_size bytes of chunks, plus the last
    most = PACK + SMALL_CHUNK * 4 + PREFIX.size + ENTRY.size * (PACK >> 14)
    assert max(p.stat().st_size for p in packs) <= most
    assert await _pull_bytes(Path("out")) == data


async def test_a_header_that_grew_does_not_resend_the_bytes_after_it(store: str) -> None:
    """A shifting edit (bytes inserted near the start) sends about one chunk, not the file."""
    body = random.Random(2).randbytes(24 * MiB)
    Path("data.bin").write_bytes(b"header" + body)
    await _push(Path("data.bin"))
    grown = b"header, now with 37 more bytes......." + body
    Path("data.bin").write_bytes(grown)
    second = await _push(Path("data.bin"))
    assert second.version == "v1" and second.last_transfer is not None
    assert second.last_transfer.bytes_uploaded < 512 << 10  # a few 64 KiB chunks at most
    assert await _pull_bytes(Path("out")) == grown
