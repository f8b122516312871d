"""A fault-injecting HTTP reverse proxy for tests: real sockets, our own code, no mocks.

``FaultProxy(target_url)`` listens on 127.0.0.1 (port chosen by the OS) and forwards
every request to ``target_url``, streaming bodies both ways. Tests program faults
before (or while) traffic flows; each fault matches a method and a path prefix and
fires ``times`` times (after letting ``skip`` matching requests through), in the order
the faults were added::

    async with FaultProxy(server.url) as proxy:
        proxy.answer(503, method="POST", path="/v1/packs", times=2, retry_after="0")
        proxy.corrupt(method="GET", path="/v1/packs/", at_byte=100)
        ...  # point the client at proxy.url
        assert proxy.count("POST", "/v1/packs") >= 3
        assert proxy.injected["status"] == 2

Fault kinds (``Fault.kind``):

``status``          answer ``status`` (JSON error body, optional ``Retry-After``); with
                    ``forward_first=True`` the request reaches the server first and only
                    its answer is replaced (the work was done, the answer lost)
``reset_request``   forward ``after_bytes`` of the request body, then drop both connections
``reset_response``  forward ``after_bytes`` of the response body, then drop the connection
                    (the client saw the full ``Content-Length`` and gets less)
``truncate``        send only the first ``after_bytes`` of the response body, as a complete,
                    well-formed answer (``Content-Length`` rewritten)
``corrupt``         flip the byte at ``after_bytes`` of the response body
``corrupt_request`` flip the byte at ``after_bytes`` of the request body
``trickle``         send the response body in 16 KiB pieces, ``seconds`` apart
``stall``           send nothing for ``seconds`` (cut short when the proxy closes, or
                    when ``gate`` is set), then forward as usual if the client is still there

A fault with ``probability`` < 1 fires on that share of matching requests (seeded
``proxy.rng``); ``random_cut`` picks the cut byte at random within the body.
``proxy.chaos(drop, status)`` programs random 503s and mid-body drops on every request.

Dropped connections are aborted with SO_LINGER 0, so the peer sees a TCP reset.
``proxy.requests`` lists every ``(method, path)`` seen; ``proxy.injected`` counts
fired faults by kind; ``proxy.bytes_sent(method, path)`` sums the response-body bytes
the server sent through the proxy to matching requests (what crossed the network
from it: the byte count partial and lazy reads are judged by). Sync tests use
:func:`running_fault_proxy`, which runs the proxy's event loop in a thread.
"""

from __future__ import annotations

import asyncio
import collections
import random
import socket
import struct
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from tests.support.loopback import loop_in_thread, run_in, serve_on_loopback

_HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Transfer-Encoding",
        "Content-Length",
        "Host",
        "Proxy-Connection",
        "TE",
        "Trailer",
        "Upgrade",
        "Date",
        "Server",
    )
)
_PIECE = 64 << 10
KINDS = (
    "status",
    "reset_request",
    "reset_response",
    "truncate",
    "corrupt",
    "corrupt_request",
    "stall",
    "trickle",
)
_TRICKLE_PIECE = 16 << 10


@dataclass
class Fault:
    """One programmed fault; ``fired`` counts how often it has been injected."""

    kind: str
    method: str | None = None  # None: any method
    path: str = ""  # prefix of the (decoded) request path
    times: int = 1
    status: int = 503
    code: str = "injected"  # the error body's code ("http_error": a route the server lacks)
    retry_after: str | None = None
    forward_first: bool = False
    after_bytes: int = 0
    seconds: float = 0.0
    skip: int = 0  # let this many matching requests through untouched first
    probability: float = 1.0  # chance that a matching request gets the fault
    random_cut: bool = False  # cut/reset at a random byte of the body instead of after_bytes
    gate: asyncio.Event | None = None  # stall: hold the request until this is set
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (
            self.fired < self.times
            and (self.method is None or self.method == method)
            and path.startswith(self.path)
        )


class _Cut(Exception):
    """Raised inside a forwarded request body to break the upstream connection."""


