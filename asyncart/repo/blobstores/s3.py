"""S3-compatible blobstore: ``s3://bucket/prefix`` on AWS S3, MinIO, Ceph RGW, R2, SeaweedFS...

Layout under ``<prefix>/`` (the prefix may be empty):

* ``packs/<hex>``, ``manifests/<hex>``: the objects (flat: object stores need no
  directory fan-out);
* ``trash/<kind>/<hex>``: objects hidden by gc/fsck awaiting purge (docs/gc.md);
* ``quarantine/<kind>/<hex>``: copies of damaged objects, never removed automatically;
* ``maintenance.lock``: the lease object held by a running gc or fsck.

**Writes.** An object up to ``multipart_threshold`` bytes is buffered and sent as one
``PUT``; a larger one becomes a multipart upload whose parts (``part_size`` bytes) are
sent while the stream still arrives (one part in flight, one filling: memory stays
within about ``multipart_threshold + 2 * part_size`` per upload; S3's 10,000 parts make
the largest object ``10,000 * part_size``, 156 GiB by default). Every ``PUT`` and
part carries ``Content-MD5``, which the object store checks before it accepts the
bytes. An object appears under its key only when the ``PUT`` or
``CompleteMultipartUpload`` succeeds, whole: S3 has no partial objects. If the stream
raises (or the task is cancelled), the multipart upload is aborted; one left by a
killed process is an *unfinished write* (:meth:`list_partials`) that gc and fsck
remove once it is older than their grace period.

**Removal in two steps** (docs/gc.md): :meth:`S3BlobStore.hide` copies the object into
the trash and then deletes it from its key (S3 has no rename), so the object is off its
key before gc's metastore decision, as a rename would leave it; :meth:`unhide` copies it
back. Copies are single ``CopyObject`` requests (objects up to 5 GiB; packs are ~16 MiB).

**Maintenance lock.** A conditional ``PUT`` (``If-None-Match: *``) of the lock object
takes the lock: exactly one of several processes, on any machines, succeeds. The holder
renews its lease (``PUT`` with ``If-Match`` of its own ETag) every quarter lease; a lock
not renewed for a whole lease (judged by the object store's clock: the response's
``Date`` against the object's ``Last-Modified``) belongs to a dead holder and is taken
over, again conditionally (``If-Match`` of the stale ETag), so two waiters cannot both
take it. A holder that finds its lock taken (its renewal refused) cancels the work under
the lock, which ends with :class:`~asyncart.errors.ConflictError`. The object store must
support conditional writes (AWS S3 since 2024, MinIO, SeaweedFS, Ceph RGW Squid).

Endpoint, region and credentials come from botocore's usual sources: ``AWS_*``
environment variables (``AWS_ENDPOINT_URL`` or ``AWS_ENDPOINT_URL_S3`` for a non-AWS
endpoint), ``~/.aws/config`` and ``~/.aws/credentials``, instance roles.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anyio.to_thread
import blake3

from asyncart.errors import BlobStoreError, ConfigError, ConflictError, NotFoundError, S3Error
from asyncart.repo.blobstores.base import INCOMING, KINDS, BlobInfo, BlobStore, check_key
from asyncart.repo.blobstores.s3_common import (
    DEFAULT_LOCK_LEASE,
    DENIED,
    NOT_FOUND,
    MiB,
    configured_endpoint,
    describe,
    error_code,
    expiry,
    md5_b64,
)
from asyncart.repo.blobstores.s3_lock import LeaseLock
from asyncart.repo.blobstores.s3_multipart import MultipartUpload

log = logging.getLogger(__name__)

#: Part size of multipart uploads (S3 allows 5 MiB to 5 GiB, at most 10,000 parts).
DEFAULT_PART_SIZE = 16 * MiB
#: Objects up to this size go in one PUT (a pack of the default 16 MiB plus its last
#: chunk is one request).
DEFAULT_MULTIPART_THRESHOLD = 24 * MiB
_HASH_BATCH = 8 * MiB
_STREAM_PIECE = 4 * MiB
_HEX64 = re.compile(r"[0-9a-f]{64}")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-_]{1,253}[a-z0-9]")
T = TypeVar("T")


class S3BlobStore(BlobStore):
    """Objects in an S3-compatible bucket under a key prefix (see the module doc).

    The client connects lazily, on first use, in the running event loop; call
    :meth:`close` when done.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
        lock_lease: float = DEFAULT_LOCK_LEASE,
        max_connections: int = 64,
    ) -> None:
        if not _BUCKET.fullmatch(bucket):
            raise ConfigError(f"{bucket!r} is not a valid S3 bucket name")
        if part_size < 5 * MiB:
            raise ConfigError("the S3 part size must be at least 5 MiB")
        if multipart_threshold < part_size:
            raise ConfigError("the multipart threshold must be at least the part size")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self.region = region
        self.part_size = part_size
        self.multipart_threshold = multipart_threshold
        self.lock_lease = lock_lease
        self.max_connections = max_connections
        self._client: Any = None
        self._client_cm: Any = None
        self._client_lock = asyncio.Lock()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> S3BlobStore:
        """The store at ``s3://bucket/prefix``; ``options`` as for the constructor.

        Raises:
            ConfigError: not an ``s3://`` URL with a bucket.
        """
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise ConfigError(f"{url!r} is not an S3 location like s3://bucket/prefix")
        if "@" in parts.netloc:
            raise ConfigError(
                "put S3 credentials in the AWS environment or config files, not in the URL"
            )
        return cls(parts.netloc, parts.path, **options)

    @property
    def url(self) -> str:
        """``s3://bucket/prefix`` (no credentials)."""
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _trash(self, key: str) -> str:
        return f"{self.prefix}trash/{check_key(key)}"

    @property
    def _lock_key(self) -> str:
        return f"{self.prefix}maintenance.lock"

    # -- the client ---------------------------------------------------------------

    async def _s3(self) -> Any:
        if self._client is not None:
            return self._client
        async with self._client_lock:
            if self._client is None:
                from aiobotocore.config import AioConfig  # type: ignore[import-untyped]
                from aiobotocore.session import get_session  # type: ignore[import-untyped]

                session = get_session()
                endpoint = self.endpoint_url or configured_endpoint(session)
                region = self.region or session.get_config_variable("region")
                s3_options: dict[str, Any] = {}
                if endpoint is not None:
                    s3_options["addressing_style"] = "path"  # MinIO, Ceph, SeaweedFS...
                config = AioConfig(
                    max_pool_connections=self.max_connections,
                    connect_timeout=10,
                    read_timeout=120,
                    retries={"max_attempts": 5, "mode": "standard"},
                    s3=s3_options,
                    signature_version="s3v4",
                    # We send Content-MD5 ourselves; botocore's default CRC32 trailers
                    # (aws-chunked bodies) are not understood by every S3 server.
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                )
                try:
                    cm = session.create_client(
                        "s3",
                        endpoint_url=endpoint,
                        region_name=region or ("us-east-1" if endpoint else None),
                        config=config,
                    )
                    client = await cm.__aenter__()
                except Exception as exc:
                    raise BlobStoreError(
                        f"cannot set up the S3 client for {self.url}: {describe(exc)}"
                    ) from None
                self._client_cm, self._client = cm, client
        return self._client

    async def close(self) -> None:
        """Close the client's connections."""
        cm, self._client, self._client_cm = self._client_cm, None, None
        if cm is not None:
            await cm.__aexit__(None, None, None)

    async def _call(self, what: str, op: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``op(client)``; map the client's errors to ours (``what`` names the action)."""
        client = await self._s3()
        try:
            return await op(client)
        except (BlobStoreError, NotFoundError, ConflictError, ConfigError):
            raise
        except Exception as exc:
            raise self._map(exc, what) from None

    def _map(self, exc: BaseException, what: str) -> Exception:
        code = error_code(exc)
        if code in NOT_FOUND:
            return NotFoundError(f"{what}: not in the store")
        if code == "NoSuchBucket":
            return S3Error(f"{what}: bucket {self.bucket!r} does not exist", code)
        if code in DENIED:
            return S3Error(
                f"{what}: the object store refused the credentials ({code}); check the "
                "AWS credentials and the bucket policy",
                code,
            )
        return S3Error(f"{what} in {self.url} failed: {describe(exc)}", code)

    # -- objects ------------------------------------------------------------------

    async def put_stream(self, key: str, parts: AsyncIterable[bytes | memoryview]) -> int:
        s3_key = self._key(key)
        pending: list[bytes | memoryview] = []
        pending_size = 0
        size = 0
        upload: MultipartUpload | None = None
        try:
            async for part in parts:
                if not len(part):
                    continue
                pending.append(part)
                pending_size += len(part)
                size += len(part)
                if upload is None and pending_size > self.multipart_threshold:
                    upload = MultipartUpload(self, s3_key, key)
                    await upload.start()
                if upload is not None and pending_size >= self.part_size:
                    # Parts are at least part_size (S3 wants >= 5 MiB but the last): no
                    # exact cut, so each byte is copied once, here.
                    body, pending, pending_size = b"".join(pending), [], 0
                    await upload.send(body)
            body, pending = b"".join(pending), []
            if upload is None:
                digest = await anyio.to_thread.run_sync(md5_b64, body)
                await self._call(
                    f"storing {key}",
                    lambda c: c.put_object(
                        Bucket=self.bucket, Key=s3_key, Body=body, ContentMD5=digest
                    ),
                )
            else:
                if body:
                    await upload.send(body)
                await upload.complete()
        except BaseException:
            if upload is not None:
                await upload.abort()
            raise
        return size

    async def get_bytes(self, key: str) -> bytes:
        s3_key = self._key(key)

        async def get(c: Any) -> bytes:
            resp = await c.get_object(Bucket=self.bucket, Key=s3_key)
            async with resp["Body"] as body:
                return bytes(await body.read())

        return await self._call(f"reading {key}", get)

    async def read_stream(self, key: str) -> AsyncIterator[bytes]:
        s3_key = self._key(key)
        resp = await self._call(
            f"reading {key}", lambda c: c.get_object(Bucket=self.bucket, Key=s3_key)
        )
        async with resp["Body"] as body:
            while True:
                try:
                    piece = await body.read(_STREAM_PIECE)
                except Exception as exc:
                    raise self._map(exc, f"reading {key}") from None
                if not piece:
                    return
                yield bytes(piece)

    async def copy(self, src: str, dst: str) -> None:
        """Server-side ``CopyObject`` (objects up to 5 GiB)."""
        if not await self._copy(self._key(src), self._key(dst), f"copying {src}"):
            raise NotFoundError(f"blob {src} is not in the store")

    async def read_range(self, key: str, offset: int, length: int) -> bytes:
        s3_key = self._key(key)
        if offset < 0 or length < 0:
            raise ConfigError(f"bad range {offset}+{length} of {key}")
        short = BlobStoreError(
            f"blob {key} is shorter than expected: wanted {length} bytes at {offset}; "
            "run 'asyncart server fsck'"
        )
        if length == 0:
            if await self.stat(key) is None:
                raise NotFoundError(f"blob {key} is not in the store")
            return b""

        async def get(c: Any) -> bytes:
            resp = await c.get_object(
                Bucket=self.bucket, Key=s3_key, Range=f"bytes={offset}-{offset + length - 1}"
            )
            async with resp["Body"] as body:
                return bytes(await body.read())

        try:
            data = await self._call(f"reading {key}", get)
        except S3Error as exc:
            if exc.s3_code in ("InvalidRange", "416"):
                raise short from None
            raise
        except NotFoundError:
            raise NotFoundError(f"blob {key} is not in the store") from None
        if len(data) != length:
            raise short
        return data

    async def exists(self, key: str) -> bool:
        return await self.stat(key) is not None

    async def delete(self, key: str) -> None:
        s3_key = self._key(key)
        await self._call(
            f"deleting {key}", lambda c: c.delete_object(Bucket=self.bucket, Key=s3_key)
        )

    def local_path(self, key: str) -> None:
        """Never local: the server reads ranges with :meth:`read_range`."""
        check_key(key)
        return None

    # -- presigned URLs -------------------------------------------------------------

    @property
    def can_presign(self) -> bool:
        """Always: clients can move bytes to and from the bucket directly."""
        return True

    async def presign_get(self, key: str, expires: float) -> str:
        """A URL that GETs ``key`` (Range requests allowed) without credentials, valid for
        ``expires`` seconds."""
        s3_key = self._key(key)
        return str(
            await self._call(
                f"signing a download of {key}",
                lambda c: c.generate_presigned_url(
                    "get_object",
                    Params={"Bucket": self.bucket, "Key": s3_key},
                    ExpiresIn=expiry(expires),
                ),
            )
        )

    async def presign_put(
        self,
        key: str,
        expires: float,
        *,
        content_md5: str | None = None,
        content_length: int | None = None,
    ) -> str:
        """A URL that PUTs ``key`` without credentials, valid for ``expires`` seconds.

        With ``content_md5`` (base64 MD5 of the body, as in the ``Content-MD5`` header) the
        header is part of the signature: the uploader must send exactly it, and the object
        store refuses a body whose MD5 differs. With ``content_length`` the size is signed
        too. The object appears whole or not at all, like any PUT.
        """
        s3_key = self._key(key)
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": s3_key}
        if content_md5 is not None:
            params["ContentMD5"] = content_md5
        if content_length is not None:
            params["ContentLength"] = content_length
        return str(
            await self._call(
                f"signing an upload of {key}",
                lambda c: c.generate_presigned_url(
                    "put_object", Params=params, ExpiresIn=expiry(expires)
                ),
            )
        )

    # -- maintenance ----------------------------------------------------------------

    async def _list(self, prefix: str, what: str) -> list[dict[str, Any]]:
        async def run(c: Any) -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            paginator = c.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                out.extend(page.get("Contents", ()))
            return out

        return await self._call(what, run)

    def _infos(self, objects: list[dict[str, Any]], base: str) -> list[BlobInfo]:
        found = []
        for obj in objects:
            rest = obj["Key"][len(base) :]
            kind, _, name = rest.partition("/")
            if kind in KINDS and _HEX64.fullmatch(name):
                found.append(
                    BlobInfo(f"{kind}/{name}", int(obj["Size"]), obj["LastModified"].timestamp())
                )
        return found

    async def list_objects(self, kind: str) -> list[BlobInfo]:
        if kind not in KINDS:
            raise ConfigError(f"blob kind {kind!r} is not one of {', '.join(KINDS)}")
        objects = await self._list(f"{self.prefix}{kind}/", f"listing {kind}")
        return self._infos(objects, self.prefix)

    async def stat(self, key: str) -> BlobInfo | None:
        s3_key = self._key(key)
        try:
            head = await self._call(
                f"reading {key}", lambda c: c.head_object(Bucket=self.bucket, Key=s3_key)
            )
        except NotFoundError:
            return None
        return BlobInfo(key, int(head["ContentLength"]), head["LastModified"].timestamp())

    async def list_partials(self) -> list[BlobInfo]:
        """Multipart uploads under the prefix not completed nor aborted, named
        ``<key>@<upload id>`` (the size is what their parts hold, the mtime their latest
        part's, or their start), and direct uploads never completed, named by their key
        ``incoming/<pack id>-<token>``."""

        async def run(c: Any) -> list[BlobInfo]:
            found = []
            paginator = c.get_paginator("list_multipart_uploads")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for up in page.get("Uploads", ()):
                    key = up["Key"][len(self.prefix) :]
                    if not up["Key"].startswith(self.prefix) or "@" in key:
                        continue
                    size, mtime = 0, up["Initiated"].timestamp()
                    parts = c.get_paginator("list_parts")
                    try:
                        async for p in parts.paginate(
                            Bucket=self.bucket, Key=up["Key"], UploadId=up["UploadId"]
                        ):
                            for part in p.get("Parts", ()):
                                size += int(part["Size"])
                                mtime = max(mtime, part["LastModified"].timestamp())
                    except Exception as exc:
                        if error_code(exc) in NOT_FOUND:
                            continue  # completed or aborted since it was listed
                        raise
                    found.append(BlobInfo(f"{key}@{up['UploadId']}", size, mtime))
            return found

        found = await self._call("listing unfinished uploads", run)
        base = f"{self.prefix}{INCOMING}/"
        for obj in await self._list(base, "listing direct uploads"):
            name = f"{INCOMING}/{obj['Key'][len(base) :]}"
            with contextlib.suppress(ConfigError):
                found.append(
                    BlobInfo(check_key(name), int(obj["Size"]), obj["LastModified"].timestamp())
                )
        return found

    async def remove_partial(self, name: str) -> None:
        if name.startswith(f"{INCOMING}/"):
            await self.delete(name)
            return
        key, sep, upload_id = name.partition("@")
        if not sep or not upload_id:
            raise ConfigError(f"{name!r} is not the name of an unfinished write")
        s3_key = self._key(key)
        with contextlib.suppress(NotFoundError):
            await self._call(
                f"aborting the unfinished upload of {key}",
                lambda c: c.abort_multipart_upload(
                    Bucket=self.bucket, Key=s3_key, UploadId=upload_id
                ),
            )

    async def hash_ranges(self, key: str, ranges: Sequence[tuple[int, int]]) -> list[str | None]:
        """One GET of the span the ranges cover; each range hashed as its bytes stream by."""
        s3_key = self._key(key)
        out: list[str | None] = [None] * len(ranges)
        wanted = [(o, n, i) for i, (o, n) in enumerate(ranges) if n > 0]
        for i, (_, n) in enumerate(ranges):
            if n == 0:
                out[i] = blake3.blake3().hexdigest()
        if not wanted:
            if await self.stat(key) is None:
                raise NotFoundError(f"blob {key} is not in the store")
            return out
        wanted.sort()
        start = wanted[0][0]
        end = max(o + n for o, n, _ in wanted)
        hashers = {i: blake3.blake3() for _, _, i in wanted}
        fed = dict.fromkeys(hashers, 0)

        def feed(pos: int, data: bytes) -> None:
            stop = pos + len(data)
            for o, n, i in wanted:
                if o >= stop:
                    break
                lo, hi = max(o, pos), min(o + n, stop)
                if lo < hi:
                    hashers[i].update(memoryview(data)[lo - pos : hi - pos])
                    fed[i] += hi - lo

        async def run(c: Any) -> None:
            try:
                resp = await c.get_object(
                    Bucket=self.bucket, Key=s3_key, Range=f"bytes={start}-{end - 1}"
                )
            except Exception as exc:
                if error_code(exc) in ("InvalidRange", "416"):
                    return  # every range starts past the end
                raise
            pos = start
            batch: list[bytes] = []
            batch_size = 0
            async with resp["Body"] as body:
                while True:
                    piece = await body.read(MiB)
                    if piece:
                        batch.append(piece)
                        batch_size += len(piece)
                    if batch and (batch_size >= _HASH_BATCH or not piece):
                        data = b"".join(batch)
                        await anyio.to_thread.run_sync(feed, pos, data)
                        pos += len(data)
                        batch, batch_size = [], 0
                    if not piece:
                        break

        try:
            await self._call(f"verifying {key}", run)
        except NotFoundError:
            raise NotFoundError(f"blob {key} is not in the store") from None
        for _o, n, i in wanted:
            out[i] = hashers[i].hexdigest() if fed[i] == n else None
        if all(out[i] is None for _, _, i in wanted) and await self.stat(key) is None:
            raise NotFoundError(f"blob {key} is not in the store")
        return out

    async def _copy(self, src: str, dst: str, what: str) -> bool:
        """Server-side copy; False if ``src`` is absent."""
        try:
            await self._call(
                what,
                lambda c: c.copy_object(
                    Bucket=self.bucket, Key=dst, CopySource={"Bucket": self.bucket, "Key": src}
                ),
            )
        except NotFoundError:
            return False
        return True

    async def hide(self, key: str) -> bool:
        """Copy the object into the trash, then delete it from its key.

        A process killed in between leaves both; :meth:`list_hidden` shows the copy and
        recovery either restores (a no-op) or purges it.
        """
        if not await self._copy(self._key(key), self._trash(key), f"hiding {key}"):
            return False
        await self.delete(key)
        return True

    async def unhide(self, key: str) -> None:
        if await self._copy(self._trash(key), self._key(key), f"restoring {key}"):
            await self.purge(key)

    async def purge(self, key: str) -> None:
        trash = self._trash(key)
        await self._call(f"purging {key}", lambda c: c.delete_object(Bucket=self.bucket, Key=trash))

    async def list_hidden(self) -> list[BlobInfo]:
        base = f"{self.prefix}trash/"
        return self._infos(await self._list(base, "listing the trash"), base)

    async def quarantine(self, key: str) -> str:
        dst = f"{self.prefix}quarantine/{check_key(key)}"
        exists = True
        try:
            await self._call(
                f"quarantining {key}", lambda c: c.head_object(Bucket=self.bucket, Key=dst)
            )
        except NotFoundError:
            exists = False
        if not exists and not await self._copy(self._key(key), dst, f"quarantining {key}"):
            raise NotFoundError(f"blob {key} is not in the store")
        return f"s3://{self.bucket}/{dst}"

    def maintenance_lock(self) -> AbstractAsyncContextManager[None]:
        """A lease on ``<prefix>/maintenance.lock`` (see the module doc).

        Raises ConflictError at once if a live holder has it, and from the ``async with``
        body if the lock is lost while held (the body is cancelled).
        """
        return LeaseLock(self)
