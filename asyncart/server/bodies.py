"""Reading request bodies defensively: size, idle-time, JSON depth and Unicode limits.

Every JSON body goes through :func:`read_json_object` and every pack upload
through :func:`stream_body`, so a slow, huge, deeply nested or malformed body is
answered with a 4xx error (never a crash, never a connection held open forever).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from asyncart.core import protocol as P
from asyncart.core.paths import is_utf8_encodable
from asyncart.errors import ConfigError, PayloadTooLarge, RequestBodyTimeout

# A JSON ``\uD800``-``\uDFFF`` escape: only bodies holding one can decode to a lone surrogate.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _refuse_constant(name: str) -> Any:
    raise ConfigError(f"request body holds {name}, which JSON does not allow; send a number")


async def _read_piece(request: web.Request, size: int, idle_timeout: float) -> bytes:
    try:
        return await asyncio.wait_for(request.content.read(size), idle_timeout)
    except asyncio.TimeoutError:
        raise RequestBodyTimeout(
            f"no request body bytes arrived for {idle_timeout:g}s; the request was abandoned"
        ) from None
    except ConnectionError:
        raise ConfigError("the request body was cut short by the client") from None
    except RequestPayloadError as exc:
        raise ConfigError(f"the request body could not be read: {exc}") from None


async def read_limited(request: web.Request, limit: int, idle_timeout: float) -> bytes:
    """The whole (decoded) body, refused with 413 past ``limit`` bytes, 408 when it stalls."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(
            f"request body is {request.content_length} bytes; the limit is {limit}"
        )
    parts: list[bytes] = []
    total = 0
    while True:
        piece = await _read_piece(request, 1 << 20, idle_timeout)
        if not piece:
            return b"".join(parts)
        total += len(piece)
        if total > limit:
            raise PayloadTooLarge(f"request body is over {limit} bytes (after decoding)")
        parts.append(piece)


def check_depth(data: Any, limit: int = P.MAX_JSON_DEPTH) -> None:
    """Refuse JSON values nested deeper than ``limit`` arrays/objects (iterative walk)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            raise ConfigError(f"request body is nested deeper than {limit} levels")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value if isinstance(v, (dict, list)))


def _check_unicode(data: Any) -> None:
    stack: list[Any] = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if not is_utf8_encodable(value):
                raise ConfigError(
                    "request body holds a string with a lone surrogate escape (\\udXXX); "
                    "send valid Unicode"
                )
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Decode a JSON request body that must be an object; every failure is a ``ConfigError``."""
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise ConfigError(f"request body is nested deeper than {P.MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError("request body must be a JSON object")
    check_depth(data)
    if _SURROGATE_ESCAPE.search(raw):
        _check_unicode(data)
    return data


async def read_json_object(
    request: web.Request, idle_timeout: float = P.BODY_IDLE_TIMEOUT
) -> dict[str, Any]:
    """Read and decode a JSON object body within the protocol's limits (docs/protocol.md)."""
    return parse_json_object(await read_limited(request, P.MAX_JSON_BODY, idle_timeout))


async def stream_body(
    request: web.Request, idle_timeout: float = P.BODY_IDLE_TIMEOUT, piece: int = 1 << 20
) -> AsyncIterator[bytes]:
    """The body in pieces of at most ``piece`` bytes; 408 when it stalls, 400 when cut."""
    while True:
        data = await _read_piece(request, piece, idle_timeout)
        if not data:
            return
        yield data
