"""Writing an object of the S3 blob store: one ``PUT``, or a multipart upload whose parts
are sent while the stream still arrives.

An object up to ``multipart_threshold`` bytes is buffered and sent as one
``PUT``; a larger one becomes a multipart upload whose parts (``part_size`` bytes) are
sent while the stream still arrives (one part in flight, one filling: memory stays
within about ``multipart_threshold + 2 * part_size`` per upload; S3's 10,000 parts make
the largest object ``10,000 * part_size``, 156 GiB by default). Every ``PUT`` and
part carries ``Content-MD5``, which the object store checks before it accepts the
bytes. An object appears under its key only when the ``PUT`` or
``CompleteMultipartUpload`` succeeds, whole: S3 has no partial objects. If the stream
raises (or the task is cancelled), the multipart upload is aborted; one left by a
killed process is an *unfinished write* (:meth:`~.S3BlobStore.list_partials`) that gc and fsck
remove once it is older than their grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterable
from typing import TYPE_CHECKING

import anyio.to_thread

from asyncart.repo.blobstores.base import is_borrowed
from asyncart.repo.blobstores.s3_common import md5_b64

if TYPE_CHECKING:
    from asyncart.repo.blobstores.s3 import S3BlobStore

log = logging.getLogger("asyncart.repo.blobstores.s3")


async def write_object(
    store: S3BlobStore, key: str, s3_key: str, parts: AsyncIterable[bytes | memoryview]
) -> int:
    """Store the stream ``parts`` as ``s3_key`` (``key`` in messages); its size."""
    pending: list[bytes | memoryview] = []
    pending_size = 0
    size = 0
    upload: MultipartUpload | None = None
    try:
        async for part in parts:
            if not len(part):
                continue
            pending.append(bytes(part) if is_borrowed(part) else part)  # kept past the next
            pending_size += len(part)
            size += len(part)
            if upload is None and pending_size > store.multipart_threshold:
                upload = MultipartUpload(store, s3_key, key)
                await upload.start()
            if upload is not None and pending_size >= store.part_size:
                # Parts are at least part_size (S3 wants >= 5 MiB but the last): no
                # exact cut, so each byte is copied once, here.
                body, pending, pending_size = b"".join(pending), [], 0
                await upload.send(body)
        body, pending = b"".join(pending), []
        if upload is None:
            digest = await anyio.to_thread.run_sync(md5_b64, body)
            await store.client.call(
                f"storing {key}",
                lambda c: c.put_object(
                    Bucket=store.bucket, Key=s3_key, Body=body, ContentMD5=digest
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


class MultipartUpload:
    """One multipart upload: parts sent one at a time while the next one fills."""

    def __init__(self, store: S3BlobStore, s3_key: str, key: str) -> None:
        self.store = store
        self.s3_key = s3_key
        self.key = key
        self.upload_id: str | None = None
        self.etags: list[str] = []
        self.inflight: asyncio.Task[None] | None = None

    async def start(self) -> None:
        resp = await self.store.client.call(
            f"starting the upload of {self.key}",
            lambda c: c.create_multipart_upload(Bucket=self.store.bucket, Key=self.s3_key),
        )
        self.upload_id = resp["UploadId"]

    async def send(self, body: bytes) -> None:
        """Queue ``body`` as the next part; waits for the previous part first."""
        await self._wait()
        number = len(self.etags) + 1
        self.etags.append("")
        self.inflight = asyncio.ensure_future(self._upload(number, body))

    async def _upload(self, number: int, body: bytes) -> None:
        digest = await anyio.to_thread.run_sync(md5_b64, body)
        resp = await self.store.client.call(
            f"storing part {number} of {self.key}",
            lambda c: c.upload_part(
                Bucket=self.store.bucket,
                Key=self.s3_key,
                UploadId=self.upload_id,
                PartNumber=number,
                Body=body,
                ContentMD5=digest,
            ),
        )
        self.etags[number - 1] = resp["ETag"]

    async def _wait(self) -> None:
        task, self.inflight = self.inflight, None
        if task is not None:
            await task

    async def complete(self) -> None:
        await self._wait()
        parts = [{"PartNumber": n, "ETag": e} for n, e in enumerate(self.etags, 1)]
        await self.store.client.call(
            f"finishing the upload of {self.key}",
            lambda c: c.complete_multipart_upload(
                Bucket=self.store.bucket,
                Key=self.s3_key,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": parts},
            ),
        )

    async def abort(self) -> None:
        """Abort (best effort, also when cancelled): nothing stays behind but a partial
        that gc or fsck removes if this fails too."""
        task, self.inflight = self.inflight, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if self.upload_id is None:
            return
        upload_id = self.upload_id

        async def abort() -> None:
            await self.store.client.call(
                f"aborting the upload of {self.key}",
                lambda c: c.abort_multipart_upload(
                    Bucket=self.store.bucket, Key=self.s3_key, UploadId=upload_id
                ),
            )

        try:
            await asyncio.shield(abort())
        except BaseException as exc:  # the original error matters more
            log.warning("could not abort the upload of %s: %s", self.key, exc)
