"""Filesystem blobstore: ``<root>/<kind>/<ab>/<hex>``.

Objects are written via ``<root>/tmp`` + fsync + rename.
"""

from __future__ import annotations

import contextlib
import errno
import os
import uuid
from collections.abc import AsyncIterable
from pathlib import Path

import aiofiles
import aiofiles.os
import anyio.to_thread

from asyncart.errors import BlobStoreError, NotFoundError
from asyncart.repo.blobstores.base import BlobStore, check_key

_WRITE_BATCH = 4 << 20
_IOV_MAX = 1024


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)


def _write_all(fd: int, parts: list[bytes | memoryview]) -> None:
    """writev the parts (no joining copy), looping over short writes."""
    views = [v for v in (memoryview(p) for p in parts) if len(v)]
    while views:
        n = os.writev(fd, views[:_IOV_MAX])
        while n and views:
            if n >= len(views[0]):
                n -= len(views[0])
                views.pop(0)
            else:
                views[0] = views[0][n:]
                n = 0


def _describe_os_error(exc: OSError, what: str) -> BlobStoreError:
    if exc.errno == errno.ENOSPC:
        return BlobStoreError(f"store disk is full while {what}; free space and retry")
    return BlobStoreError(f"store I/O failed while {what}: {exc.strerror or exc}")


class FilesystemBlobStore(BlobStore):
    """Objects as files under one directory; survives SIGKILL at any point without
    leaving a partial object under its final name."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.fsync = fsync
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path_for(self, key: str) -> Path:
        kind, _, name = check_key(key).partition("/")
        return self.root / kind / name[:2] / name

    def local_path(self, key: str) -> Path | None:
        return self.path_for(key)

    async def put_stream(self, key: str, parts: AsyncIterable[bytes | memoryview]) -> int:
        final = self.path_for(key)
        tmp = self.tmp / f"{final.name}.{uuid.uuid4().hex}.tmp"
        size = 0
        fd = -1
        try:
            fd = await anyio.to_thread.run_sync(_create, tmp)
            pending: list[bytes | memoryview] = []
            pending_size = 0
            async for part in parts:
                pending.append(part)
                pending_size += len(part)
                if pending_size >= _WRITE_BATCH:
                    await anyio.to_thread.run_sync(_write_all, fd, pending)
                    size += pending_size
                    pending, pending_size = [], 0
            if pending:
                await anyio.to_thread.run_sync(_write_all, fd, pending)
                size += pending_size
            if self.fsync:
                await anyio.to_thread.run_sync(os.fsync, fd)
            os.close(fd)
            fd = -1
            await anyio.to_thread.run_sync(self._publish, tmp, final)
        except OSError as exc:
            await self._discard(tmp, fd)
            raise _describe_os_error(exc, f"writing {key}") from exc
        except BaseException:
            await self._discard(tmp, fd)
            raise
        return size

    def _publish(self, tmp: Path, final: Path) -> None:
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        if self.fsync:
            _fsync_dir(final.parent)

    async def _discard(self, tmp: Path, fd: int = -1) -> None:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            await aiofiles.os.remove(tmp)

    async def get_bytes(self, key: str) -> bytes:
        path = self.path_for(key)
        try:
            async with aiofiles.open(path, "rb") as f:
                return await f.read()
        except FileNotFoundError:
            raise NotFoundError(f"blob {key} is not in the store") from None
        except OSError as exc:
            raise _describe_os_error(exc, f"reading {key}") from exc

    async def read_range(self, key: str, offset: int, length: int) -> bytes:
        path = self.path_for(key)

        def pread() -> bytes:
            with open(path, "rb") as f:
                data = os.pread(f.fileno(), length, offset)
            if len(data) != length:
                raise BlobStoreError(
                    f"blob {key} is shorter than expected: wanted {length} bytes at {offset}, "
                    f"got {len(data)}; run 'asyncart server fsck'"
                )
            return data

        try:
            return await anyio.to_thread.run_sync(pread)
        except FileNotFoundError:
            raise NotFoundError(f"blob {key} is not in the store") from None
        except BlobStoreError:
            raise
        except OSError as exc:
            raise _describe_os_error(exc, f"reading {key}") from exc

    async def exists(self, key: str) -> bool:
        return await aiofiles.os.path.exists(self.path_for(key))

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await aiofiles.os.remove(self.path_for(key))
