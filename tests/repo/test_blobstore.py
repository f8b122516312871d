"""FilesystemBlobStore over a real directory: atomic puts, ranged reads, key checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import blake3
import pytest

from asyncart.errors import BlobStoreError, ConfigError, NotFoundError
from asyncart.repo.blobstores.filesystem import FilesystemBlobStore


def key(kind: str, data: bytes) -> str:
    return f"{kind}/{blake3.blake3(data).hexdigest()}"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[FilesystemBlobStore]:
    blobs = FilesystemBlobStore(tmp_path / "blobs", fsync=True)
    yield blobs
    await blobs.close()


async def parts_of(*parts: bytes | memoryview) -> AsyncIterator[bytes | memoryview]:
    for part in parts:
        yield part


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


async def test_put_get_exists_delete(store: FilesystemBlobStore) -> None:
    data = b"manifest bytes"
    k = key("manifests", data)
    assert not await store.exists(k)
    assert await store.put_bytes(k, data) == len(data)
    assert await store.exists(k)
    assert await store.get_bytes(k) == data
    await store.delete(k)
    assert not await store.exists(k)
    with pytest.raises(NotFoundError):
        await store.get_bytes(k)
    await store.delete(k)  # absent: no error


async def test_put_stream_concatenates_parts(store: FilesystemBlobStore) -> None:
    parts = [b"a" * 10, memoryview(b"b" * (5 << 20)), b"", b"c" * 7]  # crosses the write batch
    k = key("packs", b"stream")
    size = await store.put_stream(k, parts_of(*parts))
    expected = b"".join(bytes(p) for p in parts)
    assert size == len(expected)
    assert await store.get_bytes(k) == expected


async def test_objects_land_under_their_kind_and_prefix(store: FilesystemBlobStore) -> None:
    k = key("packs", b"x")
    await store.put_bytes(k, b"payload")
    name = k.split("/")[1]
    path = store.root / "packs" / name[:2] / name
    assert path.read_bytes() == b"payload"
    assert store.local_path(k) == path
    assert list((store.root / "tmp").iterdir()) == []


async def test_empty_object(store: FilesystemBlobStore) -> None:
    k = key("manifests", b"")
    assert await store.put_bytes(k, b"") == 0
    assert await store.exists(k)
    assert await store.get_bytes(k) == b""
    assert await store.read_range(k, 0, 0) == b""


async def test_put_replaces_an_existing_object(store: FilesystemBlobStore) -> None:
    k = key("packs", b"same")
    await store.put_bytes(k, b"first")
    await store.put_bytes(k, b"second")
    assert await store.get_bytes(k) == b"second"
    assert [p.name for p in files_under(store.root)] == [k.split("/")[1]]


async def test_read_range(store: FilesystemBlobStore) -> None:
    data = bytes(range(256)) * 40
    k = key("packs", data)
    await store.put_bytes(k, data)
    assert await store.read_range(k, 0, 10) == data[:10]
    assert await store.read_range(k, 1000, 500) == data[1000:1500]
    assert await store.read_range(k, len(data) - 1, 1) == data[-1:]
    assert await store.read_range(k, 0, len(data)) == data
    assert await store.read_range(k, 5, 0) == b""


@pytest.mark.parametrize(("offset", "length"), [(0, 101), (50, 51), (100, 1), (1000, 1)])
async def test_read_range_past_the_end_raises(
    store: FilesystemBlobStore, offset: int, length: int
) -> None:
    data = b"z" * 100
    k = key("packs", data)
    await store.put_bytes(k, data)
    with pytest.raises(BlobStoreError, match="shorter than expected"):
        await store.read_range(k, offset, length)


async def test_read_range_of_a_missing_object_is_not_found(store: FilesystemBlobStore) -> None:
    with pytest.raises(NotFoundError):
        await store.read_range(key("packs", b"nope"), 0, 1)


class SourceFailed(Exception):
    pass


@pytest.mark.parametrize("fail_after", [0, 1, 3])
async def test_failing_source_leaves_no_object_and_no_temp_file(
    store: FilesystemBlobStore, fail_after: int
) -> None:
    k = key("packs", b"broken")

    async def source() -> AsyncIterator[bytes]:
        for _ in range(fail_after):
            yield b"x" * (3 << 20)  # enough to have written a batch to the temp file
        raise SourceFailed("the upload broke off")

    with pytest.raises(SourceFailed):
        await store.put_stream(k, source())
    assert not await store.exists(k)
    assert files_under(store.root) == []
    assert list((store.root / "tmp").iterdir()) == []


async def test_failing_source_keeps_the_previous_object(store: FilesystemBlobStore) -> None:
    k = key("packs", b"keep")
    await store.put_bytes(k, b"complete")

    async def source() -> AsyncIterator[bytes]:
        yield b"partial"
        raise SourceFailed

    with pytest.raises(SourceFailed):
        await store.put_stream(k, source())
    assert await store.get_bytes(k) == b"complete"
    assert list((store.root / "tmp").iterdir()) == []


@pytest.mark.parametrize(
    "bad",
    [
        "../x",
        "packs/xyz",
        "packs/" + "A" * 64,
        "packs/" + "a" * 63,
        "packs/" + "a" * 65,
        "packs/../../" + "a" * 58,
        "/etc/passwd",
        "tmp/" + "a" * 64,
        "other/" + "a" * 64,
        "packs/" + "a" * 64 + "/x",
        "packs\\" + "a" * 64,
        "packs/" + "a" * 64 + "\n",
        "",
    ],
)
async def test_bad_keys_are_refused(store: FilesystemBlobStore, bad: str) -> None:
    with pytest.raises(ConfigError):
        await store.put_bytes(bad, b"data")
    with pytest.raises(ConfigError):
        await store.get_bytes(bad)
    with pytest.raises(ConfigError):
        await store.read_range(bad, 0, 1)
    with pytest.raises(ConfigError):
        await store.exists(bad)
    with pytest.raises(ConfigError):
        await store.delete(bad)
    assert files_under(store.root) == []


async def test_objects_survive_reopening(tmp_path: Path) -> None:
    k = key("manifests", b"durable")
    first = FilesystemBlobStore(tmp_path / "blobs")
    try:
        await first.put_bytes(k, b"durable")
    finally:
        await first.close()
    second = FilesystemBlobStore(tmp_path / "blobs", fsync=False)
    try:
        assert await second.get_bytes(k) == b"durable"
    finally:
        await second.close()


async def test_write_failure_raises_blobstore_error(store: FilesystemBlobStore) -> None:
    k = key("packs", b"no tmp dir")
    store.tmp.rmdir()  # the temp directory vanished under the store
    with pytest.raises(BlobStoreError, match="writing"):
        await store.put_bytes(k, b"data")
    assert not await store.exists(k)
    assert files_under(store.root) == []
