"""Why a server could not be reached, in words that say what to do; which servers answered.

A failure to connect is often a wrong URL rather than a passing fault: an unknown host,
``https://`` to a plain-HTTP server, ``http://`` to an HTTPS one, or a port nothing
listens on. :func:`connect_error` turns aiohttp's connection failure into a
:class:`ConnectError` that says which, ``final`` when asking again cannot help;
:func:`scheme_mismatch` checks the two scheme mix-ups with one short probe of the port
(a TLS handshake, or one plain-HTTP request), made only after a failure.

:func:`mark_answered` remembers, for this process, each server (scheme, host, port) that
gave any HTTP answer: a refused connection to a server that never answered is retried
only briefly (``Settings.connect_patience``), one to a server that did (a restart while
a job runs) as long as the retry policy allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import ssl
from collections.abc import Awaitable, Callable

import aiohttp
from yarl import URL

from asyncart.errors import ConnectError

#: Seconds one probe of :func:`scheme_mismatch` may take.
PROBE_TIMEOUT = 2.0
_answered: set[tuple[str, str, int | None]] = set()


@functools.lru_cache(maxsize=64)  # a transport asks about its one base URL, request by request
def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = URL(url)
    return (parsed.scheme, parsed.host or "", parsed.port)


def mark_answered(url: str) -> None:
    """Remember that the server of ``url`` gave an HTTP answer in this process."""
    _answered.add(_origin(url))


def has_answered(url: str) -> bool:
    """Whether the server of ``url`` gave any HTTP answer in this process."""
    return _origin(url) in _answered


def connect_error(exc: aiohttp.ClientConnectorError, where: str) -> ConnectError:
    """The :class:`ConnectError` for a failed connection to ``where`` (a server URL)."""
    unanswered = not has_answered(where)
    os_error = exc.os_error
    host = URL(where).host or where
    if isinstance(os_error, socket.gaierror):
        if os_error.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)):
            return ConnectError(
                f"unknown host {host!r} in {where}: no such name in DNS; check the server "
                "URL (--url, ASYNCART_URL)",
                final=True,
            )
        return ConnectError(
            f"cannot resolve host {host!r} of {where}: {os_error.strerror or os_error}",
            unanswered=unanswered,
        )
    if isinstance(os_error, ConnectionRefusedError):
        return ConnectError(f"connection refused at {where}", unanswered=unanswered)
    reason = getattr(os_error, "strerror", None) or str(os_error) or type(os_error).__name__
    return ConnectError(f"cannot connect to {where}: {reason}", unanswered=unanswered)


async def scheme_mismatch(where: str) -> ConnectError | None:
    """A final :class:`ConnectError` if ``where`` names the wrong scheme for its server
    (an HTTPS server at an ``http://`` URL, or the reverse), else None (no verdict)."""
    url = URL(where)
    host, port = url.host, url.port
    if host is None or port is None:
        return None
    if url.scheme == "https":
        if await _speaks_plain_http(host, port):
            return ConnectError(
                f"{where}: the TLS handshake failed, and this looks like an HTTP server: use "
                f"{url.with_scheme('http')}",
                final=True,
            )
    elif url.scheme == "http" and await _speaks_tls(host, port):
        return ConnectError(
            f"{where}: the server broke off a plain-HTTP request, and this looks like an "
            f"HTTPS server: use {url.with_scheme('https')}",
            final=True,
        )
    return None


async def _speaks_plain_http(host: str, port: int) -> bool:
    """Whether ``host:port`` answers one plain ``HEAD /`` with an HTTP status line."""

    async def probe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(f"HEAD / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        return (await reader.read(5)) == b"HTTP/"

    return await _probe(host, port, None, probe)


async def _speaks_tls(host: str, port: int) -> bool:
    """Whether ``host:port`` completes a TLS handshake (its certificate is not checked:
    the probe sends nothing and only tells which protocol the port speaks)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # loads no CA file: nothing is verified
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    async def handshake_done(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        return True

    return await _probe(host, port, context, handshake_done)


async def _probe(
    host: str,
    port: int,
    context: ssl.SSLContext | None,
    probe: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]],
) -> bool:
    """Connect (with TLS if ``context``), run ``probe``; False on any failure or after
    :data:`PROBE_TIMEOUT` seconds."""
    writer: asyncio.StreamWriter | None = None

    async def run() -> bool:
        nonlocal writer
        reader, writer = await asyncio.open_connection(
            host, port, ssl=context, server_hostname=host if context else None
        )
        return await probe(reader, writer)

    try:
        return await asyncio.wait_for(run(), PROBE_TIMEOUT)
    except (OSError, asyncio.TimeoutError):  # ssl.SSLError is an OSError
        return False
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), PROBE_TIMEOUT)
