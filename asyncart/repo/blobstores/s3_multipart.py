"""A multipart upload of the S3 blob store: parts sent while the stream still arrives."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import anyio.to_thread

from asyncart.repo.blobstores.s3_common import md5_b64

if TYPE_CHECKING:
    from asyncart.repo.blobstores.s3 import S3BlobStore

log = logging.getLogger("asyncart.repo.blobstores.s3")


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
        resp = await self.store._call(
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
        resp = await self.store._call(
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
        await self.store._call(
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
            await self.store._call(
                f"aborting the upload of {self.key}",
                lambda c: c.abort_multipart_upload(
                    Bucket=self.store.bucket, Key=self.s3_key, UploadId=upload_id
                ),
            )

        try:
            await asyncio.shield(abort())
        except BaseException as exc:  # the original error matters more
            log.warning("could not abort the upload of %s: %s", self.key, exc)
