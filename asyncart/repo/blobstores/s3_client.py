"""The S3 blob store's connection to its bucket: one aiobotocore client, built lazily in
the running event loop, with the object store's errors mapped to asyncart's and its
listings paged through."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from asyncart.errors import BlobStoreError, ConfigError, ConflictError, NotFoundError, S3Error
from asyncart.repo.blobstores.s3_common import (
    DENIED,
    NOT_FOUND,
    configured_endpoint,
    describe,
    error_code,
)

T = TypeVar("T")


@dataclass(frozen=True)
class UnfinishedUpload:
    """A multipart upload neither completed nor aborted: what its parts hold so far, and
    when it was last written (its latest part's time, or its start)."""

    key: str
    upload_id: str
    size: int
    mtime: float


@dataclass(eq=False)
class S3Client:
    """Requests to one bucket (``url`` names it in messages); call :meth:`close` when done."""

    bucket: str
    url: str
    endpoint_url: str | None = None
    region: str | None = None
    max_connections: int = 64
    _client: Any = field(default=None, init=False, repr=False)
    _client_cm: Any = field(default=None, init=False, repr=False)
    _client_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    async def connect(self) -> Any:
        """The aiobotocore client, built on first use.

        Raises:
            BlobStoreError: the client cannot be set up (no region, a bad endpoint...).
        """
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
        """Close the client's connections (a later call connects again)."""
        cm, self._client, self._client_cm = self._client_cm, None, None
        if cm is not None:
            await cm.__aexit__(None, None, None)

    async def call(self, what: str, op: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``op(client)``; map the client's errors to ours (``what`` names the action)."""
        client = await self.connect()
        try:
            return await op(client)
        except (BlobStoreError, NotFoundError, ConflictError, ConfigError):
            raise
        except Exception as exc:
            raise self.error_for(exc, what) from None

    def error_for(self, exc: BaseException, what: str) -> Exception:
        """Our error for the client's ``exc`` while doing ``what``."""
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

    async def list_objects(self, prefix: str, what: str) -> list[dict[str, Any]]:
        """Every object under ``prefix``, as ``ListObjectsV2`` describes it, all pages."""

        async def run(c: Any) -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            paginator = c.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                out.extend(page.get("Contents", ()))
            return out

        return await self.call(what, run)

    async def unfinished_uploads(self, prefix: str) -> list[UnfinishedUpload]:
        """The multipart uploads under ``prefix`` never completed nor aborted (but for
        keys holding ``@``, which cannot be named ``<key>@<upload id>``)."""

        async def run(c: Any) -> list[UnfinishedUpload]:
            found = []
            paginator = c.get_paginator("list_multipart_uploads")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for up in page.get("Uploads", ()):
                    if not up["Key"].startswith(prefix) or "@" in up["Key"][len(prefix) :]:
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
                    found.append(UnfinishedUpload(up["Key"], up["UploadId"], size, mtime))
            return found

        return await self.call("listing unfinished uploads", run)
