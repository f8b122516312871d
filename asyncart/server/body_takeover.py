"""Pack upload bodies received straight into reused buffers, past aiohttp's parser.

aiohttp hands a request body to its handler in the pieces its parser made: every
socket read allocates a new ``bytes`` (256 KiB here) and the parser copies the body
bytes out of it into another. For a pack upload that is two allocations and one
user-space copy of every byte on the event loop, the server's busiest thread
(docs/performance-notes.md, "The pack receive path"). So once a pack upload's handler
has checked the caller and the quota, :func:`pack_upload_body` switches the
connection's transport to a :class:`asyncio.BufferedProtocol` that reads the rest of
the body (exactly ``Content-Length`` bytes, never a byte past it) with ``recv_into``
into one reused 4 MiB buffer, then gives the transport back to aiohttp.

aiohttp reads ahead of a handler (up to its 8 MiB high-water mark, and its parser keeps
what it read past a pause), so :func:`hold_pack_uploads`, the first middleware, pauses
reading the moment a pack upload's head has arrived: what aiohttp holds of the body is
then at most a socket read or two, all of it in the request's ``StreamReader``, and is
handed on as it is before the rest is received. While the body is held nothing reads it,
so the checks before the body (who the caller is, the quota) still come first.

The body's pieces are then *borrowed*: each is a writable memoryview of that buffer,
valid until the next piece is asked for (the contract of ``BlobStore.put_stream``).

Its price: aiohttp's parser never sees the end of that body, so the connection cannot
carry another request. Every answer to a taken-over upload says ``Connection: close``
(:func:`close_after_takeover`, an ``on_response_prepare`` hook), and the client opens
a new connection for its next pack. Bodies under :data:`TAKEOVER_FROM` bytes, TLS
connections and transports that cannot switch protocols keep aiohttp's path
(:func:`asyncart.server.bodies.stream_body`) and their keep-alive.

The body's deadlines are those of every body (``asyncart.server.bodies``): no byte for
``idle`` seconds, or an average under ``min_rate`` after ``grace``, is a 408; a client
that closes the connection early gets a 400 (if it still listens).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import hdrs, web

from asyncart.server.bodies import (
    BodyClock,
    BodyTiming,
    body_cut_short,
    body_timeout,
    stream_body,
)

#: Bytes of one receive buffer (and so of a borrowed piece): the store's write batch.
RECEIVE_BUFFER = 4 << 20
#: A body with fewer bytes still to come keeps aiohttp's path and the keep-alive.
TAKEOVER_FROM = 1 << 20
#: Idle receive buffers kept for the next uploads (more are made when needed).
_KEPT_BUFFERS = 8

#: The ``name`` of the pack upload route (the one :func:`hold_pack_uploads` holds).
PACK_UPLOAD_ROUTE = "pack-upload"

#: Set on a request whose body was taken over: its answer closes the connection.
TAKEN_OVER = web.RequestKey("body_taken_over", bool)
#: The transport of a pack upload whose reading is held for :func:`pack_upload_body`.
_HELD = web.RequestKey("body_held", asyncio.Transport)


class ReceiveBuffers:
    """Reused receive buffers, so an upload does not allocate and zero-fill 4 MiB."""

    def __init__(self, size: int = RECEIVE_BUFFER, keep: int = _KEPT_BUFFERS) -> None:
        self.size = size
        self._keep = keep
        self._free: list[bytearray] = []

    def take(self) -> bytearray:
        """A buffer of :attr:`size` bytes, for one upload at a time."""
        return self._free.pop() if self._free else bytearray(self.size)

    def give_back(self, buffer: bytearray) -> None:
        """Return a buffer :meth:`take` gave (kept if fewer than ``keep`` are idle)."""
        if len(self._free) < self._keep:
            self._free.append(buffer)


class _Receiver(asyncio.BufferedProtocol):
    """The connection's protocol while a body is read: fills one view at a time.

    Reading is paused whenever no view is being filled. Should the transport read
    anyway (something resumed it), the bytes go to a spill that the next
    :meth:`fill` takes first; it never reads more than the body's remaining bytes
    into either. What the transport reports that is not about reading (connection
    lost, write flow control) is passed on to aiohttp's protocol as well.
    """

    def __init__(
        self,
        transport: asyncio.Transport,
        original: asyncio.BaseProtocol,
        remaining: int,
        clock: BodyClock,
    ) -> None:
        self.transport = transport
        self.original = original
        self.remaining = remaining  # body bytes not yet received
        self.clock = clock
        self.last_byte = time.monotonic()
        self._view: memoryview | None = None
        self._filled = 0
        self._spill = bytearray()
        self._scratch: bytearray | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._error: Exception | None = None

    # -- transport callbacks ----------------------------------------------------------

    def get_buffer(self, sizehint: int) -> memoryview | bytearray:
        if self._view is not None and self._filled < len(self._view):
            self._scratch = None
            return self._view[self._filled :]
        # Not asked for: keep what the transport reads for the next fill.
        self.transport.pause_reading()
        self._scratch = bytearray(max(1, min(1 << 16, self.remaining)))
        return self._scratch

    def buffer_updated(self, nbytes: int) -> None:
        if self._scratch is not None:
            # Past the body's end (remaining 0) the bytes are dropped: the
            # connection closes after this request.
            take = min(nbytes, self.remaining)
            self._spill += self._scratch[:take]
            self._scratch = None
            self._received(take)
            return
        self._filled += nbytes
        self._received(nbytes)
        assert self._view is not None
        if self._filled == len(self._view):
            self.transport.pause_reading()
            self._wake()

    def _received(self, nbytes: int) -> None:
        self.remaining -= nbytes
        self.clock.received += nbytes
        self.last_byte = time.monotonic()

    def eof_received(self) -> bool:
        self._fail(body_cut_short())
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(body_cut_short())
        self.original.connection_lost(exc)

    def pause_writing(self) -> None:
        self.original.pause_writing()

    def resume_writing(self) -> None:
        self.original.resume_writing()

    # -- the handler's side -----------------------------------------------------------

    def pending(self) -> int:
        """Body bytes still to hand out: not yet received, or spilled."""
        return self.remaining + len(self._spill)

    async def fill(self, view: memoryview) -> None:
        """Fill ``view`` (at most :meth:`pending` bytes) with the body's next bytes.

        Raises:
            RequestBodyTimeout: the body stalled or arrived too slowly.
            ConfigError: the client closed the connection first.
        """
        if self._error is not None:
            raise self._error
        spilled = min(len(self._spill), len(view))
        if spilled:
            view[:spilled] = self._spill[:spilled]
            del self._spill[:spilled]
            if spilled == len(view):
                return
        self._view, self._filled = view, spilled
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.resume_reading()
        try:
            while not self._waiter.done():
                wait, by_rate = self.clock.wait(idle_since=self.last_byte)
                if wait <= 0:
                    raise body_timeout(self.clock, by_rate)
                await asyncio.wait((self._waiter,), timeout=wait)
            if self._error is not None:
                raise self._error
        finally:
            self.transport.pause_reading()
            self._view, self._waiter = None, None

    def restore(self) -> None:
        """Give the transport back to aiohttp's protocol, reading paused."""
        self.transport.pause_reading()
        self.transport.set_protocol(self.original)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, error: Exception) -> None:
        if self._error is None:
            self._error = error
        self._wake()


