"""Every failure becomes one JSON answer ``{"code", "message", "request_id"}``, here.

An :class:`~asyncart.errors.AsyncartError` is answered with its ``http_status`` and
``code`` (a 401 with the ``WWW-Authenticate`` challenge); aiohttp's own HTTP errors keep
their status; anything else is a 500 whose details go only to the server log.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from asyncart.core import protocol as P
from asyncart.errors import AsyncartError
from asyncart.server.auth import WWW_AUTHENTICATE
from asyncart.server.keys import REQUEST_ID

log = logging.getLogger("asyncart.server")
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")


def _error(status: int, code: str, message: str, request_id: str) -> web.Response:
    return web.json_response(
        {"code": code, "message": message, "request_id": request_id},
        status=status,
        headers={P.REQUEST_ID_HEADER: request_id},
    )


def _request_id(request: web.Request) -> str:
    """The client's ``X-Request-Id`` if it is a sane token, else a fresh one."""
    given = request.headers.get(P.REQUEST_ID_HEADER, "")
    return given if _REQUEST_ID_RE.fullmatch(given) else secrets.token_hex(8)


@web.middleware
async def error_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Give the request its id (``request[REQUEST_ID]``) and answer any failure as JSON."""
    request_id = _request_id(request)
    request[REQUEST_ID] = request_id
    try:
        response = await handler(request)
    except AsyncartError as exc:
        if exc.http_status >= 500:
            log.exception("request %s failed: %s %s", request_id, request.method, request.path)
        reply = _error(exc.http_status, exc.code, str(exc), request_id)
        if exc.http_status == 401:
            reply.headers["WWW-Authenticate"] = WWW_AUTHENTICATE
        return reply
    except web.HTTPException as exc:
        if exc.status == 413:
            return _error(
                413, "payload_too_large", f"request body too large: {exc.text}", request_id
            )
        if exc.status >= 400:
            reply = _error(exc.status, "http_error", exc.reason, request_id)
            if "Allow" in exc.headers:
                reply.headers["Allow"] = exc.headers["Allow"]
            return reply
        raise
    except Exception:
        log.exception("request %s crashed: %s %s", request_id, request.method, request.path)
        return _error(500, "internal", "internal server error; see the server log", request_id)
    response.headers[P.REQUEST_ID_HEADER] = request_id
    return response
