"""Reading request bodies defensively: decoded size, idle time and average rate.

Every JSON body is read through :func:`read_limited` and every pack upload through
:func:`stream_body`, so a slow or huge body is answered with a 4xx error (never a
crash, never a connection held open forever):

* over the route's limit (counted after gzip decoding): ``413``;
* no byte for ``idle`` seconds, or, once ``grace`` seconds have passed, an average
  rate under ``min_rate`` bytes/s since the body began (a trickle of one byte per idle
  period): ``408``.

Decoding the JSON is ``server/schemas.py``'s job.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from asyncart.core import protocol as P
from asyncart.errors import ConfigError, PayloadTooLarge, RequestBodyTimeout


@dataclass(frozen=True)
class BodyTiming:
    """How long a request body may take (``asyncart server --body-timeout`` etc.)."""

    idle: float = P.BODY_IDLE_TIMEOUT  #: seconds without a byte
    grace: float = P.BODY_GRACE  #: seconds before ``min_rate`` applies
    min_rate: float = P.BODY_MIN_RATE  #: bytes/s a body must average after ``grace``


DEFAULT_TIMING = BodyTiming()


class BodyClock:
    """The deadline of one body: its next byte must come within ``idle`` seconds, and by
    the time it has taken ``max(grace, received / min_rate)`` seconds in all."""

    def __init__(self, timing: BodyTiming) -> None:
        self.timing = timing
        self.start = time.monotonic()
        self.received = 0

    def wait(self, idle_since: float | None = None) -> tuple[float, bool]:
        """Seconds to wait for the next byte (never negative), and whether that is the
        rate deadline. The idle window runs from ``idle_since`` (a ``time.monotonic()``
        of the last byte) if given, else from now."""
        t, now = self.timing, time.monotonic()
        rate_left = self.start + max(t.grace, self.received / t.min_rate) - now
        idle_left = t.idle if idle_since is None else idle_since + t.idle - now
        if rate_left < idle_left:
            return max(rate_left, 0.0), True
        return max(idle_left, 0.0), False


def body_timeout(clock: BodyClock, by_rate: bool) -> RequestBodyTimeout:
    """The 408 error of a body that missed its deadline (``by_rate``: the average rate)."""
    t = clock.timing
    if by_rate:
        return RequestBodyTimeout(
            f"the request body arrived at under {t.min_rate:g} bytes/s on average "
            f"({clock.received} bytes in {time.monotonic() - clock.start:.1f}s, after a "
            f"{t.grace:g}s grace period); the request was abandoned"
        )
    return RequestBodyTimeout(
        f"no request body bytes arrived for {t.idle:g}s; the request was abandoned"
    )


def body_cut_short() -> ConfigError:
    """The 400 error of a body whose client closed the connection before its end."""
    return ConfigError("the request body was cut short by the client")


async def _next_buffer(request: web.Request) -> bytes:
    """The next piece exactly as the parser buffered it (no join, no copy)."""
    data, _ = await request.content.readchunk()
    return data


if sys.version_info >= (3, 11):

    async def _within(seconds: float, read: Awaitable[bytes]) -> bytes:
        # A deadline on the current task: no task per piece, as wait_for makes on 3.11.
        async with asyncio.timeout(seconds):
            return await read

else:  # pragma: no cover - Python 3.10

    async def _within(seconds: float, read: Awaitable[bytes]) -> bytes:
        return await asyncio.wait_for(read, seconds)


async def _read_piece(request: web.Request, size: int | None, clock: BodyClock) -> bytes:
    """At most ``size`` bytes of the body (``None``: the next buffered piece, whatever
    its size), within the body's deadline."""
    wait, by_rate = clock.wait()
    try:
        read = request.content.read(size) if size is not None else _next_buffer(request)
        piece = await _within(wait, read)
    except asyncio.TimeoutError:
        raise body_timeout(clock, by_rate) from None
    except ConnectionError:
        raise body_cut_short() from None
    except RequestPayloadError as exc:
        raise ConfigError(f"the request body could not be read: {exc}") from None
    clock.received += len(piece)
    return piece


def check_declared_length(request: web.Request, limit: int) -> None:
    """413 before reading when the declared (wire) length is already over ``limit``."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(
            f"request body is {request.content_length} bytes; the limit is {limit}"
        )


def remove_spooled(path: Path) -> None:
    """Remove a file :meth:`BodyRead.spool` made (gone already is fine)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class BodyRead:
    """One JSON body being read in two steps: a head up to some size, then the rest."""

    def __init__(self, request: web.Request, limit: int, timing: BodyTiming) -> None:
        check_declared_length(request, limit)
        self._request = request
        self._limit = limit
        self._clock = BodyClock(timing)
        self._parts: list[bytes] = []
        self._total = 0
        self.complete = False

    async def read(self, up_to: int | None = None) -> None:
        """Read until the body ends or (given ``up_to``) more than ``up_to`` bytes are in.

        Raises:
            PayloadTooLarge: over the limit after decoding.
            RequestBodyTimeout: stalled or too slow (see the module doc).
        """
        while not self.complete and (up_to is None or self._total <= up_to):
            piece = await _read_piece(self._request, 1 << 20, self._clock)
            if not piece:
                self.complete = True
                return
            self._total += len(piece)
            if self._total > self._limit:
                raise PayloadTooLarge(
                    f"request body is over {self._limit} bytes (after decoding); "
                    f"that is this route's limit"
                )
            self._parts.append(piece)

    def data(self) -> bytes:
        """The whole body (after :meth:`read` completed it)."""
        assert self.complete
        return b"".join(self._parts)

    async def spool(self) -> Path:
        """Read the rest of the body into a new temporary file (the caller removes it):
        a large body is not held in this process's memory, nor copied through a pipe.

        Raises: as :meth:`read` (the file is removed then).
        """
        mkstemp = functools.partial(tempfile.mkstemp, prefix="asyncart-body-", suffix=".json")
        fd, name = await asyncio.to_thread(mkstemp)
        path = Path(name)
        try:
            out = os.fdopen(fd, "wb")
            try:
                while True:
                    for part in self._parts:
                        await asyncio.to_thread(out.write, part)
                    self._parts.clear()
                    if self.complete:
                        return path
                    await self.read(up_to=self._total + (8 << 20))
            finally:
                await asyncio.to_thread(out.close)  # writes what is still buffered
        except BaseException:
            await asyncio.to_thread(remove_spooled, path)
            raise


async def read_limited(request: web.Request, limit: int, timing: BodyTiming) -> bytes:
    """The whole (decoded) body, refused with 413 past ``limit`` bytes, 408 when slow."""
    body = BodyRead(request, limit, timing)
    await body.read()
    return body.data()


async def stream_body(request: web.Request, timing: BodyTiming) -> AsyncIterator[bytes]:
    """The body in the pieces the parser received (never joined: a pack's bytes are
    copied once, into the store's aligned write buffer); 408 when slow, 400 when cut."""
    clock = BodyClock(timing)
    while True:
        data = await _read_piece(request, None, clock)
        if not data:
            return
        yield data