def _holdable_transport(request: web.Request) -> asyncio.Transport | None:
    """The request's transport, if its body may be held and taken over (module doc)."""
    content, length = request.content, request.content_length
    if length is None or length - content.total_bytes < TAKEOVER_FROM:
        return None
    if content.is_eof() or content.exception() is not None:
        return None
    transport = request.transport
    if not isinstance(transport, asyncio.Transport) or transport.is_closing():
        return None
    if transport.get_extra_info("sslcontext") is not None:
        return None
    if transport.get_protocol() is not request.protocol:
        return None
    return transport


def _aiohttp_paused(request: web.Request) -> bool:
    """Whether aiohttp paused reading itself: its parser may then hold unparsed body
    bytes, so the body must stay on aiohttp's path (unknown counts as paused)."""
    return bool(getattr(request.protocol, "_reading_paused", True))


def _release(request: web.Request, transport: asyncio.Transport) -> None:
    """Undo a hold that did not become a takeover: aiohttp reads the body again."""
    del request[_HELD]
    if not _aiohttp_paused(request):
        transport.resume_reading()


@web.middleware
async def hold_pack_uploads(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Pause reading a pack upload's body as soon as its head is in (the module doc);
    resumed for aiohttp unless :func:`pack_upload_body` took it over."""
    route = request.match_info.route
    transport = _holdable_transport(request) if route.name == PACK_UPLOAD_ROUTE else None
    if transport is None:
        return await handler(request)
    transport.pause_reading()
    request[_HELD] = transport
    try:
        return await handler(request)
    finally:
        if request.get(_HELD) is not None:
            _release(request, transport)


async def pack_upload_body(
    request: web.Request, timing: BodyTiming, buffers: ReceiveBuffers
) -> AsyncIterator[bytes | memoryview]:
    """The upload's body: what aiohttp buffered already, then borrowed pieces of at
    most ``buffers.size`` bytes (or aiohttp's pieces, when it cannot be taken over)."""
    transport = request.get(_HELD)
    if transport is not None and (
        _aiohttp_paused(request) or request.content.exception() is not None
    ):
        _release(request, transport)
        transport = None
    if transport is None:
        async for piece in stream_body(request, timing):
            yield piece
        return
    assert request.content_length is not None
    del request[_HELD]
    request[TAKEN_OVER] = True
    content = request.content
    held = content.total_bytes  # what aiohttp read before the hold, all in ``content``
    clock = BodyClock(timing)
    receiver = _Receiver(transport, transport.get_protocol(), request.content_length - held, clock)
    transport.set_protocol(receiver)
    buffer = buffers.take()
    try:
        drained = 0
        while drained < held:  # aiohttp's own pieces, as they are (no join)
            piece, _ = await content.readchunk()
            drained += len(piece)
            clock.received += len(piece)
            yield piece
        whole = memoryview(buffer)
        while receiver.pending():
            view = whole[: min(len(whole), receiver.pending())]
            await receiver.fill(view)
            yield view
    finally:
        receiver.restore()
        request.content.feed_eof()
        buffers.give_back(buffer)


async def close_after_takeover(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: the answer to a taken-over body closes the connection."""
    if request.get(TAKEN_OVER):
        response.force_close()  # the server closes the connection after this answer
        # aiohttp has made the headers when this hook runs: say so to the client too.
        response.headers[hdrs.CONNECTION] = "close"
