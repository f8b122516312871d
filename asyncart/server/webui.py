"""The web page: static files (HTML, vanilla JS modules, CSS) that read the JSON API from
the browser.

``GET /`` and ``GET /ui/`` answer the page shell, ``/ui/*.js`` (ES modules: ``app.js``
imports the others) and ``/ui/style.css`` its assets; they hold no data and are served
without a key (``auth.OPEN_ROUTES``). Everything the page shows comes from ``/v1/...``
with the key the user types into it, so a store with users shows nothing to a visitor
without a key. The files ship in the package (``asyncart/server/web/``).
"""

from __future__ import annotations

import asyncio
from importlib import resources

from aiohttp import web

INDEX_PATHS = ("/", "/ui/")
_SCRIPTS = (
    *("app.js", "api.js", "cost.js", "dom.js"),
    *("detail.js", "diff.js", "lineage.js", "listing.js"),
)
ASSETS = {
    **{f"/ui/{name}": (name, "text/javascript") for name in _SCRIPTS},
    "/ui/style.css": ("style.css", "text/css"),
}
#: Every path of the page, each served to GET (and HEAD) without a key.
WEB_PATHS = frozenset({*INDEX_PATHS, *ASSETS})

_HEADERS = {
    # Only our own files run; the page talks to its own origin only; no framing.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


_loaded: dict[str, bytes] = {}  # each file is read once, by its first request


async def _file(name: str) -> bytes:
    body = _loaded.get(name)
    if body is None:
        path = resources.files("asyncart.server").joinpath("web", name)
        body = _loaded[name] = await asyncio.to_thread(path.read_bytes)
    return body


async def _answer(name: str, content_type: str) -> web.Response:
    return web.Response(
        body=await _file(name), content_type=content_type, charset="utf-8", headers=_HEADERS
    )


async def index(request: web.Request) -> web.Response:
    return await _answer("index.html", "text/html")


async def asset(request: web.Request) -> web.Response:
    name, content_type = ASSETS[request.path]
    return await _answer(name, content_type)


def add_routes(router: web.UrlDispatcher) -> None:
    for path in INDEX_PATHS:
        router.add_get(path, index)
    for path in ASSETS:
        router.add_get(path, asset)
