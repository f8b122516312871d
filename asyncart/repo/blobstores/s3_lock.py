"""The S3 blob store's maintenance lock: a lease object taken and renewed with conditional
PUTs, so gc and fsck runs on different machines exclude each other.

A conditional ``PUT`` (``If-None-Match: *``) of the lock object takes the lock: exactly
one of several processes, on any machines, succeeds. The holder
renews its lease (``PUT`` with ``If-Match`` of its own ETag) every quarter lease; a lock
not renewed for a whole lease (judged by the object store's clock: the response's
``Date`` against the object's ``Last-Modified``) belongs to a dead holder and is taken
over, again conditionally (``If-Match`` of the stale ETag), so two waiters cannot both
take it. A holder that finds its lock taken (its renewal refused) cancels the work under
the lock, which ends with :class:`~asyncart.errors.ConflictError`. The object store must
support conditional writes (AWS S3 since 2024, MinIO, SeaweedFS, Ceph RGW Squid).
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import json
import logging
import os
import socket
import time
import uuid
from typing import TYPE_CHECKING, Any

from asyncart.errors import BlobStoreError, ConflictError, NotFoundError
from asyncart.repo.blobstores.s3_common import DEFAULT_LOCK_LEASE, is_precondition, md5_b64

if TYPE_CHECKING:
    from asyncart.repo.blobstores.s3 import S3BlobStore

log = logging.getLogger("asyncart.repo.blobstores.s3")


class LeaseLock:
    """The maintenance lock: a lease object created and renewed with conditional PUTs."""

    def __init__(self, store: S3BlobStore) -> None:
        self.store = store
        self.etag: str | None = None
        self.renewer: asyncio.Task[None] | None = None
        self.holder: asyncio.Task[Any] | None = None
        self.lost: str | None = None

    def _body(self) -> bytes:
        return json.dumps(
            {
                "owner": f"{socket.gethostname()} pid {os.getpid()}",
                "token": uuid.uuid4().hex,
                "lease": self.store.lock_lease,
                "since": time.time(),
            }
        ).encode()

    async def _put(self, what: str, **condition: str) -> str:
        """PUT a fresh lock body under ``condition`` (IfNoneMatch / IfMatch); its ETag."""
        store, body = self.store, self._body()
        resp = await store.client.call(
            what,
            lambda c: c.put_object(
                Bucket=store.bucket,
                Key=store._lock_key,
                Body=body,
                ContentMD5=md5_b64(body),
                **condition,
            ),
        )
        return str(resp["ETag"])

    async def __aenter__(self) -> None:
        key = self.store._lock_key
        for _ in range(3):
            try:
                self.etag = await self._put("taking the maintenance lock", IfNoneMatch="*")
                break
            except BlobStoreError as exc:
                if not is_precondition(exc):
                    raise
            if await self._take_over_if_stale(key):
                break
        else:
            raise ConflictError("could not take the maintenance lock: it keeps changing hands")
        self.holder = asyncio.current_task()
        self.renewer = asyncio.ensure_future(self._renew())

    async def _take_over_if_stale(self, key: str) -> bool:
        """Take over a lock whose holder stopped renewing it; ConflictError if it is alive."""
        store = self.store

        async def read(c: Any) -> tuple[bytes, str, float, float]:
            resp = await c.get_object(Bucket=store.bucket, Key=key)
            async with resp["Body"] as body:
                data = bytes(await body.read())
            date = resp["ResponseMetadata"]["HTTPHeaders"].get("date")
            now = email.utils.parsedate_to_datetime(date).timestamp() if date else time.time()
            return data, resp["ETag"], resp["LastModified"].timestamp(), now

        try:
            data, etag, modified, now = await store.client.call(
                "reading the maintenance lock", read
            )
        except NotFoundError:
            return False  # released meanwhile: try again
        try:
            info = json.loads(data)
            lease, owner = float(info["lease"]), str(info.get("owner", "?"))
        except (ValueError, KeyError, TypeError):
            lease, owner = DEFAULT_LOCK_LEASE, "an unknown process"
        age = now - modified
        if age <= lease:
            since = datetime.datetime.fromtimestamp(modified, datetime.timezone.utc)
            raise ConflictError(
                f"another gc or fsck is running on this store ({owner} holds "
                f"{store.url}/maintenance.lock, renewed {since:%Y-%m-%d %H:%M:%S} UTC); "
                "wait for it to finish"
            )
        try:
            self.etag = await self._put("taking over a stale maintenance lock", IfMatch=etag)
        except (BlobStoreError, NotFoundError) as exc:
            if isinstance(exc, NotFoundError) or is_precondition(exc):
                return False  # someone else took it or released it: try again
            raise
        log.warning("took over the maintenance lock of %s, not renewed for %.0fs", owner, age)
        return True

    async def _renew(self) -> None:
        lease = self.store.lock_lease
        renewed = time.monotonic()
        while True:
            await asyncio.sleep(max(lease / 4, 0.01))
            assert self.etag is not None
            try:
                self.etag = await asyncio.wait_for(
                    self._put("renewing the maintenance lock", IfMatch=self.etag),
                    timeout=max(lease / 4, 1.0),
                )
                renewed = time.monotonic()
                continue
            except (BlobStoreError, NotFoundError, asyncio.TimeoutError) as exc:
                stale = time.monotonic() - renewed
                if isinstance(exc, NotFoundError) or is_precondition(exc):
                    reason = "another process took it over (this one did not renew in time)"
                elif stale > lease * 0.75:  # stop before others may judge the lease run out
                    reason = f"it could not be renewed for {stale:.0f}s ({exc or 'timed out'})"
                else:
                    log.warning("could not renew the maintenance lock (will retry): %s", exc)
                    continue
            self.lost = reason
            if self.holder is not None:
                self.holder.cancel()
            return

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        renewer, self.renewer = self.renewer, None
        if renewer is not None:
            renewer.cancel()
            # Bounded: a renewal stuck in a request that ignores cancellation must not hold
            # the caller (its request times out on its own).
            await asyncio.wait({renewer}, timeout=max(self.store.lock_lease, 5.0))
        if self.lost is not None:
            # Our cancel of the holder is spent (the body stopped): take it back (3.11+).
            uncancel = getattr(self.holder, "uncancel", None)
            if uncancel is not None and self.holder is not None and self.holder.cancelling():
                uncancel()
            raise ConflictError(f"lost the maintenance lock: {self.lost}; stopped") from exc
        store, etag = self.store, self.etag
        try:
            await asyncio.wait_for(
                asyncio.shield(
                    store.client.call(
                        "releasing the maintenance lock",
                        lambda c: c.delete_object(
                            Bucket=store.bucket, Key=store._lock_key, IfMatch=etag
                        ),
                    )
                ),
                timeout=max(self.store.lock_lease, 30.0),
            )
        except (BlobStoreError, NotFoundError, asyncio.TimeoutError) as release_error:
            if exc is None:
                log.warning("could not release the maintenance lock: %s", release_error)
        return False
