"""Filesystem blobstore: ``<root>/<kind>/<ab>/<hex>``.

Objects are written via ``<root>/tmp`` + fsync + rename. Maintenance uses
``<root>/trash/<kind>/<hex>`` (hidden objects awaiting purge),
``<root>/quarantine/<kind>/<hex>`` (copies of damaged objects, never removed
automatically) and the lock file ``<root>/maintenance.lock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TypeVar

import aiofiles
import aiofiles.os
import anyio.to_thread
import blake3

from asyncart.core.private_fs import PRIVATE_FILE, create_private, private_dir
from asyncart.errors import (
    NO_SPACE_ERRNOS,
    BlobStoreError,
    ConfigError,
    ConflictError,
    DiskFullError,
    NotFoundError,
)
from asyncart.repo.blobstores.base import KINDS, BlobInfo, BlobStore, check_key, is_borrowed
from asyncart.repo.blobstores.direct_write import AlignedBuffers, DirectWriter

_WRITE_BATCH = 4 << 20
_IOV_MAX = 1024
_HASH_READ = 8 << 20
_HEX64 = re.compile(r"[0-9a-f]{64}")
T = TypeVar("T")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create(path: Path) -> int:
    return create_private(path)


def _make_parent(path: Path) -> None:
    if not path.parent.is_dir():
        private_dir(path.parent)


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


def _write_parts(fd: int, writer: DirectWriter | None, parts: list[bytes | memoryview]) -> None:
    if writer is None:
        _write_all(fd, parts)
    else:
        writer.write(parts)


def _describe_os_error(exc: OSError, what: str) -> BlobStoreError | DiskFullError:
    if exc.errno in NO_SPACE_ERRNOS:
        return DiskFullError(
            f"the store's disk is full while {what}; the store keeps serving reads: "
            "its operator can free space (asyncart server gc) and the push can then be run again"
        )
    return BlobStoreError(f"store I/O failed while {what}: {exc.strerror or exc}")


class FilesystemBlobStore(BlobStore):
    """Objects as files under one directory; survives SIGKILL at any point without
    leaving a partial object under its final name."""

    def __init__(self, root: Path, *, fsync: bool = True, direct_io: bool = True) -> None:
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.trash = self.root / "trash"
        self.quarantine_dir = self.root / "quarantine"
        self.fsync = fsync
        # Every object (packs above all) is written past the page cache where the
        # filesystem allows; False keeps the plain writev path. Why, and the fallback:
        # direct_write.py.
        self.direct_io = direct_io
        self._buffers = AlignedBuffers()
        # 0700 directories, 0600 files (asyncart.core.private_fs); an older store's root
        # is tightened, which closes everything below it to other users.
        private_dir(self.root)
        private_dir(self.tmp)

    def path_for(self, key: str) -> Path:
        kind, _, name = check_key(key).partition("/")
        return self.root / kind / name[:2] / name

    def _trash_path(self, key: str) -> Path:
        return self.trash / check_key(key)

    def local_path(self, key: str) -> Path | None:
        return self.path_for(key)

    async def put_stream(self, key: str, parts: AsyncIterable[bytes | memoryview]) -> int:
        final = self.path_for(key)
        tmp = self.tmp / f"{final.name}.{uuid.uuid4().hex}.tmp"
        fd = -1
        writer: DirectWriter | None = None
        try:
            fd = await anyio.to_thread.run_sync(_create, tmp)
            writer = DirectWriter(fd, self._buffers) if self.direct_io else None
            pending: list[bytes | memoryview] = []
            pending_size = 0
            size = 0
            async for part in parts:
                pending.append(part)
                pending_size += len(part)
                if pending_size >= _WRITE_BATCH or is_borrowed(part):
                    await anyio.to_thread.run_sync(_write_parts, fd, writer, pending)
                    size += pending_size
                    pending, pending_size = [], 0
            if pending:
                await anyio.to_thread.run_sync(_write_parts, fd, writer, pending)
                size += pending_size
            if writer is not None:
                await anyio.to_thread.run_sync(writer.finish)
            if self.fsync:
                await anyio.to_thread.run_sync(os.fsync, fd)
            os.close(fd)
            fd = -1
            await anyio.to_thread.run_sync(self._publish, tmp, final)
        except OSError as exc:
            await self._discard(tmp, fd, writer)
            raise _describe_os_error(exc, f"writing {key}") from exc
        except BaseException:
            await self._discard(tmp, fd, writer)
            raise
        return size

    def _publish(self, tmp: Path, final: Path) -> None:
        _make_parent(final)
        os.replace(tmp, final)
        if self.fsync:
            _fsync_dir(final.parent)

    async def _discard(self, tmp: Path, fd: int = -1, writer: DirectWriter | None = None) -> None:
        if writer is not None:
            writer.release()
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

    async def read_stream(self, key: str) -> AsyncIterator[bytes]:
        path = self.path_for(key)
        try:
            async with aiofiles.open(path, "rb") as f:
                while piece := await f.read(_WRITE_BATCH):
                    yield piece
        except FileNotFoundError:
            raise NotFoundError(f"blob {key} is not in the store") from None
        except OSError as exc:
            raise _describe_os_error(exc, f"reading {key}") from exc

    async def copy(self, src: str, dst: str) -> None:
        source, final = self.path_for(src), self.path_for(dst)
        tmp = self.tmp / f"{final.name}.{uuid.uuid4().hex}.tmp"

        def work() -> None:
            try:
                shutil.copyfile(source, tmp)
                if self.fsync:
                    fd = os.open(tmp, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                self._publish(tmp, final)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(tmp)
                raise

        try:
            await anyio.to_thread.run_sync(work)
        except FileNotFoundError:
            raise NotFoundError(f"blob {src} is not in the store") from None
        except OSError as exc:
            raise _describe_os_error(exc, f"copying {src}") from exc

    async def exists(self, key: str) -> bool:
        return await aiofiles.os.path.exists(self.path_for(key))

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await aiofiles.os.remove(self.path_for(key))

    # -- maintenance ---------------------------------------------------------------

    async def list_objects(self, kind: str) -> list[BlobInfo]:
        if kind not in KINDS:
            raise ConfigError(f"blob kind {kind!r} is not one of {', '.join(KINDS)}")
        top = self.root / kind

        def scan() -> list[BlobInfo]:
            found = []
            for path in _files(top, depth=1):
                if _HEX64.fullmatch(path.name) and path.parent.name == path.name[:2]:
                    info = _info_if_present(f"{kind}/{path.name}", path)
                    if info is not None:
                        found.append(info)
            return found

        return await self._io(scan, f"listing {kind}")

    async def stat(self, key: str) -> BlobInfo | None:
        path = self.path_for(key)
        try:
            return await self._io(lambda: _info(key, path), f"reading {key}")
        except NotFoundError:
            return None

    async def list_partials(self) -> list[BlobInfo]:
        def scan() -> list[BlobInfo]:
            found = (_info_if_present(p.name, p) for p in _files(self.tmp, depth=0))
            return [info for info in found if info is not None]

        return await self._io(scan, "listing tmp")

    async def remove_partial(self, name: str) -> None:
        if "/" in name or name in ("", ".", ".."):
            raise ConfigError(f"{name!r} is not the name of an unfinished write")
        with contextlib.suppress(FileNotFoundError):
            await aiofiles.os.remove(self.tmp / name)

    async def hash_ranges(self, key: str, ranges: Sequence[tuple[int, int]]) -> list[str | None]:
        path = self.path_for(key)

        def work() -> list[str | None]:
            out: list[str | None] = []
            with open(path, "rb") as f:
                fd = f.fileno()
                for offset, length in ranges:
                    hasher = blake3.blake3()
                    done = 0
                    while done < length:
                        data = os.pread(fd, min(_HASH_READ, length - done), offset + done)
                        if not data:
                            break
                        hasher.update(data)
                        done += len(data)
                    out.append(hasher.hexdigest() if done == length else None)
            return out

        return await self._io(work, f"verifying {key}")

    async def hide(self, key: str) -> bool:
        src, dst = self.path_for(key), self._trash_path(key)

        def move() -> bool:
            _make_parent(dst)
            try:
                os.rename(src, dst)
            except FileNotFoundError:
                return False
            return True

        return await self._io(move, f"hiding {key}")

    async def unhide(self, key: str) -> None:
        src, dst = self._trash_path(key), self.path_for(key)

        def move() -> None:
            _make_parent(dst)
            with contextlib.suppress(FileNotFoundError):
                os.replace(src, dst)

        await self._io(move, f"restoring {key}")

    async def purge(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await aiofiles.os.remove(self._trash_path(key))

    async def list_hidden(self) -> list[BlobInfo]:
        def scan() -> list[BlobInfo]:
            found = []
            for kind in KINDS:
                for path in _files(self.trash / kind, depth=0):
                    if _HEX64.fullmatch(path.name):
                        found.append(_info(f"{kind}/{path.name}", path))
            return found

        return await self._io(scan, "listing trash")

    async def quarantine(self, key: str) -> str:
        src, dst = self.path_for(key), self.quarantine_dir / check_key(key)

        def keep() -> str:
            _make_parent(dst)
            if not dst.exists():
                part = dst.with_name(f"{dst.name}.{uuid.uuid4().hex}.tmp")
                shutil.copyfile(src, part)
                os.chmod(part, PRIVATE_FILE)
                os.replace(part, dst)
            return str(dst)

        return await self._io(keep, f"quarantining {key}")

    def maintenance_lock(self) -> _FileLock:
        """``flock`` on ``<root>/maintenance.lock``: excludes every process on this machine
        (and on others sharing the directory over a filesystem that honours flock).

        Use it with ``async with`` (the BlobStore interface); plain ``with`` works too,
        since taking the lock never blocks.
        """
        return _FileLock(self.root / "maintenance.lock")

    async def _io(self, fn: Callable[[], T], what: str) -> T:
        """Run blocking file work in a thread; map OS errors to ours."""
        try:
            return await anyio.to_thread.run_sync(fn)
        except FileNotFoundError as exc:
            raise NotFoundError(f"{exc.filename or what} is not in the store") from None
        except OSError as exc:
            raise _describe_os_error(exc, what) from exc


class _FileLock:
    """A non-blocking exclusive ``flock``; ConflictError at once if another holds it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> None:
        fd = create_private(self.path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConflictError(
                f"another gc or fsck is running on this store (it holds {self.path}); "
                "wait for it to finish"
            ) from None
        self.fd = fd

    def __exit__(self, *exc: object) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)  # closing the descriptor releases the lock

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)


def _info(key: str, path: Path) -> BlobInfo:
    st = path.stat()
    return BlobInfo(key, st.st_size, st.st_mtime)


def _info_if_present(key: str, path: Path) -> BlobInfo | None:
    """``_info``, or None for a file that went away since it was listed.

    Uploads finish (their temporary file is renamed) and gc removes objects while
    a listing runs: a file listed a moment ago may be gone when it is stat'ed.
    """
    try:
        return _info(key, path)
    except FileNotFoundError:
        return None


def _files(top: Path, depth: int) -> list[Path]:
    """Regular files ``depth`` directory levels below ``top`` (none if ``top`` is absent)."""
    level = [top]
    for _ in range(depth):
        level = [d for parent in level for d in _entries(parent) if d.is_dir()]
    return [f for parent in level for f in _entries(parent) if f.is_file()]


def _entries(directory: Path) -> list[Path]:
    try:
        return list(directory.iterdir())
    except FileNotFoundError:
        return []
