"""HTTP transport: the only place aiohttp exceptions become asyncart exceptions.

Every request goes through :meth:`HttpTransport.call`, which applies the retry
policy, the idle timeout, and maps failures:

* no connection               -> ConnectError (final for an unknown host or an http/https
                                 mix-up, see reachability.py)
* no bytes for idle_timeout   -> RequestTimeout
* reset / truncated body      -> ProtocolError
* error answer                -> the class named by the server's ``code``
* 401                         -> AuthError saying which key was refused (or that none is
                                 set) and what to do; never containing the key

A key is sent only where it cannot cross a network in clear text (see
:func:`asyncart.client.credentials.check_key_transport`): the transport refuses at
construction, before any request.

The seam (in the style of httpx's ``transport=``): how the bytes reach the server is
the aiohttp connector, and ``HttpTransport(settings, connector=...)`` takes a
:data:`ConnectorFactory` in place of the default :func:`tcp_connector`: e.g.
``lambda settings: aiohttp.UnixConnector(path)`` for the real server app listening on
a Unix socket in the test's own process. Everything above the connector (retries,
timeouts, the key, error mapping, bounded reads) runs as in production. ``Client`` and
``HttpRemote`` pass it down; the push worker process and presigned object-store URLs
always use TCP.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import aiohttp
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import Payload

from asyncart._version import __version__
from asyncart.client import answers
from asyncart.client.answers import MalformedAnswer
from asyncart.client.connectors import ConnectorFactory, tcp_connector
from asyncart.client.counters import Counters
from asyncart.client.credentials import api_key_for, display_url, key_source
from asyncart.client.http_errors import (
    AuthContext,
    direct_error,
    error_from,
)
from asyncart.client.reachability import (
    connect_error,
    has_answered,
    mark_answered,
    scheme_mismatch,
)
from asyncart.client.retry import with_retries
from asyncart.config import Settings
from asyncart.core import protocol as P
from asyncart.errors import (
    CertificateError,
    ConnectError,
    ProtocolError,
    RequestTimeout,
)

T = TypeVar("T")
_COMPRESS_ABOVE = 64 << 10
_WRITE_SLICE = 1 << 20
_READ_BUFSIZE = 4 << 20
MAX_JSON_ANSWER = P.MAX_JSON_BODY  # decoded bytes of one JSON answer (64 MiB)


class PartsPayload(Payload):
    """A request body sent from several buffers without joining them; reusable on retry."""

    _autoclose = True

    def __init__(self, parts: Sequence[bytes | memoryview], content_type: str) -> None:
        super().__init__(parts, content_type=content_type)
        self._parts = parts
        self._size = sum(len(p) for p in parts)

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("a binary pack body has no text form")

    async def write(self, writer: AbstractStreamWriter) -> None:
        # Slices, so the socket transport never copies a whole pack into its own buffer:
        # aiohttp waits for the socket to drain between writes.
        for part in self._parts:
            view = memoryview(part)
            for start in range(0, len(view), _WRITE_SLICE):
                await writer.write(view[start : start + _WRITE_SLICE])

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        await self.write(writer)


class HttpTransport:
    """An aiohttp session bound to one server URL.

    ``connector``: how requests to the server travel (default :func:`tcp_connector`; see
    the module docstring).
    """

    def __init__(self, settings: Settings, *, connector: ConnectorFactory = tcp_connector) -> None:
        assert settings.url is not None
        self.settings = settings
        self._connector = connector
        self.base_url = settings.url.rstrip("/")
        self.counters = Counters()
        self._session: aiohttp.ClientSession | None = None
        self._direct: aiohttp.ClientSession | None = None
        # ASYNCART_API_KEY, else `asyncart login`'s; ConfigError here if it would go in clear
        # text over a network (plain http:// to a non-loopback host): before any request.
        self._api_key = api_key_for(settings)
        self._key_source = key_source(settings) if self._api_key else None
        self._key_from_env = bool(settings.api_key)

    @property
    def uses_tcp(self) -> bool:
        """Whether requests go over TCP to ``base_url`` (the default connector)."""
        return self._connector is tcp_connector

    def request_headers(self) -> dict[str, str]:
        """The headers every request to the server carries (User-Agent, the API key)."""
        headers = {"User-Agent": f"asyncart/{__version__}"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def auth_context(self) -> AuthContext:
        """What a 401 message needs (the key sent and where it came from)."""
        return self._auth_context()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(
                total=None,
                connect=self.settings.connect_timeout,
                sock_read=self.settings.idle_timeout,
            )
            connector = self._connector(self.settings)
            headers = self.request_headers()
            self._session = aiohttp.ClientSession(
                timeout=timeout,
                connector=connector,
                headers=headers,
                auto_decompress=True,
                # aiohttp's 64 KiB default pauses and resumes the socket every 64 KiB;
                # multi-MiB bodies move with far less CPU when it can buffer more.
                read_bufsize=_READ_BUFSIZE,
            )
        return self._session

    def _get_direct_session(self) -> aiohttp.ClientSession:
        """A session for presigned object-store URLs: no Authorization header."""
        if self._direct is None or self._direct.closed:
            self._direct = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=self.settings.connect_timeout,
                    sock_read=self.settings.idle_timeout,
                ),
                connector=tcp_connector(self.settings),
                headers={"User-Agent": f"asyncart/{__version__}"},
                auto_decompress=False,
                read_bufsize=_READ_BUFSIZE,
            )
        return self._direct

    def _auth_context(self) -> AuthContext:
        return AuthContext(
            display_url(self.base_url), self._api_key, self._key_source, self._key_from_env
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._direct is not None:
            await self._direct.close()
            self._direct = None

    async def call(
        self,
        method: str,
        path: str,
        read: Callable[[aiohttp.ClientResponse], Awaitable[T]],
        *,
        json_body: Any = None,
        body: Payload | None = None,
        headers: dict[str, str] | None = None,
        what: str | None = None,
    ) -> T:
        """Send one request (retried) and return ``read(response)`` of a 2xx answer."""
        url = self.base_url + path
        data: Any = body
        hdrs = dict(headers or {})
        hdrs[P.REQUEST_ID_HEADER] = secrets.token_hex(8)  # one id across the retries of a call
        if json_body is not None:
            raw = json.dumps(json_body, separators=(",", ":")).encode()
            hdrs["Content-Type"] = "application/json"
            if len(raw) > _COMPRESS_ABOVE:
                raw = gzip.compress(raw, compresslevel=1)
                hdrs["Content-Encoding"] = "gzip"
            data = raw
        size = body.size if body is not None else (len(data) if data is not None else 0)

        async def error(resp: aiohttp.ClientResponse) -> Exception:
            return await error_from(resp, url, self._auth_context())

        return await self._send(self._get_session, method, url, data, hdrs, size, read, error, what)

    async def call_direct(
        self,
        method: str,
        url: str,
        read: Callable[[aiohttp.ClientResponse], Awaitable[T]],
        *,
        body: Payload | None = None,
        headers: dict[str, str] | None = None,
        what: str | None = None,
    ) -> T:
        """Like :meth:`call`, to a presigned object-store ``url``: without the API key (the
        URL carries its own signature), same retries and failure mapping; an error answer
        becomes :class:`DirectTransferError` (a 5xx or 429: retried)."""
        size = body.size if body is not None else 0

        async def error(resp: aiohttp.ClientResponse) -> Exception:
            return await direct_error(resp)

        return await self._send(
            self._get_direct_session,
            method,
            url,
            body,
            dict(headers or {}),
            size,
            read,
            error,
            what,
        )

    async def _send(
        self,
        session: Callable[[], aiohttp.ClientSession],
        method: str,
        url: str,
        data: Any,
        hdrs: dict[str, str],
        size: int | None,
        read: Callable[[aiohttp.ClientResponse], Awaitable[T]],
        error: Callable[[aiohttp.ClientResponse], Awaitable[Exception]],
        what: str | None,
    ) -> T:
        shown = url.split("?", 1)[0]  # a presigned URL's query is a credential
        where = self.base_url if url.startswith(self.base_url) else shown

        async def attempt() -> T:
            self.counters.requests += 1
            try:
                async with session().request(method, url, data=data, headers=hdrs) as resp:
                    mark_answered(where)
                    self.counters.bytes_sent += size or 0
                    if resp.status >= 400:
                        raise await error(resp)
                    return await read(resp)
            except aiohttp.ClientConnectorCertificateError as exc:
                raise CertificateError(
                    f"the TLS certificate of {where} did not verify "
                    f"({exc.certificate_error}); if the server uses a private CA, point "
                    "ASYNCART_CA_BUNDLE at its certificate (PEM)"
                ) from exc
            except aiohttp.ClientConnectorSSLError as exc:  # the handshake, not the certificate
                mismatch = await scheme_mismatch(where)
                raise mismatch or ConnectError(
                    f"the TLS handshake with {where} failed ({_ssl_reason(exc)}); is it an "
                    "HTTPS server?",
                    final=True,
                ) from exc
            except aiohttp.ClientConnectorError as exc:
                raise connect_error(exc, where) from exc
            except aiohttp.ConnectionTimeoutError as exc:
                raise ConnectError(
                    f"no connection to {where} within {self.settings.connect_timeout:g} s",
                    unanswered=not has_answered(where),
                ) from exc
            except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
                raise RequestTimeout(
                    f"{method} {shown}: no data for {self.settings.idle_timeout:g}s"
                ) from exc
            except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError) as exc:
                if isinstance(exc, aiohttp.ServerDisconnectedError):  # closed without a byte
                    await raise_if_scheme_mismatch(url, where, exc)
                raise ProtocolError(
                    f"{method} {shown}: connection broke mid-answer ({exc})"
                ) from exc
            except aiohttp.ClientResponseError as exc:
                raise ProtocolError(f"{method} {shown}: malformed answer ({exc.message})") from exc
            except aiohttp.ClientError as exc:
                if isinstance(exc, aiohttp.ClientOSError):  # e.g. reset before an answer
                    await raise_if_scheme_mismatch(url, where, exc)
                raise ProtocolError(f"{method} {shown}: {type(exc).__name__}: {exc}") from exc

        return await with_retries(
            self.settings, what or f"{method} {shown}", attempt, self.counters.retry
        )

    async def answer(
        self,
        method: str,
        path: str,
        record: type[T],
        json_body: Any = None,
        *,
        what: str,
        doing: str | None = None,
        body: Payload | None = None,
    ) -> T:
        """Send one request and decode its JSON answer into ``record`` (``answers.py``),
        reading at most :data:`MAX_JSON_ANSWER` decoded bytes. ``what`` names the answer
        in errors ("version"), ``doing`` the request in retry messages.

        Raises:
            MalformedAnswer: the answer is too large, not JSON, or breaks ``record``'s rules.
        """

        async def read(resp: aiohttp.ClientResponse) -> T:
            raw = await read_bounded(resp, MAX_JSON_ANSWER, f"the {what}")
            self.counters.bytes_received += len(raw)
            return answers.decode(raw, record, what, f"server {self.base_url}")

        return await self.call(method, path, read, json_body=json_body, body=body, what=doing)


async def raise_if_scheme_mismatch(url: str, where: str, exc: Exception) -> None:
    """Before a connection that broke off without an answer is retried, if that server
    never answered in this process and the URL is ``http://``: raise the final
    ConnectError if the port speaks TLS (an HTTPS server drops a plain request unanswered)."""
    if url.startswith("http://") and not has_answered(where):
        mismatch = await scheme_mismatch(where)
        if mismatch is not None:
            raise mismatch from exc


def _ssl_reason(exc: aiohttp.ClientConnectorSSLError) -> str:
    os_error = exc.os_error
    return getattr(os_error, "reason", None) or str(os_error)


async def read_bounded(resp: aiohttp.ClientResponse, limit: int, what: str) -> bytearray:
    """The body of ``resp``, decoded (gzip and all), or MalformedAnswer once it passes ``limit``
    bytes: reading stops there, so neither an endless body nor a compression bomb can take
    more memory than that."""
    buf = bytearray()
    async for data in resp.content.iter_any():
        if len(buf) + len(data) > limit:
            raise MalformedAnswer(
                f"{resp.method} {resp.url.path}: {what} passed {human_limit(limit)} (decoded), "
                "the most this client reads of such an answer; the server is broken or hostile"
            )
        buf += data
    return buf


def human_limit(limit: int) -> str:
    """``64 MiB``, ``64 KiB``, ``512 MiB``."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if limit >= 1 << shift and limit % (1 << shift) == 0:
            return f"{limit >> shift} {unit}"
    return f"{limit} bytes"
