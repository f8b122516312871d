"""S3-compatible blobstore: ``s3://bucket/prefix`` on AWS S3, MinIO, Ceph RGW, R2, SeaweedFS...

Layout under ``<prefix>/`` (the prefix may be empty):

* ``packs/<hex>``, ``manifests/<hex>``: the objects (flat: object stores need no
  directory fan-out);
* ``trash/<kind>/<hex>``: objects hidden by gc/fsck awaiting purge (docs/gc.md);
* ``quarantine/<kind>/<hex>``: copies of damaged objects, never removed automatically;
* ``maintenance.lock``: the lease object held by a running gc or fsck.

**Writes** (:mod:`.s3_writes`): one ``PUT`` or a multipart upload, each part checked by
its ``Content-MD5``; an object appears under its key whole or not at all.

**Removal in two steps** (docs/gc.md): :meth:`S3BlobStore.hide` copies the object into
the trash and then deletes it from its key (S3 has no rename), so the object is off its
key before gc's metastore decision, as a rename would leave it; :meth:`unhide` copies it
back. Copies are single ``CopyObject`` requests (objects up to 5 GiB; packs are ~32 MiB).

**Maintenance lock** (:mod:`.s3_lock`): a lease object taken with a conditional ``PUT``;
the object store must support conditional writes (AWS S3 since 2024, MinIO, SeaweedFS,
Ceph RGW Squid).

Endpoint, region and credentials come from botocore's usual sources: ``AWS_*``
environment variables (``AWS_ENDPOINT_URL`` or ``AWS_ENDPOINT_URL_S3`` for a non-AWS
endpoint), ``~/.aws/config`` and ``~/.aws/credentials``, instance roles.

This module holds the store's layout and its operations; the connection to the bucket and
its error mapping are in :mod:`.s3_client`, range hashing in :mod:`.s3_ranges`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import urlsplit

from asyncart.errors import BlobStoreError, ConfigError, NotFoundError, S3Error
from asyncart.repo.blobstores.base import INCOMING, KINDS, BlobInfo, BlobStore, check_key
from asyncart.repo.blobstores.s3_client import S3Client
from asyncart.repo.blobstores.s3_common import DEFAULT_LOCK_LEASE, MiB, expiry
from asyncart.repo.blobstores.s3_lock import LeaseLock
from asyncart.repo.blobstores.s3_ranges import RangeHashes
from asyncart.repo.blobstores.s3_writes import write_object

#: Part size of multipart uploads (S3 allows 5 MiB to 5 GiB, at most 10,000 parts).
DEFAULT_PART_SIZE = 16 * MiB
#: Objects up to this size go in one PUT (a pack of the default 32 MiB plus its last
#: chunk is one request).
DEFAULT_MULTIPART_THRESHOLD = 40 * MiB
_STREAM_PIECE = 4 * MiB
_HEX64 = re.compile(r"[0-9a-f]{64}")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-_]{1,253}[a-z0-9]")


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
        self.part_size = part_size
        self.multipart_threshold = multipart_threshold
        self.lock_lease = lock_lease
        self.client = S3Client(
            bucket,
            self.url,
            endpoint_url=endpoint_url,
            region=region,
            max_connections=max_connections,
        )

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

    async def close(self) -> None:
        """Close the client's connections."""
        await self.client.close()

    # -- objects ------------------------------------------------------------------

    async def put_stream(self, key: str, parts: AsyncIterable[bytes | memoryview]) -> int:
        """One ``PUT`` or a multipart upload, by size (see :mod:`.s3_writes`)."""
        return await write_object(self, key, self._key(key), parts)

    async def get_bytes(self, key: str) -> bytes:
        s3_key = self._key(key)

        async def get(c: Any) -> bytes:
            resp = await c.get_object(Bucket=self.bucket, Key=s3_key)
            async with resp["Body"] as body:
                return bytes(await body.read())

        return await self.client.call(f"reading {key}", get)

    async def read_stream(self, key: str) -> AsyncIterator[bytes]:
        s3_key = self._key(key)
        resp = await self.client.call(
            f"reading {key}", lambda c: c.get_object(Bucket=self.bucket, Key=s3_key)
        )
        async with resp["Body"] as body:
            while True:
                try:
                    piece = await body.read(_STREAM_PIECE)
                except Exception as exc:
                    raise self.client.error_for(exc, f"reading {key}") from None
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
            data = await self.client.call(f"reading {key}", get)
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
        await self.client.call(
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
            await self.client.call(
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
            await self.client.call(
                f"signing an upload of {key}",
                lambda c: c.generate_presigned_url(
                    "put_object", Params=params, ExpiresIn=expiry(expires)
                ),
            )
        )

    # -- maintenance ----------------------------------------------------------------

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
        objects = await self.client.list_objects(f"{self.prefix}{kind}/", f"listing {kind}")
        return self._infos(objects, self.prefix)

    async def stat(self, key: str) -> BlobInfo | None:
        s3_key = self._key(key)
        try:
            head = await self.client.call(
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
        found = [
            BlobInfo(f"{up.key[len(self.prefix) :]}@{up.upload_id}", up.size, up.mtime)
            for up in await self.client.unfinished_uploads(self.prefix)
        ]
        base = f"{self.prefix}{INCOMING}/"
        for obj in await self.client.list_objects(base, "listing direct uploads"):
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
            await self.client.call(
                f"aborting the unfinished upload of {key}",
                lambda c: c.abort_multipart_upload(
                    Bucket=self.bucket, Key=s3_key, UploadId=upload_id
                ),
            )

    async def hash_ranges(self, key: str, ranges: Sequence[tuple[int, int]]) -> list[str | None]:
        """One GET of the span the ranges cover; each range hashed as its bytes stream by."""
        s3_key = self._key(key)
        hashes = RangeHashes(ranges)
        if hashes.any_bytes_wanted:
            try:
                await self.client.call(
                    f"verifying {key}", lambda c: hashes.read(c, self.bucket, s3_key)
                )
            except NotFoundError:
                raise NotFoundError(f"blob {key} is not in the store") from None
        if hashes.none_found and await self.stat(key) is None:
            raise NotFoundError(f"blob {key} is not in the store")
        return hashes.digests()

    async def _copy(self, src: str, dst: str, what: str) -> bool:
        """Server-side copy; False if ``src`` is absent."""
        try:
            await self.client.call(
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
        await self.client.call(
            f"purging {key}", lambda c: c.delete_object(Bucket=self.bucket, Key=trash)
        )

    async def list_hidden(self) -> list[BlobInfo]:
        base = f"{self.prefix}trash/"
        return self._infos(await self.client.list_objects(base, "listing the trash"), base)

    async def quarantine(self, key: str) -> str:
        dst = f"{self.prefix}quarantine/{check_key(key)}"
        exists = True
        try:
            await self.client.call(
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
