"""S3BlobStore specifics and a Repository over S3 blobs, against SeaweedFS on 127.0.0.1.

The blob-store contract itself (puts, ranges, hide/purge, ...) runs on both backends in
``test_blobstore.py``; here: URL parsing, multipart uploads left behind, integrity checks
the object store enforces, the lease lock across "machines" (two store instances),
presigned URLs used with plain aiohttp, error messages, and push/read/gc/fsck through
``Repository`` with the blobs in a bucket (metadata in SQLite).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import blake3
import pytest

from asyncart.core.retention import RetentionPolicy
from asyncart.errors import BlobStoreError, ConfigError, ConflictError, S3Error
from asyncart.repo import fsck as checker
from asyncart.repo.blobstores import s3_writes
from asyncart.repo.blobstores.s3 import S3BlobStore
from asyncart.repo.blobstores.s3_lock import LeaseLock
from asyncart.repo.fsck import fsck
from asyncart.repo.gc import collect_garbage
from asyncart.repo.location import StoreLocation
from asyncart.repo.retention import retain_and_collect
from asyncart.repo.service import Repository, pack_key
from tests.support.s3 import S3Bucket, s3_bucket, s3_server  # noqa: F401 - fixtures
from tests.support.stores import NAME, PROJECT, manifest_of, push, version_manifest_key
from tests.support.stores import data as d

MiB = 1 << 20


def key(kind: str, data: bytes) -> str:
    return f"{kind}/{blake3.blake3(data).hexdigest()}"


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


@pytest.fixture
def bucket(request: pytest.FixtureRequest) -> S3Bucket:
    """A fresh bucket; the AWS environment points at the test server."""
    return request.getfixturevalue("s3_bucket")  # type: ignore[no-any-return]


@pytest.fixture
async def store(bucket: S3Bucket) -> AsyncIterator[S3BlobStore]:
    blobs = S3BlobStore.from_url(bucket.url, part_size=5 * MiB, multipart_threshold=5 * MiB)
    yield blobs
    await blobs.close()


@pytest.fixture
def s3(bucket: S3Bucket) -> Any:
    """A plain botocore client on the test server, to look behind the store's back."""
    client = bucket.server.client()
    yield client
    client.close()


def bucket_keys(s3: Any, bucket: S3Bucket) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket.name)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", ()))


# -- configuration ---------------------------------------------------------------------


def test_from_url() -> None:
    store = S3BlobStore.from_url("s3://my-bucket/some/prefix/")
    assert (store.bucket, store.prefix, store.url) == ("my-bucket", "some/prefix/", "s3://my-bucket/some/prefix")
    assert S3BlobStore.from_url("s3://my-bucket").prefix == ""
    assert S3BlobStore.from_url("s3://my-bucket/").prefix == ""
    for bad in ("s3://", "s3:///prefix", "http://b/p", "s3://b/p?x=1", "s3://UPPER/p", "s3://ab"):
        with pytest.raises(ConfigError):
            S3BlobStore.from_url(bad)
    with pytest.raises(ConfigError, match="not in the URL"):
        S3BlobStore.from_url("s3://key:secret@bucket/prefix")
    with pytest.raises(ConfigError, match="5 MiB"):
        S3BlobStore("bucket", part_size=MiB)


async def test_location_opens_an_s3_store(bucket: S3Bucket, tmp_path: Path) -> None:
    location = StoreLocation.of(tmp_path / "store", blobs=bucket.url)
    assert location.is_s3
    blobs = location.open_blobstore()
    try:
        assert isinstance(blobs, S3BlobStore)
        assert blobs.local_path(key("packs", b"x")) is None
    finally:
        await blobs.close()


async def test_objects_live_under_the_prefix(store: S3BlobStore, bucket: S3Bucket, s3: Any) -> None:
    k = key("packs", b"payload")
    await store.put_bytes(k, b"payload")
    assert bucket_keys(s3, bucket) == [f"{bucket.prefix}/{k}"]
    other = S3BlobStore.from_url(f"s3://{bucket.name}/elsewhere")
    try:
        assert not await other.exists(k)
        assert await other.list_objects("packs") == []
    finally:
        await other.close()


