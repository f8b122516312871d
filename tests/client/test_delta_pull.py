"""Delta pulls: a pull over older files fetches only the chunks they do not already hold."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import anyio

from asyncart import aio
from asyncart.client.assembly import PartFile
from asyncart.client.delta import LocalPiece, chunk_index, copy_local_pieces, scan_local_file
from asyncart.client.hashcache import settled
from asyncart.client.scan import FileIdentity
from asyncart.core.chunking import ChunkerSpec
from asyncart.core.manifest import ChunkRef, ManifestEntry

SIZE = 6 << 20


async def _log(path: Path, name: str = "ckpt") -> str:
    async with await aio.init(job_type="train") as run:
        art = aio.Artifact(name, type="model")
        art.add_file(path)
        await run.log_artifact(art)
    assert art.version is not None
    return art.version


async def _pull(ref: str, out: Path) -> tuple[aio.Artifact, int]:
    async with aio.Api() as api:
        art = await api.artifact(ref)
        counters = api.client._remote.counters
        requests_before = counters.requests
        await art.download(out)
        assert art.last_transfer is not None
        return art, counters.requests - requests_before


async def _settled(path: Path) -> None:
    """Wait until the hash cache may record ``path`` (its last change is a few ticks old)."""
    # A condition on the clock: there is no event to wait on.
    while not settled(FileIdentity.of(os.stat(path)), time.time_ns()):  # noqa: ASYNC110
        await anyio.sleep(0.02)


def _checkpoint() -> bytearray:
    return bytearray(random.Random(5).randbytes(SIZE))


async def test_in_place_edit_fetches_about_the_changed_bytes(store: str) -> None:
    data = _checkpoint()
    Path("model.pt").write_bytes(data)
    await _log(Path("model.pt"))
    out = Path("pulled")
    await _pull("ckpt:v0", out)
    data[3_000_000:3_100_000] = os.urandom(100_000)  # one tensor rewritten
    Path("model.pt").write_bytes(data)
    assert await _log(Path("model.pt")) == "v1"

    art, _ = await _pull("ckpt:v1", out)
    stats = art.last_transfer
    assert stats is not None
    assert (out / "model.pt").read_bytes() == data
    assert stats.bytes_downloaded < SIZE // 4, stats.bytes_downloaded
    assert stats.bytes_reused + stats.bytes_downloaded >= SIZE
    assert stats.bytes_reused > SIZE // 2
    assert not list(out.glob("*.asyncart-part"))


async def test_bytes_inserted_near_the_start_still_reuse_the_rest(store: str) -> None:
    data = _checkpoint()
    Path("model.pt").write_bytes(data)
    await _log(Path("model.pt"))
    out = Path("pulled")
    await _pull("ckpt:v0", out)
    grown = bytes(data[:1000]) + b"x" * 37 + bytes(data[1000:])  # a header that grew
    Path("model.pt").write_bytes(grown)
    await _log(Path("model.pt"))

    art, _ = await _pull("ckpt:latest", out)
    assert art.last_transfer is not None
    assert (out / "model.pt").read_bytes() == grown
    assert art.last_transfer.bytes_downloaded < SIZE // 4


async def test_pulling_an_unchanged_version_fetches_no_chunk(store: str) -> None:
    Path("model.pt").write_bytes(_checkpoint())
    await _log(Path("model.pt"))
    out = Path("pulled")
    await _pull("ckpt:v0", out)
    art, requests = await _pull("ckpt:v0", out)
    assert art.last_transfer is not None
    assert art.last_transfer.bytes_downloaded == 0
    assert art.last_transfer.files_skipped == 1
    assert requests <= 1  # at most the manifest; no locate, no range


def _entry(tmp_path: Path, chunks: list[bytes]) -> PartFile:
    import blake3

    data = b"".join(chunks)
    refs = [ChunkRef(blake3.blake3(c).hexdigest(), len(c)) for c in chunks]
    entry = ManifestEntry.for_file("f", len(data), blake3.blake3(data).hexdigest(), refs)
    return PartFile(entry, tmp_path / "f", tmp_path / "f.asyncart-part")


def test_a_source_that_changed_since_it_was_indexed_is_not_trusted(tmp_path: Path) -> None:
    spec = ChunkerSpec.fixed(4096)
    old = tmp_path / "old"
    chunks = [os.urandom(4096) for _ in range(4)]
    old.write_bytes(b"".join(chunks))
    scanned = scan_local_file(old, FileIdentity.of(os.stat(old)), spec)
    assert scanned is not None
    index = chunk_index({old: scanned.chunks})
    assert len(index) == 4
    target = _entry(tmp_path, chunks)
    target.create()
    with open(old, "r+b") as f:  # changed after indexing: the second chunk is different now
        f.seek(4096)
        f.write(b"\0" * 4096)
    pieces = []
    for i, ref in enumerate(target.entry.chunks):
        pieces.append(LocalPiece(target, i * 4096, ref.hash, index[ref.hash]))
    copied, stale, completed = copy_local_pieces(pieces)
    assert copied == 3 * 4096
    assert [p.file_offset for p in stale] == [4096]
    assert completed == []  # not whole: the stale chunk must come from the store
    assert target.remaining == 4096


def test_a_source_that_cannot_be_read_is_no_source(tmp_path: Path) -> None:
    gone = FileIdentity(size=10, mtime_ns=0, ctime_ns=0, inode=0)
    assert scan_local_file(tmp_path / "nope", gone, ChunkerSpec.fixed(4096)) is None


async def test_files_already_in_place_are_checked_from_the_hash_cache(store: str) -> None:
    """Once a pulled file has been read and cached, later pulls do not read it again."""
    Path("model.pt").write_bytes(_checkpoint())
    await _log(Path("model.pt"))
    out = Path("pulled")
    await _pull("ckpt:v0", out)
    await _settled(out / "model.pt")  # only then may the cache record the file
    second, _ = await _pull("ckpt:v0", out)  # reads the file once, records it
    third, _ = await _pull("ckpt:v0", out)
    assert second.last_transfer is not None and third.last_transfer is not None
    assert second.last_transfer.bytes_read == SIZE
    assert third.last_transfer.bytes_read == 0
    assert third.last_transfer.files_skipped == 1 and third.last_transfer.bytes_downloaded == 0
