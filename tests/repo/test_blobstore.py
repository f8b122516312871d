"""The BlobStore contract, on a real directory and on a real S3-compatible server.

Every test here runs against ``FilesystemBlobStore`` and ``S3BlobStore`` (SeaweedFS on
127.0.0.1, ``tests/support/s3.py``): atomic puts, ranged reads, key checks, and the
maintenance operations gc and fsck use. Backend-specific behaviour (file layout,
multipart uploads, presigned URLs, the S3 lease lock) has its own tests below and in
``test_s3_store.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import blake3
import pytest

from asyncart.errors import BlobStoreError, ConfigError, ConflictError, NotFoundError
from asyncart.repo.blobstores.base import BlobStore, is_borrowed
from asyncart.repo.blobstores.filesystem import FilesystemBlobStore
from asyncart.repo.blobstores.s3 import S3BlobStore
from tests.support.s3 import S3Bucket, s3_bucket, s3_server  # noqa: F401 - fixtures

MiB = 1 << 20
BACKENDS = ["filesystem", "s3"]


def key(kind: str, data: bytes) -> str:
    return f"{kind}/{blake3.blake3(data).hexdigest()}"


def h(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def open_store(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> BlobStore:
    if backend == "filesystem":
        return FilesystemBlobStore(tmp_path / "blobs", fsync=True)
    bucket: S3Bucket = request.getfixturevalue("s3_bucket")
    # The smallest parts S3 allows, so that a few MiB exercise multipart uploads.
    return S3BlobStore.from_url(bucket.url, part_size=5 * MiB, multipart_threshold=5 * MiB)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    blobs = open_store(request, tmp_path, request.param)
    yield blobs
    await blobs.close()


@pytest.fixture
async def fs_store(tmp_path: Path) -> AsyncIterator[FilesystemBlobStore]:
    blobs = FilesystemBlobStore(tmp_path / "blobs", fsync=True)
    yield blobs
    await blobs.close()


async def parts_of(*parts: bytes | memoryview) -> AsyncIterator[bytes | memoryview]:
    for part in parts:
        yield part


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


async def everything(store: BlobStore) -> list[str]:
    """Every object, hidden object and unfinished write the store holds."""
    found = [b.key for kind in ("packs", "manifests") for b in await store.list_objects(kind)]
    found += ["trash:" + b.key for b in await store.list_hidden()]
    found += ["partial:" + b.key for b in await store.list_partials()]
    return sorted(found)


async def test_put_get_exists_delete(store: BlobStore) -> None:
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


@pytest.mark.parametrize(
    "sizes",
    [
        [10, 5 << 20, 0, 7],  # crosses the filesystem write batch and S3's part size
        [3 << 20, 3 << 20, 3 << 20, 1],  # three S3 parts, the last one byte
        [11 << 20],  # one piece larger than two parts
    ],
)
async def test_put_stream_concatenates_parts(store: BlobStore, sizes: list[int]) -> None:
    parts: list[bytes | memoryview] = [
        bytes([i]) * n if i % 2 else memoryview(bytes([i]) * n) for i, n in enumerate(sizes)
    ]
    k = key("packs", b"stream" + bytes(len(sizes)))
    size = await store.put_stream(k, parts_of(*parts))
    expected = b"".join(bytes(p) for p in parts)
    assert size == len(expected)
    assert await store.get_bytes(k) == expected
    assert await store.list_partials() == []


@pytest.mark.parametrize(
    "sizes",
    [
        [1, 2, 3, 4, 5],  # every part far under the write batch and S3's part size
        [6 << 20, 300, 5 << 20, 7],  # big and small, crossing both
    ],
)
async def test_borrowed_parts_are_stored_as_they_were_when_handed_over(
    store: BlobStore, sizes: list[int]
) -> None:
    """A writable memoryview is borrowed: the source overwrites it once the next part is
    asked for (as a receive buffer is refilled), and the object holds the bytes each
    part had when it was handed over, whatever the backend batches."""
    buffer = bytearray(max(sizes))
    expected = bytearray()

    async def refilled() -> AsyncIterator[memoryview]:
        for i, n in enumerate(sizes):
            view = memoryview(buffer)[:n]
            view[:] = bytes([i + 1]) * n
            expected.extend(view)
            assert is_borrowed(view)
            yield view
            view[:] = b"\xee" * n  # the receiver reuses its buffer for the next part

    k = key("packs", b"borrowed" + bytes(len(sizes)))
    assert await store.put_stream(k, refilled()) == sum(sizes)
    assert await store.get_bytes(k) == bytes(expected)


def test_only_writable_views_are_borrowed() -> None:
    assert is_borrowed(memoryview(bytearray(3)))
    assert not is_borrowed(memoryview(bytearray(3)).toreadonly())
    assert not is_borrowed(memoryview(b"abc"))
    assert not is_borrowed(b"abc")


async def test_empty_object(store: BlobStore) -> None:
    k = key("manifests", b"")
    assert await store.put_bytes(k, b"") == 0
    assert await store.exists(k)
    assert await store.get_bytes(k) == b""
    assert await store.read_range(k, 0, 0) == b""


async def test_put_replaces_an_existing_object(store: BlobStore) -> None:
    k = key("packs", b"same")
    await store.put_bytes(k, b"first")
    await store.put_bytes(k, b"second")
    assert await store.get_bytes(k) == b"second"
    assert await everything(store) == [k]


async def test_read_range(store: BlobStore) -> None:
    data = bytes(range(256)) * 40
    k = key("packs", data)
    await store.put_bytes(k, data)
    assert await store.read_range(k, 0, 10) == data[:10]
    assert await store.read_range(k, 1000, 500) == data[1000:1500]
    assert await store.read_range(k, len(data) - 1, 1) == data[-1:]
    assert await store.read_range(k, 0, len(data)) == data
    assert await store.read_range(k, 5, 0) == b""


@pytest.mark.parametrize(("offset", "length"), [(0, 101), (50, 51), (100, 1), (1000, 1)])
async def test_read_range_past_the_end_raises(store: BlobStore, offset: int, length: int) -> None:
    data = b"z" * 100
    k = key("packs", data)
    await store.put_bytes(k, data)
    with pytest.raises(BlobStoreError, match="shorter than expected"):
        await store.read_range(k, offset, length)


async def test_read_range_of_a_missing_object_is_not_found(store: BlobStore) -> None:
    with pytest.raises(NotFoundError):
        await store.read_range(key("packs", b"nope"), 0, 1)
    with pytest.raises(NotFoundError):
        await store.read_range(key("packs", b"nope"), 0, 0)


class SourceFailed(Exception):
    pass


@pytest.mark.parametrize("fail_after", [0, 1, 3])
async def test_failing_source_leaves_no_object_and_no_unfinished_write(
    store: BlobStore, fail_after: int
) -> None:
    k = key("packs", b"broken")

    async def source() -> AsyncIterator[bytes]:
        for _ in range(fail_after):
            yield b"x" * (3 << 20)  # a written batch (files); an uploaded part (S3)
        raise SourceFailed("the upload broke off")

    with pytest.raises(SourceFailed):
        await store.put_stream(k, source())
    assert not await store.exists(k)
    assert await everything(store) == []


async def test_failing_source_keeps_the_previous_object(store: BlobStore) -> None:
    k = key("packs", b"keep")
    await store.put_bytes(k, b"complete")

    async def source() -> AsyncIterator[bytes]:
        yield b"partial" * (2 << 20)  # past the S3 store's multipart threshold
        raise SourceFailed

    with pytest.raises(SourceFailed):
        await store.put_stream(k, source())
    assert await store.get_bytes(k) == b"complete"
    assert await everything(store) == [k]


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
async def test_bad_keys_are_refused(store: BlobStore, bad: str) -> None:
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
    with pytest.raises(ConfigError):
        await store.stat(bad)
    with pytest.raises(ConfigError):
        await store.hide(bad)
    assert await everything(store) == []


@pytest.mark.parametrize("backend", BACKENDS)
async def test_objects_survive_reopening(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    k = key("manifests", b"durable")
    first = open_store(request, tmp_path, backend)
    try:
        await first.put_bytes(k, b"durable")
    finally:
        await first.close()
    second = open_store(request, tmp_path, backend)
    try:
        assert await second.get_bytes(k) == b"durable"
    finally:
        await second.close()


async def test_copy_and_read_stream(store: BlobStore) -> None:
    data = bytes(range(256)) * (40 << 10)  # 10 MiB: several pieces
    src, dst = key("packs", b"src"), key("packs", data)
    await store.put_bytes(src, data)
    await store.copy(src, dst)
    assert await store.get_bytes(dst) == data
    pieces = [p async for p in store.read_stream(dst)]
    assert b"".join(pieces) == data
    await store.put_bytes(src, b"other")
    await store.copy(src, dst)  # replaces
    assert await store.get_bytes(dst) == b"other"
    with pytest.raises(NotFoundError):
        await store.copy(key("packs", b"absent"), dst)
    with pytest.raises(NotFoundError):
        async for _ in store.read_stream(key("packs", b"absent")):
            pass
    assert await store.list_partials() == []


async def test_incoming_keys_are_objects_too(store: BlobStore) -> None:
    k = "incoming/" + "a" * 64 + "-" + "0" * 32
    await store.put_bytes(k, b"direct upload")
    assert await store.get_bytes(k) == b"direct upload"
    await store.delete(k)
    assert not await store.exists(k)
    for bad in ("incoming/" + "a" * 64, "incoming/" + "a" * 64 + "-x", "incoming/../x"):
        with pytest.raises(ConfigError):
            await store.exists(bad)


# -- maintenance operations ---------------------------------------------------------


async def test_list_objects_and_stat(store: BlobStore) -> None:
    pack, manifest = b"p" * 1000, b"m" * 10
    kp, km = key("packs", pack), key("manifests", manifest)
    await store.put_bytes(kp, pack)
    await store.put_bytes(km, manifest)
    packs = await store.list_objects("packs")
    assert [(b.key, b.size) for b in packs] == [(kp, 1000)]
    assert [(b.key, b.size) for b in await store.list_objects("manifests")] == [(km, 10)]
    info = await store.stat(kp)
    assert info is not None and (info.key, info.size) == (kp, 1000)
    assert abs(info.mtime - packs[0].mtime) < 1
    assert await store.stat(key("packs", b"absent")) is None
    with pytest.raises(ConfigError):
        await store.list_objects("trash")


async def test_hide_unhide_purge(store: BlobStore) -> None:
    data = b"hidden" * 100
    k = key("packs", data)
    assert not await store.hide(k)  # absent
    await store.put_bytes(k, data)
    assert await store.hide(k)
    assert not await store.exists(k)
    assert [(b.key, b.size) for b in await store.list_hidden()] == [(k, len(data))]
    await store.unhide(k)
    assert await store.get_bytes(k) == data
    assert await store.list_hidden() == []

    assert await store.hide(k)
    await store.purge(k)
    await store.purge(k)  # absent: no error
    await store.unhide(k)  # nothing hidden: no error, nothing appears
    assert await everything(store) == []


async def test_unhide_replaces_an_object_stored_since(store: BlobStore) -> None:
    k = key("manifests", b"again")
    await store.put_bytes(k, b"again")
    assert await store.hide(k)
    await store.put_bytes(k, b"again")  # an upload stored the same content meanwhile
    await store.unhide(k)
    assert await store.get_bytes(k) == b"again"
    assert await everything(store) == [k]


async def test_quarantine_keeps_a_copy(store: BlobStore) -> None:
    data = b"damaged?" * 10
    k = key("packs", data)
    await store.put_bytes(k, data)
    where = await store.quarantine(k)
    assert k in where
    assert await store.quarantine(k) == where  # idempotent
    assert await store.get_bytes(k) == data  # the original stays in service
    assert await everything(store) == [k]  # the copy is in none of the listings
    with pytest.raises(NotFoundError):
        await store.quarantine(key("packs", b"absent"))


async def test_hash_ranges(store: BlobStore) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    k = key("packs", data)
    await store.put_bytes(k, data)
    ranges = [
        (0, 100),
        (100, 900_000),
        (900_000, 148_576),
        (5, 10),
        (1_048_000, 576),
        (1_048_000, 577),
        (2_000_000, 1),
        (0, 0),
    ]
    expected = [h(data[o : o + n]) if o + n <= len(data) else None for o, n in ranges]
    assert await store.hash_ranges(k, ranges) == expected
    assert await store.hash_ranges(k, [(2_000_000, 10)]) == [None]
    with pytest.raises(NotFoundError):
        await store.hash_ranges(key("packs", b"absent"), [(0, 1)])


async def test_remove_partial_of_an_absent_write_is_quiet(store: BlobStore) -> None:
    names = {FilesystemBlobStore: "gone.tmp", S3BlobStore: key("packs", b"x") + "@no-such-upload"}
    await store.remove_partial(names[type(store)])
    with pytest.raises(ConfigError):
        await store.remove_partial("../escape" if isinstance(store, FilesystemBlobStore) else "x")


async def test_maintenance_lock_excludes_a_second_holder(
    request: pytest.FixtureRequest, store: BlobStore, tmp_path: Path
) -> None:
    backend = "filesystem" if isinstance(store, FilesystemBlobStore) else "s3"
    other = open_store(request, tmp_path, backend)  # another process's view of the store
    try:
        async with store.maintenance_lock():
            with pytest.raises(ConflictError, match="another gc or fsck"):
                async with other.maintenance_lock():
                    pass
        async with other.maintenance_lock():  # released
            pass
        async with store.maintenance_lock():
            pass
    finally:
        await other.close()


# -- filesystem specifics ------------------------------------------------------------


async def test_a_directory_store_signs_no_urls(fs_store: FilesystemBlobStore) -> None:
    assert not fs_store.can_presign
    assert await fs_store.presign_get(key("packs", b"x"), 60) is None
    assert await fs_store.presign_put(key("packs", b"x"), 60) is None


async def test_files_land_under_their_kind_and_prefix(fs_store: FilesystemBlobStore) -> None:
    k = key("packs", b"x")
    await fs_store.put_bytes(k, b"payload")
    name = k.split("/")[1]
    path = fs_store.root / "packs" / name[:2] / name
    assert path.read_bytes() == b"payload"
    assert fs_store.local_path(k) == path
    assert list((fs_store.root / "tmp").iterdir()) == []


async def test_failing_source_leaves_no_temp_file(fs_store: FilesystemBlobStore) -> None:
    async def source() -> AsyncIterator[bytes]:
        yield b"x" * (5 << 20)
        raise SourceFailed

    with pytest.raises(SourceFailed):
        await fs_store.put_stream(key("packs", b"t"), source())
    assert files_under(fs_store.root) == []


async def test_a_temp_file_is_an_unfinished_write(fs_store: FilesystemBlobStore) -> None:
    (fs_store.tmp / "abc.tmp").write_bytes(b"12345")
    assert [(b.key, b.size) for b in await fs_store.list_partials()] == [("abc.tmp", 5)]
    await fs_store.remove_partial("abc.tmp")
    assert await fs_store.list_partials() == []


async def test_write_failure_raises_blobstore_error(fs_store: FilesystemBlobStore) -> None:
    k = key("packs", b"no tmp dir")
    fs_store.tmp.rmdir()  # the temp directory vanished under the store
    with pytest.raises(BlobStoreError, match="writing"):
        await fs_store.put_bytes(k, b"data")
    assert not await fs_store.exists(k)
    assert files_under(fs_store.root) == []


async def test_the_file_lock_also_works_without_async(fs_store: FilesystemBlobStore) -> None:
    with fs_store.maintenance_lock(), pytest.raises(ConflictError):
        async with fs_store.maintenance_lock():
            pass
