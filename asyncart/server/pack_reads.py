"""Serving ``GET /v1/packs/{pack}``: exactly the bytes a caller may read, nothing else.

A restricted caller (a key on a store with users) may read only ranges made of chunks it
may see (docs/protocol.md §3.5, §6.4), so the range it names is checked and then served
as it was checked, whatever else the request says. That is why this module parses the
``Range`` header itself and never hands a ranged read to aiohttp's ``FileResponse``:
that class re-evaluates ``If-Range`` (a date in the past turned a checked 206 into a 200
with the whole pack), ``If-None-Match`` and ``If-Modified-Since`` on its own, accepts
suffix and open-ended ranges, and looks for ``.gz``/``.br`` siblings of the file. Packs
are immutable and content-addressed, so conditional requests add nothing here: they are
ignored for every caller.

The rules, for every store and every caller:

* ``Range`` must be one ``bytes=FIRST-LAST`` with ASCII digits and FIRST ≤ LAST; several
  ranges, suffix ranges (``bytes=-N``) and open ends (``bytes=N-``) are refused.
* The answer to a range is ``206`` with ``Content-Range`` and exactly LAST - FIRST + 1
  bytes, or an error. ``HEAD`` gets the same status and headers, no body.
* Only an unrestricted caller on a local-file store may read a whole pack (no ``Range``).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.typedefs import LooseHeaders

from asyncart.core.pack import MAX_PACK_BYTES
from asyncart.errors import ConfigError, NotFoundError

# At most 19 digits: every offset of a valid pack is far below 10**19, and the bound keeps
# int() from ever seeing a number big enough to overflow a seek.
_RANGE_RE = re.compile(r"bytes=([0-9]{1,19})-([0-9]{1,19})", re.ASCII)
_PIECE = 1 << 20  # bytes per read when sendfile is not available


class RangeNotSatisfiable(ConfigError):
    """A ``Range`` header this route cannot honour (answered 416 or 400, see get_pack)."""


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``first`` … ``last`` (inclusive) of an object."""

    first: int
    last: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1


def parse_range(header: str) -> ByteRange:
    """The single ``bytes=FIRST-LAST`` range of a ``Range`` header.

    Raises:
        RangeNotSatisfiable: anything else (several ranges, a suffix or open range,
            non-ASCII digits, FIRST > LAST, a range longer than the largest pack).
    """
    found = _RANGE_RE.fullmatch(header.strip())
    if found is None:
        raise RangeNotSatisfiable(
            f"Range header {header[:80]!r} is not one 'bytes=first-last' range "
            "(several ranges, suffix and open-ended ranges are not served)"
        )
    first, last = int(found[1]), int(found[2])
    if first > last or last - first + 1 > MAX_PACK_BYTES:
        raise RangeNotSatisfiable(
            f"Range {header[:80]!r} is empty or longer than a pack ({MAX_PACK_BYTES} bytes)"
        )
    return ByteRange(first, last)


class FileRangeResponse(web.StreamResponse):
    """``count`` bytes of an open file from ``offset``, sent with sendfile where possible.

    The status and headers are whatever the caller set; nothing in the request changes
    them (no conditional headers, no content negotiation). The response closes the file.
    """

    def __init__(
        self, fd: int, offset: int, count: int, *, status: int, headers: LooseHeaders
    ) -> None:
        super().__init__(status=status, headers=headers)
        self.content_length = count
        self._fd, self._offset, self._count = fd, offset, count

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        try:
            writer = await super().prepare(request)
            if request.method == hdrs.METH_HEAD or self._count == 0 or writer is None:
                return writer
            await self._send(request, writer)
            await self.write_eof()
            return writer
        finally:
            os.close(self._fd)

    async def _send(self, request: web.BaseRequest, writer: AbstractStreamWriter) -> None:
        loop = asyncio.get_running_loop()
        transport = request.transport
        if transport is None:
            raise ConnectionResetError("the client went away")
        with os.fdopen(os.dup(self._fd), "rb", buffering=0) as fobj:
            try:
                await loop.sendfile(transport, fobj, self._offset, self._count)
                return
            except NotImplementedError:
                pass  # e.g. TLS transports: copy through the writer
            offset, left = self._offset, self._count
            while left > 0:
                piece = await loop.run_in_executor(
                    None, os.pread, self._fd, min(_PIECE, left), offset
                )
                if not piece:
                    raise ConnectionResetError("the pack ended early")
                await writer.write(piece)
                offset += len(piece)
                left -= len(piece)
            await writer.drain()


