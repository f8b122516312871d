"""What an error answer means: the exception for a server's (or an object store's) 4xx/5xx.

A server's words are not trusted either: at most ``MAX_ERROR_BODY`` bytes of an
error body are read, the body must be a well-formed error record
(``answers.ErrorBody``) or it is ignored, and its message is cut and stripped of
control characters before it can reach a terminal. A key the server echoes is cut out.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp

from asyncart.client import answers
from asyncart.client.credentials import display_url
from asyncart.core import protocol as P
from asyncart.errors import DirectTransferError, error_for_answer

__all__ = [
    "MAX_ERROR_BODY",
    "AuthContext",
    "DirectTransferError",
    "direct_error",
    "error_from",
    "error_from_answer",
]

MAX_ERROR_BODY = 64 << 10  # decoded bytes of an error answer's body read for its message


async def direct_error(resp: aiohttp.ClientResponse) -> Exception:
    """The exception for an object store's error answer (an XML body, not ours)."""
    raw = await _error_bytes(resp)
    code_match = re.search(rb"<Code>([^<]{1,64})</Code>", raw)
    code = code_match.group(1).decode("ascii", "replace") if code_match else "http_error"
    return error_for_answer(
        resp.status,
        f"object store answered {resp.status} {resp.reason} ({code})",
        code=code,
        retry_after=_retry_after(resp.headers.get("Retry-After")),
        object_store=True,
    )


@dataclass(frozen=True)
class AuthContext:
    """What a 401 message needs: the server's URL and where the key sent (if any) came from."""

    base: str
    key: str | None = field(default=None, repr=False)
    key_source: str | None = None  # e.g. "the API key in ASYNCART_API_KEY"
    key_from_env: bool = False


async def error_from(
    resp: aiohttp.ClientResponse, url: str, auth: AuthContext | None = None
) -> Exception:
    """The exception an error answer stands for; the key sent is never in its message."""
    body = await _error_bytes(resp)
    return error_from_answer(resp.status, resp.reason, resp.headers, body, url, auth)


def error_from_answer(
    status: int,
    reason: str | None,
    headers: Mapping[str, str],
    body: bytes,
    url: str,
    auth: AuthContext | None = None,
) -> Exception:
    """:func:`error_from` for an answer already read: its status, reason, headers and at
    most :data:`MAX_ERROR_BODY` bytes of its body (any client's answer, not only aiohttp's)."""
    key = auth.key if auth is not None else None
    request_id = headers.get(P.REQUEST_ID_HEADER)
    if request_id is not None:
        request_id = answers.printable(request_id, 64)
    record = answers.error_body(body)
    server_message: str | None
    if record is None:
        code, server_message = "http_error", None
    else:
        code, server_message = record.code, answers.printable(record.message)
    if server_message is not None and key:
        server_message = _redact(server_message, key)
    if status == 401:
        message = _unauthenticated_message(
            auth or AuthContext(display_url(url)),
            server_message,
            headers.get("WWW-Authenticate"),
        )
        if key:
            message = _redact(message, key)
    else:
        message = f"HTTP {status} {reason}" if server_message is None else server_message
    if status == 404 and code == "http_error":  # no such route: not a missing artifact
        message = no_route_message(auth.base if auth is not None else url, url, message)
    return error_for_answer(
        status,
        message,
        code=code,
        request_id=request_id,
        url=url,
        retry_after=_retry_after(headers.get("Retry-After")),
    )


async def _error_bytes(resp: aiohttp.ClientResponse) -> bytes:
    """Up to :data:`MAX_ERROR_BODY` bytes of an error answer's body (the rest is dropped
    with the connection); empty if it breaks off."""
    buf = bytearray()
    try:
        async for data in resp.content.iter_any():
            buf += data
            if len(buf) > MAX_ERROR_BODY:
                return b""  # no error body is that long: not ours, say only the status
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return b""
    return bytes(buf)


def no_route_message(base: str, url: str, answered: str) -> str:
    """What a 404 that is not one of the API's own answers means: the server URL is not an
    asyncart server's root (``--url http://host:8765/v1``), or not an asyncart server."""
    parts = urlsplit(base)
    asked = urlsplit(url).path
    if parts.path.strip("/"):
        root = parts._replace(path="", query="", fragment="").geturl()
        return (
            f"{base} answered {answered!r} for {asked}: the server URL must be the server's "
            f"root, e.g. {root} (without {parts.path.rstrip('/')})"
        )
    return f"{base} answered {answered!r} for {asked}: is it an asyncart server?"


_KEY_BODY = re.compile(r"acart_([A-Za-z0-9_-]{20,})")
_CHALLENGE_PARAM = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')


def _redact(text: str, key: str) -> str:
    """``text`` with ``key`` (and its body after ``acart_``) cut out, should a server echo it."""
    text = text.replace(key, "[API key]")
    match = _KEY_BODY.fullmatch(key)
    if match is not None:
        text = text.replace(match.group(1), "[API key]")
    return text


def _unauthenticated_message(auth: AuthContext, detail: str | None, challenge: str | None) -> str:
    """What a 401 means and what to do, naming where the refused key came from.

    ``detail`` is the server's message; without one, the ``error_description`` of a
    ``WWW-Authenticate: Bearer ...`` challenge stands in.
    """
    base = auth.base
    scheme, _, params = (challenge or "").strip().partition(" ")
    if detail is None and params:
        for match in _CHALLENGE_PARAM.finditer(params):
            if match.group(1).lower() == "error_description":
                detail = match.group(2) if match.group(2) is not None else match.group(3)
    create = "an admin creates one with 'asyncart server admin create-key'"
    if not auth.key:
        message = (
            f"{base} needs an API key and none is set for it: run "
            f"'asyncart login --url {base}' or set ASYNCART_API_KEY ({create})"
        )
    else:
        if auth.key_from_env:
            fix = "put a valid key in ASYNCART_API_KEY"
        else:
            fix = f"store a valid key with 'asyncart login --url {base}'"
        reason = detail or f"the key is unknown, revoked or malformed ({create})"
        source = auth.key_source or "the API key"
        message = f"{base} refused {source}: {reason}; {fix}"
    if scheme and scheme.lower() != "bearer":
        message += (
            f"; note: the answer asks for {scheme} authentication, not an asyncart API key "
            f"(is {base} an asyncart server, or a proxy in front of one?)"
        )
    return message


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