def reset_connection(request: web.Request) -> None:
    """Drop the client's connection abruptly (RST, unsent bytes discarded)."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


class FaultProxy:
    """A reverse proxy to ``target`` that injects the faults it is given."""

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self.injected: collections.Counter[str] = collections.Counter()
        self.sent: list[tuple[str, str, int]] = []  # (method, path, response body bytes)
        self._handling = 0  # requests taken and not yet answered in full
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._closing = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.rng = random.Random(0)

    # -- programming ------------------------------------------------------------------

    def add(self, fault: Fault) -> Fault:
        if fault.kind not in KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}; one of {KINDS}")
        self.faults.append(fault)
        return fault

    def answer(self, status: int, **match: Any) -> Fault:
        return self.add(Fault("status", status=status, **match))

    def reset_request(self, after_bytes: int, **match: Any) -> Fault:
        return self.add(Fault("reset_request", after_bytes=after_bytes, **match))

    def reset_response(self, after_bytes: int, **match: Any) -> Fault:
        return self.add(Fault("reset_response", after_bytes=after_bytes, **match))

    def truncate(self, after_bytes: int, **match: Any) -> Fault:
        return self.add(Fault("truncate", after_bytes=after_bytes, **match))

    def corrupt(self, at_byte: int = 0, **match: Any) -> Fault:
        return self.add(Fault("corrupt", after_bytes=at_byte, **match))

    def stall(self, seconds: float, **match: Any) -> Fault:
        return self.add(Fault("stall", seconds=seconds, **match))

    def bytes_sent(self, method: str | None = None, path: str = "") -> int:
        """Response-body bytes relayed to requests of ``method`` whose path starts with ``path``."""
        return sum(
            n for m, p, n in self.sent if (method is None or m == method) and p.startswith(path)
        )

    def count(self, method: str | None = None, path: str = "") -> int:
        """Requests seen with this method (any if None) whose path starts with ``path``."""
        return sum(
            1 for m, p in self.requests if (method is None or m == method) and p.startswith(path)
        )

    # -- lifetime -----------------------------------------------------------------------

    def open_gate(self, fault: Fault) -> None:
        """Release the requests ``fault`` (a stall with a ``gate``) holds; from any thread."""
        assert self._loop is not None and fault.gate is not None
        self._loop.call_soon_threadsafe(fault.gate.set)

    async def start(self) -> FaultProxy:
        self._loop = asyncio.get_running_loop()
        self._session = aiohttp.ClientSession(
            auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None)
        )
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # Bodies pass through as sent, both ways: a gzip request body decoded here would
        # reach the server under its Content-Encoding and Content-Length, and fail there.
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=5, auto_decompress=False
        )
        self.url = await serve_on_loopback(self._runner)
        return self

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- the proxy ----------------------------------------------------------------------

    def chaos(self, drop: float, status: float, seed: int = 0) -> None:
        """Random faults on every request: ``status`` of them answered 503 (Retry-After 0),
        ``drop`` of the others cut at a random byte of the upload or the answer body."""
        self.rng.seed(seed)
        forever = 1 << 62
        self.answer(503, retry_after="0", probability=status, times=forever)
        self.add(Fault("reset_request", probability=drop, random_cut=True, times=forever))
        self.add(Fault("reset_response", probability=drop, random_cut=True, times=forever))

    def _take(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path):
                if fault.skip > 0:
                    fault.skip -= 1
                    return None
                if fault.probability < 1.0 and self.rng.random() >= fault.probability:
                    continue
                fault.fired += 1
                self.injected[fault.kind] += 1
                return fault
        return None

    def settled(self) -> bool:
        """Whether every request taken so far has been answered in full (and its bytes
        counted in :meth:`bytes_sent`)."""
        return self._handling == 0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self._handling += 1
        try:
            return await self._forward(request)
        finally:
            self._handling -= 1

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        fault = self._take(request.method, request.path)
        kind = fault.kind if fault else None
        if fault is not None and kind == "stall":  # delay, then forward if anyone still waits
            waits = [self._closing.wait()] + ([fault.gate.wait()] if fault.gate else [])
            tasks = [asyncio.ensure_future(w) for w in waits]
            await asyncio.wait(tasks, timeout=fault.seconds, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
            if self._closing.is_set() or _gone(request):
                return web.Response(status=503)  # nobody is listening any more
        if fault is not None and kind == "status" and not fault.forward_first:
            async for _ in request.content.iter_chunked(_PIECE):
                pass  # take the whole body, so the client reads our answer
            return self._error(fault)
        assert self._session is not None
        try:
            upstream = await self._session.request(
                request.method,
                self.target + request.rel_url.raw_path_qs,
                headers={
                    k: v
                    for k, v in request.headers.items()
                    if k.lower() not in _HOP_BY_HOP or k.lower() == "content-length"
                },
                data=self._request_body(request, fault) if request.body_exists else None,
                allow_redirects=False,
            )
        except (_Cut, aiohttp.ClientError, OSError) as exc:
            if kind == "reset_request":
                reset_connection(request)  # the 502 below is then never sent
            return web.Response(status=502, text=f"fault proxy: upstream failed: {exc!r}")
        async with upstream:
            if fault is not None and kind == "status":
                await upstream.read()
                return self._error(fault)
            return await self._relay(request, upstream, fault)

    async def _request_body(
        self, request: web.Request, fault: Fault | None
    ) -> AsyncIterator[bytes]:
        limit = fault.after_bytes if fault is not None and fault.kind == "reset_request" else None
        if limit is not None and fault is not None and fault.random_cut:
            limit = self.rng.randrange(max(1, request.content_length or 1))
        flip = fault.after_bytes if fault is not None and fault.kind == "corrupt_request" else -1
        sent = 0
        async for piece in request.content.iter_chunked(_PIECE):
            if limit is not None and sent + len(piece) >= limit:
                yield piece[: limit - sent]
                raise _Cut(f"request body cut after {limit} bytes")
            if sent <= flip < sent + len(piece):
                data = bytearray(piece)
                data[flip - sent] ^= 0xFF
                piece = bytes(data)
            sent += len(piece)
            yield piece
        if limit is not None:
            raise _Cut("request body ended before the cut")

    def _error(self, fault: Fault) -> web.Response:
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        body = {
            "code": fault.code,
            "message": f"fault proxy answered {fault.status}",
            "request_id": "proxy",
        }
        return web.json_response(body, status=fault.status, headers=headers)

    async def _relay(
        self, request: web.Request, upstream: aiohttp.ClientResponse, fault: Fault | None
    ) -> web.StreamResponse:
        kind = fault.kind if fault else None
        cut = fault.after_bytes if fault is not None else 0
        resp = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        for key, value in upstream.headers.items():
            if key.lower() not in _HOP_BY_HOP:
                resp.headers.add(key, value)
        length = upstream.content_length
        if fault is not None and fault.random_cut:
            cut = self.rng.randrange(max(1, length or 1))
        if kind == "truncate" and length is not None:
            length = min(length, cut)
        if length is not None:
            resp.content_length = length
        pos = 0
        try:
            await resp.prepare(request)
            async for piece in upstream.content.iter_chunked(_PIECE):
                if kind in ("truncate", "reset_response") and pos + len(piece) >= cut:
                    await resp.write(piece[: cut - pos])
                    pos = cut
                    if kind == "reset_response":
                        reset_connection(request)
                        return resp
                    break
                if kind == "corrupt" and pos <= cut < pos + len(piece):
                    data = bytearray(piece)
                    data[cut - pos] ^= 0xFF
                    piece = bytes(data)
                if kind == "trickle" and fault is not None:  # slow, but never silent for long
                    for start in range(0, len(piece), _TRICKLE_PIECE):
                        await resp.write(piece[start : start + _TRICKLE_PIECE])
                        await asyncio.sleep(fault.seconds)
                else:
                    await resp.write(piece)
                pos += len(piece)
            await resp.write_eof()
        except ConnectionError:
            pass  # the client went away (e.g. it gave up on this request): nothing to send
        finally:
            self.sent.append((request.method, request.path, pos))
        return resp


@contextmanager
def running_fault_proxy(target: str) -> Iterator[FaultProxy]:
    """For sync tests: a started :class:`FaultProxy` whose loop runs in its own thread.

    Program faults and read counters from the test thread; they are plain attributes.
    """
    with loop_in_thread("fault-proxy") as loop:
        proxy = run_in(loop, _started(target))
        try:
            yield proxy
        finally:
            run_in(loop, proxy.close())


async def _started(target: str) -> FaultProxy:
    return await FaultProxy(target).start()  # created on the proxy loop (its Event binds there)
