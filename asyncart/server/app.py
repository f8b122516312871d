"""The aiohttp application: its middlewares, its routes, and the lifetime of what it serves.

No business rule lives here; ``asyncart.repo.service.Repository`` has them all. The
handlers are in ``asyncart.server.routes`` (grouped by what they serve), what they read
from a request in ``params``, and errors become ``{"code", "message", "request_id"}`` in
``error_answers``.

The app opens the store when it starts and closes it when it stops (``cleanup_ctx``):
``runner.setup()`` opens it, ``runner.cleanup()`` closes whatever was opened, even after
a failed start.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack

from aiohttp import web

from asyncart.core import protocol as P
from asyncart.repo.accounts import AccountStore
from asyncart.repo.audit import AuditLog
from asyncart.repo.location import StoreLocation
from asyncart.repo.metastores.database import Database
from asyncart.repo.read_audit import RecentPackReads
from asyncart.repo.service import Repository
from asyncart.server.auth import auth_middleware
from asyncart.server.bodies import DEFAULT_TIMING, BodyTiming
from asyncart.server.body_takeover import (
    ReceiveBuffers,
    close_after_takeover,
    hold_pack_uploads,
)
from asyncart.server.error_answers import error_middleware
from asyncart.server.keys import ACCOUNTS, AUDIT, PARSER, RECEIVE_BUFFERS, RECENT_READS, REPO
from asyncart.server.parsing import BodyParser
from asyncart.server.routes import admin, links, packs, pending, retention, runs, sync, versions
from asyncart.server.webui import add_routes as add_web_routes

_Lifetime = Callable[[web.Application], AsyncIterator[None]]


def create_app(
    location: StoreLocation,
    *,
    timing: BodyTiming = DEFAULT_TIMING,
    direct_transfer: bool = True,
) -> web.Application:
    """The HTTP API over the store at ``location``, opened when the app starts.

    ``timing``: how long a request body may stall, and how slowly it may arrive, before
    the request is answered 408. ``direct_transfer``: hand out presigned object-store
    URLs (when the blob store can).
    """
    app = web.Application(
        # hold_pack_uploads first: it pauses a pack body before the others await anything.
        middlewares=[hold_pack_uploads, error_middleware, auth_middleware],
        client_max_size=P.MAX_JSON_BODY,
    )
    app[RECENT_READS] = RecentPackReads()
    app[RECEIVE_BUFFERS] = ReceiveBuffers()
    app.on_response_prepare.append(close_after_takeover)
    # Opened in this order, closed in the reverse: the parser's workers stop first.
    app.cleanup_ctx.append(_store_lifetime(location, direct_transfer))
    app.cleanup_ctx.append(_parser_lifetime(timing))
    admin.add_routes(app.router)
    packs.add_routes(app.router)
    versions.add_routes(app.router)
    pending.add_routes(app.router)
    links.add_routes(app.router)
    retention.add_routes(app.router)
    runs.add_routes(app.router)
    sync.add_routes(app.router)
    add_web_routes(app.router)  # the web page's static files (asyncart/server/web/)
    return app


def _store_lifetime(location: StoreLocation, direct_transfer: bool) -> _Lifetime:
    """Open the repository, its accounts and its audit log, sharing one
    :class:`Database` (one connection pool); close all three at the end."""

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        async with AsyncExitStack() as opened:
            database = Database(location.db)
            repo = await Repository.open(location, database=database)
            opened.push_async_callback(repo.close)
            accounts, audit = AccountStore(database), AuditLog(database)
            # Closed even if opening fails halfway: close() after a failed open() is safe.
            opened.push_async_callback(accounts.close)
            opened.push_async_callback(audit.close)
            await accounts.open()
            await audit.open()
            repo.offer_direct = direct_transfer
            app[REPO], app[ACCOUNTS], app[AUDIT] = repo, accounts, audit
            yield

    return lifetime


def _parser_lifetime(timing: BodyTiming) -> _Lifetime:
    """The worker processes that parse large bodies; stopped at the end."""

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        parser = app[PARSER] = BodyParser(timing)
        try:
            yield
        finally:
            await parser.close()

    return lifetime
