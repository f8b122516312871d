"""The typed keys of what the app and each request carry (``app[REPO]``, ``request[PRINCIPAL]``).

The app's values are set by its lifetime contexts (``asyncart.server.app``) when the
server starts; the request's by the middlewares, before any handler runs.
"""

from __future__ import annotations

from aiohttp import web

from asyncart.repo.access import Principal
from asyncart.repo.accounts import AccountStore
from asyncart.repo.audit import AuditLog
from asyncart.repo.read_audit import RecentPackReads
from asyncart.repo.service import Repository
from asyncart.server.body_takeover import ReceiveBuffers
from asyncart.server.parsing import BodyParser

REPO = web.AppKey("repo", Repository)
ACCOUNTS = web.AppKey("accounts", AccountStore)
AUDIT = web.AppKey("audit", AuditLog)
PARSER = web.AppKey("parser", BodyParser)
RECENT_READS = web.AppKey("recent_reads", RecentPackReads)
#: The reused buffers pack upload bodies are received into (``server/body_takeover.py``).
RECEIVE_BUFFERS = web.AppKey("receive_buffers", ReceiveBuffers)

#: The id echoed in ``X-Request-Id`` (set by ``error_answers.error_middleware``).
REQUEST_ID = web.RequestKey("request_id", str)
#: Who the request acts as (set by ``auth.auth_middleware``).
PRINCIPAL = web.RequestKey("principal", Principal)