def _open_for_reading(path: Path) -> tuple[int, int]:
    """``(fd, size)`` of a stored pack file; NotFoundError if it is not there."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFoundError(f"pack {path.name} is not in the store") from None
    return fd, os.fstat(fd).st_size


def unsatisfiable(size: int | None) -> web.Response:
    """A bare ``416`` (empty body) stating the object's size where the caller may know it."""
    return web.Response(
        status=416, headers={hdrs.CONTENT_RANGE: f"bytes */{'*' if size is None else size}"}
    )


def local_size(path: Path) -> int:
    """The size of a stored pack file; NotFoundError if it is not there."""
    fd, size = _open_for_reading(path)
    os.close(fd)
    return size


async def local_range(
    path: Path, rng: ByteRange | None, *, total_known: bool
) -> web.StreamResponse:
    """A range of (or, with ``rng`` None, the whole) local pack file ``path``.

    ``total_known``: whether ``Content-Range`` may state the object's size (not for a
    restricted caller, who must learn nothing about the bytes around its range).
    """
    fd, size = await asyncio.to_thread(_open_for_reading, path)
    headers: dict[str, str] = {
        hdrs.CONTENT_TYPE: "application/octet-stream",
        hdrs.ACCEPT_RANGES: "bytes",
    }
    if rng is None:
        return FileRangeResponse(fd, 0, size, status=200, headers=headers)
    if rng.last >= size:
        os.close(fd)
        return unsatisfiable(size if total_known else None)
    total = str(size) if total_known else "*"
    headers[hdrs.CONTENT_RANGE] = f"bytes {rng.first}-{rng.last}/{total}"
    return FileRangeResponse(fd, rng.first, rng.length, status=206, headers=headers)


#: Bytes of an object-store range read and sent at a time: a whole 32 MiB range per
#: request in flight would make a server's memory grow with its pulling clients.
OBJECT_PIECE = 8 << 20


class ObjectRangeResponse(web.StreamResponse):
    """A range of an object-store object, read and sent :data:`OBJECT_PIECE` at a time
    (``read(offset, length)`` returns exactly those bytes, or raises)."""

    def __init__(
        self,
        read: Callable[[int, int], Awaitable[bytes]],
        rng: ByteRange,
        total: int | None,
    ) -> None:
        size = "*" if total is None else str(total)
        super().__init__(
            status=206,
            headers={
                hdrs.CONTENT_TYPE: "application/octet-stream",
                hdrs.CONTENT_RANGE: f"bytes {rng.first}-{rng.last}/{size}",
                hdrs.ACCEPT_RANGES: "bytes",
            },
        )
        self.content_length = rng.length
        self._read, self._rng = read, rng

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        # The first piece is read before the headers go, so a missing object is still
        # an error answer rather than a cut 206.
        offset, end = self._rng.first, self._rng.last + 1
        first = await self._read(offset, min(OBJECT_PIECE, end - offset))
        writer = await super().prepare(request)
        if request.method == hdrs.METH_HEAD or writer is None:
            return writer
        piece = first
        while True:
            if not piece:
                raise ConnectionResetError("the object ended before the range did")
            await self.write(piece)
            offset += len(piece)
            if offset >= end:
                break
            piece = await self._read(offset, min(OBJECT_PIECE, end - offset))
        await self.write_eof()
        return writer


def object_range(
    read: Callable[[int, int], Awaitable[bytes]], rng: ByteRange, total: int | None
) -> web.StreamResponse:
    """A range of an object-store object, streamed in pieces (see :class:`ObjectRangeResponse`)."""
    return ObjectRangeResponse(read, rng, total)
