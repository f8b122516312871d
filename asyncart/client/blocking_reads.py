"""Pack range reads on blocking sockets in worker threads: the bulk path of a pull.

Through aiohttp every buffer the socket yields costs the event loop a parser callback,
a copy into a new ``bytes``, a stream-reader feed, a read-timeout reschedule and a task
step; on two cores that loop was the pull's bottleneck (docs/performance-notes.md). Here
a worker thread sends the request with :mod:`http.client` and receives the body with
``readinto`` straight into fresh buffers (``recv_into``, the GIL released), and the same
thread verifies and writes them (:class:`BlockingRangeSink`). The event loop only starts
each range and awaits it.

Everything a caller relies on stays as on the aiohttp path: the same retry policy
(:func:`retry.with_retries`), the idle timeout (the socket's timeout: no byte for that
long fails the attempt), the same exceptions (an error answer is mapped by
:func:`http_errors.error_from_answer`, a broken answer is a ProtocolError), the same
range checks and counters. Only plain answers of our own server are read here: a
connection that cannot be made (refused, TLS, a name that does not resolve) hands this
and every later range to the aiohttp path, whose messages say what is wrong.

Cancellation: the awaiting task is cancelled at once; the thread is stopped by shutting
its socket down, and its end is awaited (shielded) so no write lands after the caller
cleaned up.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import mmap
import secrets
import socket
import ssl
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
from multidict import CIMultiDict

from asyncart.client.answer_checks import check_range_answer, check_range_received
from asyncart.client.connectors import client_ssl_context
from asyncart.client.counters import Counters
from asyncart.client.http_errors import MAX_ERROR_BODY, AuthContext, error_from_answer
from asyncart.client.reachability import mark_answered
from asyncart.client.remote import BlockingRangeSink
from asyncart.client.retry import with_retries
from asyncart.config import Settings
from asyncart.core import protocol as P
from asyncart.errors import ProtocolError, RequestTimeout

#: Bytes received into one buffer before the sink takes them (one verify-and-write step).
BUFFER_BYTES = 4 << 20
_BROKEN = (
    ConnectionError,
    http.client.HTTPException,  # RemoteDisconnected, IncompleteRead, BadStatusLine, ...
)


class Unreachable(Exception):
    """No connection could be made: the aiohttp path takes over (its errors say why)."""


class BlockingReads:
    """A small pool of keep-alive connections to one server, for range reads in threads.

    ``headers`` go with every request (User-Agent, the API key's Authorization: the
    transport already refused a key that would cross a network in clear text).
    """

    def __init__(
        self,
        settings: Settings,
        base_url: str,
        headers: dict[str, str],
        auth: Callable[[], AuthContext],
        counters: Counters,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or parts.hostname is None:
            raise ValueError(f"not an http(s) server URL: {base_url}")
        self.settings = settings
        self.base_url = base_url
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._headers = headers
        self._auth = auth
        self._counters = counters
        self._ssl: ssl.SSLContext | None = None
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self.usable = True

    def close(self) -> None:
        """Close the idle connections (those in use close when their read ends)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    async def read_range(
        self, pack: str, offset: int, length: int, what: str, sink: BlockingRangeSink
    ) -> None:
        """Read ``length`` bytes of ``pack`` at ``offset`` into ``sink`` (retried).

        Raises:
            Unreachable: no connection could be made (nothing was read; ``usable`` is
                now False).
        """
        path = self._prefix + P.path(P.PACK, pack=pack)
        headers = dict(self._headers)
        headers["Range"] = f"bytes={offset}-{offset + length - 1}"
        headers[P.REQUEST_ID_HEADER] = secrets.token_hex(8)

        async def attempt() -> None:
            self._counters.requests += 1
            job = _RangeJob(self, pack, path, headers, length, sink)
            await _run_stoppable(job)
            self._counters.bytes_received += job.received

        try:
            await with_retries(self.settings, what, attempt, self._counters.retry)
        except Unreachable:
            self.usable = False
            raise

    def _checkout(self) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection (reused: True) or a new, connected one."""
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._connect(), False

    def _connect(self) -> http.client.HTTPConnection:
        timeout = self.settings.connect_timeout
        conn: http.client.HTTPConnection
        try:
            if self._https:
                if self._ssl is None:
                    self._ssl = client_ssl_context(self.settings)
                conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=timeout, context=self._ssl
                )
            else:
                conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
            conn.connect()
        except (OSError, ssl.SSLError) as exc:
            raise Unreachable(f"{self.base_url}: {exc}") from exc
        assert conn.sock is not None
        conn.sock.settimeout(self.settings.idle_timeout)
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def _checkin(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self.settings.concurrency_ceiling + 4:
                self._idle.append(conn)
                return
        conn.close()


class _RangeJob:
    """One attempt at one range, run in a worker thread; :meth:`stop` ends it from outside."""

    def __init__(
        self,
        reads: BlockingReads,
        pack: str,
        path: str,
        headers: dict[str, str],
        length: int,
        sink: BlockingRangeSink,
    ) -> None:
        self.reads = reads
        self.pack = pack
        self.path = path
        self.headers = headers
        self.length = length
        self.sink = sink
        self.received = 0
        self._loop = asyncio.get_running_loop()
        self._ended = asyncio.Event()
        self._started = False
        self._stopped = False
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def stop(self) -> bool:
        """Make the thread's next (or current) receive fail, so it ends soon; False if it
        had not started (then it never will)."""
        with self._lock:
            self._stopped = True
            conn = self._conn
            started = self._started
        if conn is not None and conn.sock is not None:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
        return started

    async def ended(self) -> None:
        """Return once :meth:`run` has returned (it had started)."""
        await self._ended.wait()

    def run(self) -> None:
        """The attempt, in a worker thread (returns at once if stopped before it began)."""
        with self._lock:
            if self._stopped:
                return
            self._started = True
        try:
            self._run()
        finally:
            self._loop.call_soon_threadsafe(self._ended.set)

    def _run(self) -> None:
        reads = self.reads
        shown = f"GET {reads.base_url}{self.path}"
        for fresh_try in (False, True):
            conn, reused = (reads._connect(), False) if fresh_try else reads._checkout()
            with self._lock:
                self._conn = conn
                if self._stopped:
                    conn.close()
                    return
            try:
                conn.request("GET", self.path, headers=self.headers)
                resp = conn.getresponse()
            except TimeoutError as exc:
                conn.close()
                raise RequestTimeout(
                    f"{shown}: no answer for {reads.settings.idle_timeout:g}s"
                ) from exc
            except (*_BROKEN, OSError) as exc:
                conn.close()
                if reused and not self._stopped:
                    continue  # the server closed an idle keep-alive connection: a new one
                raise ProtocolError(f"{shown}: connection broke before an answer ({exc})") from exc
            break
        mark_answered(reads.base_url)
        keep = False
        try:
            keep = self._read_answer(resp, shown)
        finally:
            with self._lock:
                self._conn = None
            if keep and not resp.will_close:
                reads._checkin(conn)
            else:
                conn.close()

    def _read_answer(self, resp: http.client.HTTPResponse, shown: str) -> bool:
        """Read the answer into the sink; True if the connection may be reused."""
        if resp.status >= 400:
            body = _bounded(resp)
            raise error_from_answer(
                resp.status,
                resp.reason,
                CIMultiDict(resp.getheaders()),
                body,
                self.reads.base_url + self.path,
                self.reads._auth(),
            )
        declared = resp.getheader("Content-Length")
        content_length = int(declared) if declared is not None and declared.isdigit() else None
        if resp.getheader("Content-Encoding") not in (None, "identity"):
            content_length = None  # never asked for: not a pack's bytes
        check_range_answer(self.pack, resp.status, content_length, self.length)
        self.sink.restart()
        while self.received < self.length:
            size = min(BUFFER_BYTES, self.length - self.received)
            view = memoryview(_buffer(size))
            filled = self._receive(resp, view, shown)
            self.received += filled
            if filled < size:
                check_range_received(self.pack, self.received, self.length)
            # The sink's own errors (a full disk, a file gone) propagate as they are.
            if not self.sink.take(view, last=self.received == self.length):
                return False  # a chunk arrived corrupted: the caller reads again
        return True

    def _receive(self, resp: http.client.HTTPResponse, view: memoryview, shown: str) -> int:
        """Fill ``view`` from the answer's body; the bytes received (fewer at its end)."""
        filled = 0
        try:
            while filled < len(view):
                n = resp.readinto(view[filled:])
                if not n:
                    break
                filled += n
        except TimeoutError as exc:
            raise RequestTimeout(
                f"{shown}: no data for {self.reads.settings.idle_timeout:g}s"
            ) from exc
        except (*_BROKEN, OSError) as exc:
            raise ProtocolError(f"{shown}: connection broke mid-answer ({exc})") from exc
        return filled


