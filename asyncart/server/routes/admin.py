"""The store's own routes: health, the OpenAPI description of the API, a project's audit log."""

from __future__ import annotations

import asyncio

from aiohttp import web

from asyncart._version import __version__
from asyncart.core import protocol as P
from asyncart.repo.audit import MAX_QUERY as MAX_AUDIT_QUERY
from asyncart.server.openapi import openapi_bytes
from asyncart.server.params import int_query, path_param, scoped_repo


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "version": __version__})


async def openapi(request: web.Request) -> web.Response:
    body = await asyncio.to_thread(openapi_bytes)  # read from the package once, then cached
    return web.Response(body=body, content_type="application/json")


async def audit_log(request: web.Request) -> web.Response:
    limit = int_query(request, "limit", 100, 1, MAX_AUDIT_QUERY)
    before = request.query.get("before")
    before_id = None if before is None else int_query(request, "before", 0, 1, 2**62)
    events = await scoped_repo(request).audit_events(
        path_param(request, "project"), limit=limit, before_id=before_id
    )
    return web.json_response({"events": [e.to_json() for e in events]})


def add_routes(router: web.UrlDispatcher) -> None:
    """Register health and the OpenAPI description (both open to all) and the audit log."""
    router.add_get(P.OPENAPI_PATH, openapi)
    router.add_get(P.HEALTH, health)
    router.add_get(P.AUDIT, audit_log)