# -- writes: multipart uploads, integrity ---------------------------------------------------


async def test_an_abandoned_multipart_upload_is_an_unfinished_write(
    store: S3BlobStore, bucket: S3Bucket, s3: Any
) -> None:
    k = key("packs", b"abandoned")
    s3_key = f"{bucket.prefix}/{k}"
    up = s3.create_multipart_upload(Bucket=bucket.name, Key=s3_key)
    s3.upload_part(Bucket=bucket.name, Key=s3_key, UploadId=up["UploadId"], PartNumber=1,
                   Body=b"x" * 1000)
    [partial] = await store.list_partials()
    assert partial.key == f"{k}@{up['UploadId']}"
    assert partial.size == 1000
    await store.remove_partial(partial.key)
    assert await store.list_partials() == []
    assert not await store.exists(k)


async def test_a_direct_upload_never_completed_is_an_unfinished_write(
    store: S3BlobStore,
) -> None:
    k = "incoming/" + "b" * 64 + "-" + "1" * 32
    await store.put_bytes(k, b"uploaded, never verified")
    assert [(p.key, p.size) for p in await store.list_partials()] == [(k, 24)]
    assert await store.list_objects("packs") == []
    await store.remove_partial(k)
    assert await store.list_partials() == []


async def test_a_cancelled_upload_is_aborted(store: S3BlobStore) -> None:
    sent = asyncio.Event()

    async def source() -> AsyncIterator[bytes]:
        yield b"a" * (6 * MiB)  # past the threshold: a multipart upload starts
        yield b"b" * (6 * MiB)
        sent.set()
        await asyncio.Event().wait()  # the client stalls

    task = asyncio.ensure_future(store.put_stream(key("packs", b"c"), source()))
    await asyncio.wait_for(sent.wait(), timeout=60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await store.list_partials() == []
    assert await store.list_objects("packs") == []


@pytest.mark.parametrize("size", [1000, 12 * MiB])  # one PUT; a multipart upload
async def test_the_object_store_refuses_bytes_that_do_not_match_their_md5(
    store: S3BlobStore, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """Content-MD5 goes with every PUT and part, and the server checks it: a body damaged
    on the way (here: a digest that does not match) is refused, nothing is stored."""
    wrong = md5_b64(b"other bytes")
    monkeypatch.setattr(s3_writes, "md5_b64", lambda data: wrong)  # single PUTs and parts
    k = key("packs", b"damaged in transit")
    with pytest.raises(BlobStoreError):
        await store.put_bytes(k, b"q" * size)
    assert not await store.exists(k)
    assert await store.list_partials() == []


# -- the maintenance lock across machines -------------------------------------------------


async def test_a_stale_lock_is_taken_over(bucket: S3Bucket, s3: Any) -> None:
    """A holder that died: its lease ran out (written here with a lease already past)."""
    s3.put_object(
        Bucket=bucket.name, Key=f"{bucket.prefix}/maintenance.lock",
        Body=json.dumps({"owner": "dead host pid 1", "lease": -1}).encode(),
    )
    store = S3BlobStore.from_url(bucket.url)
    try:
        async with store.maintenance_lock():
            body = s3.get_object(Bucket=bucket.name, Key=f"{bucket.prefix}/maintenance.lock")
            assert "dead host" not in body["Body"].read().decode()
        assert bucket_keys(s3, bucket) == []  # released
    finally:
        await store.close()


async def test_a_live_lock_names_its_holder(bucket: S3Bucket) -> None:
    first, second = S3BlobStore.from_url(bucket.url), S3BlobStore.from_url(bucket.url)
    try:
        async with first.maintenance_lock():
            with pytest.raises(ConflictError, match=r"another gc or fsck.*pid \d+ holds s3://"):
                async with second.maintenance_lock():
                    pass
    finally:
        await first.close()
        await second.close()


async def test_the_holder_renews_its_lease(bucket: S3Bucket, s3: Any) -> None:
    store = S3BlobStore.from_url(bucket.url, lock_lease=0.4)  # renewed every 0.1 s
    lock_key = f"{bucket.prefix}/maintenance.lock"

    def etag() -> str:  # the test's own (blocking) client: off the event loop, so the
        # holder's renewals keep running while the test looks
        return str(s3.head_object(Bucket=bucket.name, Key=lock_key)["ETag"])

    try:
        async with asyncio.timeout(60), store.maintenance_lock():
            first = await asyncio.to_thread(etag)

            async def renewed() -> None:  # polls the object store, with a deadline
                while await asyncio.to_thread(etag) == first:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(renewed(), timeout=30)
    finally:
        await store.close()


async def test_a_holder_that_loses_its_lock_stops(bucket: S3Bucket, s3: Any) -> None:
    store = S3BlobStore.from_url(bucket.url, lock_lease=0.4)
    try:
        with pytest.raises(ConflictError, match="lost the maintenance lock"):
            async with store.maintenance_lock():
                # Another machine decided the lease ran out and took the lock over (its
                # blocking client runs off the event loop: the holder's renewals go on).
                await asyncio.to_thread(
                    s3.put_object, Bucket=bucket.name, Key=f"{bucket.prefix}/maintenance.lock",
                    Body=b'{"owner": "usurper", "lease": 120}',
                )
                await asyncio.wait_for(asyncio.Event().wait(), timeout=60)  # cancelled
        # The usurper's lock stays: the loser does not delete it.
        body = s3.get_object(Bucket=bucket.name, Key=f"{bucket.prefix}/maintenance.lock")
        assert b"usurper" in body["Body"].read()
    finally:
        await store.close()


async def test_a_holder_that_cannot_renew_stops_before_its_lease_runs_out(
    bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = S3BlobStore.from_url(bucket.url, lock_lease=0.4)
    real_put = LeaseLock._put

    async def unreachable(self: Any, what: str, **condition: str) -> str:
        if "renewing" in what:
            raise S3Error("renewing the maintenance lock failed: unreachable")
        return await real_put(self, what, **condition)

    monkeypatch.setattr(LeaseLock, "_put", unreachable)
    try:
        with pytest.raises(ConflictError, match="could not be renewed"):
            async with store.maintenance_lock():
                await asyncio.wait_for(asyncio.Event().wait(), timeout=60)  # cancelled
    finally:
        await store.close()


# -- presigned URLs ---------------------------------------------------------------------


async def test_presigned_get_and_put_work_with_plain_http(store: S3BlobStore) -> None:
    data = bytes(range(256)) * 1000
    k = key("packs", data)
    put_url = await store.presign_put(k, 60, content_md5=md5_b64(data))
    assert "Signature" in put_url and "asyncart-test" in put_url  # access key id, no secret
    async with aiohttp.ClientSession() as http:
        # The signed Content-MD5 must be sent, and must match the body.
        async with http.put(put_url, data=data) as resp:
            assert resp.status == 403
        async with http.put(put_url, data=b"x" + data[1:],
                            headers={"Content-MD5": md5_b64(data)}) as resp:
            assert resp.status == 400, await resp.text()
        assert not await store.exists(k)
        async with http.put(put_url, data=data, headers={"Content-MD5": md5_b64(data)}) as resp:
            assert resp.status == 200, await resp.text()
        assert await store.get_bytes(k) == data

        get_url = await store.presign_get(k, 60)
        async with http.get(get_url) as resp:
            assert resp.status == 200
            assert await resp.read() == data
        async with http.get(get_url, headers={"Range": "bytes=1000-1999"}) as resp:
            assert resp.status == 206
            assert await resp.read() == data[1000:2000]
        other = key("packs", b"other")
        async with http.get(get_url.replace(k.split("/")[1], other.split("/")[1])) as resp:
            assert resp.status == 403  # the signature covers the key
    with pytest.raises(ConfigError):
        await store.presign_get(k, 0)


async def test_a_presigned_put_can_fix_the_size(store: S3BlobStore) -> None:
    data = b"exactly this long"
    k = key("manifests", data)
    url = await store.presign_put(k, 60, content_md5=md5_b64(data), content_length=len(data))
    headers = {"Content-MD5": md5_b64(data)}
    async with aiohttp.ClientSession() as http, http.put(url, data=data, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
    assert await store.get_bytes(k) == data


# -- errors -----------------------------------------------------------------------------


async def test_wrong_credentials_are_a_clear_error_without_the_secret(
    bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-canary")
    store = S3BlobStore.from_url(bucket.url)
    try:
        with pytest.raises(BlobStoreError, match="refused the credentials") as caught:
            await store.get_bytes(key("packs", b"x"))
        assert "canary" not in str(caught.value)
        assert bucket.server.secret_key not in str(caught.value)
    finally:
        await store.close()


async def test_a_missing_bucket_is_named(bucket: S3Bucket) -> None:
    store = S3BlobStore.from_url(f"s3://{bucket.name}-absent/p")
    try:
        with pytest.raises(BlobStoreError, match="does not exist"):
            await store.put_bytes(key("packs", b"x"), b"x")
        with pytest.raises(BlobStoreError, match="does not exist"):
            await store.get_bytes(key("packs", b"x"))
    finally:
        await store.close()


async def test_an_unreachable_endpoint_is_a_blobstore_error(
    bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    store = S3BlobStore.from_url(bucket.url)
    try:
        with pytest.raises(BlobStoreError, match="failed"):
            await store.exists(key("packs", b"x"))
    finally:
        await store.close()


# -- a repository with its blobs in a bucket ----------------------------------------------


@pytest.fixture
async def repo(bucket: S3Bucket, tmp_path: Path) -> AsyncIterator[Repository]:
    r = await Repository.open(StoreLocation.of(tmp_path / "store", blobs=bucket.url))
    try:
        yield r
    finally:
        await r.close()


FILES = {"a.bin": d("a", 5000), "b.bin": d("b", 3000)}


async def test_push_read_and_reopen(
    repo: Repository, bucket: S3Bucket, tmp_path: Path, s3: Any
) -> None:
    info = await push(repo, FILES)
    manifest, chunks = manifest_of(FILES)
    assert info.digest == manifest.digest
    assert not (tmp_path / "store" / "blobs").exists()  # nothing local but the database
    located = await repo.locate_chunks(list(chunks))
    assert set(located) == set(chunks)
    for h, where in located.items():
        assert repo.pack_path(where.pack) is None  # served by read_range
        assert await repo.read_pack_range(where.pack, where.offset, where.length) == chunks[h]
    keys = bucket_keys(s3, bucket)
    assert f"{bucket.prefix}/{await version_manifest_key(repo, info)}" in keys
    assert len([k for k in keys if "/packs/" in k]) == 1

    again = await Repository.open(StoreLocation.of(tmp_path / "store", blobs=bucket.url))
    try:
        version, blob = await again.get_manifest_blob(PROJECT, NAME, "latest")
        assert version.digest == info.digest
        assert blob == await repo.blobs.get_bytes(await version_manifest_key(repo, info))
    finally:
        await again.close()


async def test_gc_on_an_s3_store(repo: Repository, bucket: S3Bucket, s3: Any) -> None:
    await push(repo, {"keep": d("k", 2000)})
    await push(repo, {"drop": d("x", 3000)})
    await repo.delete_version(PROJECT, NAME, "v1")
    # A crash left an unindexed pack object, an unfinished multipart upload and a
    # direct upload never completed.
    await repo.blobs.put_bytes("incoming/" + "c" * 64 + "-" + "2" * 32, b"abandoned")
    orphan = pack_key("e" * 64)
    await repo.blobs.put_bytes(orphan, b"orphan bytes")
    s3_key = f"{bucket.prefix}/{pack_key('f' * 64)}"
    up = s3.create_multipart_upload(Bucket=bucket.name, Key=s3_key)
    s3.upload_part(Bucket=bucket.name, Key=s3_key, UploadId=up["UploadId"], PartNumber=1,
                   Body=b"half a pack")

    # Object mtimes are the object store's; a zero grace makes everything old enough.
    report = await collect_garbage(repo, grace=0)
    assert (report.deleted_packs, report.deleted_bytes) == (1, 3000)
    assert (report.deleted_orphan_files, report.deleted_partials) == (1, 2)
    assert report.deleted_manifests == 1
    assert report.deleted_partial_bytes == len(b"half a pack") + len(b"abandoned")
    assert len(await repo.blobs.list_objects("packs")) == 1
    assert await repo.blobs.list_partials() == []
    assert await repo.blobs.list_hidden() == []
    assert not [k for k in bucket_keys(s3, bucket) if "/trash/" in k or k.endswith(".lock")]
    assert (await fsck(repo)).clean


def bucket_pack_bytes(s3: Any, bucket: S3Bucket) -> int:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket.name)
    return sum(
        o["Size"] for page in pages for o in page.get("Contents", ()) if "/packs/" in o["Key"]
    )


async def test_retention_dry_run_predicts_the_bucket_bytes_gc_frees(
    repo: Repository, bucket: S3Bucket, s3: Any
) -> None:
    for i in range(3):
        await push(repo, {"f": d(f"r{i}", 2000 + i)})
    await repo.set_retention(PROJECT, NAME, RetentionPolicy(keep_last=1))
    before = bucket_pack_bytes(s3, bucket)

    _, dry = await retain_and_collect(repo, grace=0, dry_run=True)
    assert bucket_pack_bytes(s3, bucket) == before
    _, real = await retain_and_collect(repo, grace=0)

    assert real.deleted_bytes == dry.deleted_bytes == before - bucket_pack_bytes(s3, bucket)
    assert real.deleted_bytes == 2000 + 2001
    assert [v.index for v in await repo.list_versions(PROJECT, NAME)] == [2]


async def test_gc_waits_for_no_one_while_another_machine_maintains(
    repo: Repository, bucket: S3Bucket
) -> None:
    other = S3BlobStore.from_url(bucket.url)
    try:
        async with other.maintenance_lock():
            with pytest.raises(ConflictError, match="another gc or fsck"):
                await collect_garbage(repo, grace=0)
            with pytest.raises(ConflictError, match="another gc or fsck"):
                await fsck(repo)
    finally:
        await other.close()
    await collect_garbage(repo, grace=0)  # free again


async def test_fsck_finds_repairs_and_a_push_heals_a_damaged_pack(
    repo: Repository, bucket: S3Bucket, s3: Any
) -> None:
    await push(repo, FILES)
    [pack] = await repo.blobs.list_objects("packs")
    s3_key = f"{bucket.prefix}/{pack.key}"
    body = bytearray(s3.get_object(Bucket=bucket.name, Key=s3_key)["Body"].read())
    original = bytes(body)
    body[2500] ^= 0xFF  # inside the third 1 KiB chunk of a.bin
    s3.put_object(Bucket=bucket.name, Key=s3_key, Body=bytes(body))
    damaged = list(manifest_of(FILES)[1])[2]

    found = await fsck(repo)
    assert found.kinds() == {checker.CHUNK_CORRUPT, checker.VERSION_INCOMPLETE}
    assert found.chunks_hashed == 8

    repaired = await fsck(repo, repair=True)
    assert [f.kind for f in repaired.findings if f.repaired] == [checker.CHUNK_CORRUPT]
    kept = s3.get_object(Bucket=bucket.name, Key=f"{bucket.prefix}/quarantine/{pack.key}")
    assert kept["Body"].read() == bytes(body)
    assert await repo.missing_chunks(list(manifest_of(FILES)[1])) == [damaged]

    again = await push(repo, FILES)  # uploads just the damaged chunk
    assert (again.index, again.created) == (0, False)
    assert (await fsck(repo)).clean
    assert original != bytes(body)


async def test_an_interrupted_gc_is_finished_by_the_next(repo: Repository) -> None:
    await push(repo, FILES)
    [pack] = await repo.blobs.list_objects("packs")
    assert await repo.blobs.hide(pack.key)  # gc stopped between hide and its decision
    report = await collect_garbage(repo, grace=0)
    assert (report.trash_restored, report.trash_purged) == (1, 0)
    assert await repo.blobs.exists(pack.key)
    assert (await fsck(repo)).clean