def _buffer(size: int) -> mmap.mmap:
    """Fresh page-aligned memory for ``size`` received bytes: private (a shared mapping is
    backed by shmem, whose page faults cost several times more) and, where the kernel
    allows, in huge pages (a 4 MiB buffer faults in twice, not a thousand times)."""
    buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    advice = getattr(mmap, "MADV_HUGEPAGE", None)
    if advice is not None:
        with contextlib.suppress(OSError):
            buf.madvise(advice)
    return buf


def _bounded(resp: http.client.HTTPResponse) -> bytes:
    """At most :data:`MAX_ERROR_BODY` bytes of an error answer's body; empty past that or
    if it breaks off (as ``http_errors._error_bytes``)."""
    try:
        body = resp.read(MAX_ERROR_BODY + 1)
    except (OSError, http.client.HTTPException):
        return b""
    return b"" if len(body) > MAX_ERROR_BODY else body


async def _run_stoppable(job: _RangeJob) -> None:
    """Run ``job`` in a worker thread; if the caller is cancelled, stop the thread and
    wait (shielded) until it has ended."""
    try:
        await anyio.to_thread.run_sync(job.run, abandon_on_cancel=True)
    except anyio.get_cancelled_exc_class():
        if job.stop():
            with anyio.CancelScope(shield=True):
                await job.ended()
        raise


__all__ = ["BUFFER_BYTES", "BlockingReads", "Unreachable"]
