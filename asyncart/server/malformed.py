"""Requests aiohttp cannot parse: answered and logged without echoing what they carried.

aiohttp answers a request it cannot parse (bad request line, bad or over-long header,
bad chunked encoding, invalid method) outside the application: no middleware sees it.
Its answer's body is the parser's message, and its log line the parser's exception;
both quote the offending raw line, so a malformed request carrying
``Authorization: Bearer acart_…`` put the key in clear text in the server log and in
the 400 body. Here:

* :class:`RedactingLogger` is the logger of every connection handler: whatever it is
  given (message, arguments, exception text) goes through :func:`redact` first;
* :class:`SafeRequestHandler` answers a malformed request with a fixed JSON error that
  names the kind of fault (the exception class) and quotes nothing from the request,
  and logs one redacted line;
* :class:`SafeAppRunner` is an ``AppRunner`` whose connections use that handler.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import traceback
from collections.abc import MutableMapping
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod

from asyncart.core import protocol as P

#: Anything that looks like one of our API keys, wherever it appears.
_KEY_RE = re.compile(r"acart_[A-Za-z0-9_\-]*")
#: The value of an Authorization header, as a raw header line or a repr of one.
_AUTH_HEADER_RE = re.compile(r"(?i)(authorization\s*:\s*)[^\r\n'\"]*")
#: A credential after its scheme word, wherever the header's name was cut off.
_SCHEME_RE = re.compile(r"(?i)\b(bearer|basic|digest)(\s+|\\x20|%20)[^\s'\"\\]+")
REDACTED = "<redacted>"
#: Where a parser message starts quoting the request: a quote, ``b'``, or a colon.
_QUOTE_RE = re.compile(r"[:'\"]|\bb'")

#: What each parser fault means, for the answer (never the raw line the parser quotes).
_FAULTS = {
    "BadHttpMethod": "the request method is not a valid HTTP method",
    "BadStatusLine": "the request line is not 'METHOD /path HTTP/1.1'",
    "LineTooLong": "a request line or header is longer than the server accepts",
    "InvalidHeader": "a header is malformed",
    "TransferEncodingError": "the chunked transfer encoding is malformed",
    "ContentLengthError": "the Content-Length does not match the body",
    "InvalidURLError": "the request target is not a valid URL",
}


def redact(text: str) -> str:
    """``text`` with API keys and credential values replaced by ``<redacted>``."""
    text = _KEY_RE.sub("acart_" + REDACTED, text)
    text = _AUTH_HEADER_RE.sub(lambda m: m.group(1) + REDACTED, text)
    return _SCHEME_RE.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


class RedactingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger that redacts each message, its arguments and its exception text."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger, {})

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        exc_info = kwargs.pop("exc_info", None)
        if exc_info:
            text += "\n" + "".join(_format_exception(exc_info)).rstrip()
        kwargs.pop("stack_info", None)
        kwargs.setdefault("stacklevel", 2)
        self.logger.log(level, "%s", redact(text), **kwargs)

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        return msg, kwargs


def _format_exception(exc_info: object) -> list[str]:
    if isinstance(exc_info, BaseException):
        return traceback.format_exception(exc_info)
    if isinstance(exc_info, tuple):
        return traceback.format_exception(*exc_info)
    current = sys.exception()
    return traceback.format_exception(current) if current is not None else []


def describe_fault(exc: BaseException | None) -> str:
    """What was wrong with a request aiohttp refused, without quoting any of it.

    The parser's own reason is kept up to where it starts quoting the request.
    """
    name = type(exc).__name__ if exc is not None else "error"
    fault = _FAULTS.get(name, "the request is not valid HTTP")
    message = getattr(exc, "message", None)
    lines = message.strip().splitlines() if isinstance(message, str) else []
    reason = _QUOTE_RE.split(lines[0], maxsplit=1)[0].strip(" :") if lines else ""
    if reason and len(reason) <= 80:
        fault = f"{fault}: {redact(reason)}"
    return f"{fault} ({name})"


class SafeRequestHandler(web.RequestHandler):
    """A connection handler whose error answers and log lines quote nothing sent."""

    __slots__ = ()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status == HTTPStatus.INTERNAL_SERVER_ERROR:
            return super().handle_error(request, status, exc)  # generic body; logs redacted
        fault = describe_fault(exc)
        level = logging.DEBUG if isinstance(exc, BadHttpMethod) else logging.WARNING
        self.logger.log(level, "refused a malformed request from %s: %s", request.remote, fault)
        if request.writer.output_size > 0:
            raise ConnectionError("the answer was partly sent; cannot send the error answer")
        request_id = secrets.token_hex(8)
        try:
            title = f"{status} {HTTPStatus(status).phrase}"
        except ValueError:
            title = str(status)
        body = {
            "code": "bad_request" if status == HTTPStatus.BAD_REQUEST else "http_error",
            "message": f"{title}: {fault}",
            "request_id": request_id,
        }
        response = web.Response(
            status=status,
            text=json.dumps(body),
            content_type="application/json",
            headers={P.REQUEST_ID_HEADER: request_id},
        )
        response.force_close()
        return response


class _SafeServer(web.Server):
    """An aiohttp low-level server whose connections are :class:`SafeRequestHandler`."""

    def __call__(self) -> web.RequestHandler:
        handler = super().__call__()
        handler.__class__ = SafeRequestHandler  # same slots: only the methods change
        return handler


class SafeAppRunner(web.AppRunner):
    """``AppRunner`` for ``app`` whose connections answer and log malformed requests safely.

    Keyword arguments are ``AppRunner``'s; ``logger`` defaults to a
    :class:`RedactingLogger` over aiohttp's server logger.
    """

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        kwargs.setdefault("logger", RedactingLogger(logging.getLogger("aiohttp.server")))
        super().__init__(app, **kwargs)

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # aiohttp builds its handlers from the server object; AppRunner offers no way
        # to name the handler class, so the server's class is narrowed to one that does.
        server.__class__ = _SafeServer
        return server
