"""Who may talk to the server: bearer API keys, and the anonymous-serving rule.

Once the store has a user, every request except ``GET /v1/health``,
``GET /openapi.json`` and the web page's static files (``asyncart.server.webui``) needs
``Authorization: Bearer <key>`` of an unrevoked key (else ``401 unauthenticated``) and
then acts as the key's user, with its per-project roles (``asyncart.repo.access``). A store
without users serves anonymously; :func:`check_bind` allows that only on a loopback address
unless the operator insists.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from asyncart.core import protocol as P
from asyncart.core.net import is_loopback
from asyncart.errors import ConfigError, Unauthenticated
from asyncart.repo.access import Principal
from asyncart.server.keys import ACCOUNTS, PRINCIPAL
from asyncart.server.webui import WEB_PATHS

#: Sent with every 401 (RFC 6750): the scheme a client must use.
WWW_AUTHENTICATE = 'Bearer realm="asyncart"'

OPEN_ROUTES = frozenset(
    {("GET", P.HEALTH), ("GET", P.OPENAPI_PATH), ("HEAD", P.HEALTH)}
    # The web page's static files: no data in them; the page asks for a key itself.
    | {(method, path) for path in WEB_PATHS for method in ("GET", "HEAD")}
)
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def check_bind(host: str, *, has_users: bool, insecure_anonymous: bool) -> None:
    """Refuse to serve a store without users on a non-loopback address.

    Raises:
        ConfigError: ``host`` is not loopback, the store has no user, and
            ``insecure_anonymous`` is false.
    """
    if has_users or insecure_anonymous or is_loopback(host):
        return
    raise ConfigError(
        f"refusing to serve a store without users on {host}: anyone who can reach it could "
        "read and write everything; create a user and key with 'asyncart server admin "
        "create-user' / 'create-key', bind 127.0.0.1, or pass --insecure-anonymous"
    )


def _bearer(request: web.Request) -> str | None:
    value = request.headers.get("Authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    if not scheme.isascii() or scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "the Authorization header must be 'Bearer <API key>'; "
            "create a key with 'asyncart server admin create-key'"
        )
    return token.strip()


@web.middleware
async def auth_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Find who the request acts as (``request[PRINCIPAL]``), or answer 401."""
    if (request.method, request.path) in OPEN_ROUTES:
        return await handler(request)
    accounts = request.app[ACCOUNTS]
    if not await accounts.has_users():
        request[PRINCIPAL] = Principal.unrestricted()
        return await handler(request)
    key = _bearer(request)
    if key is None:
        raise Unauthenticated(
            "this server needs an API key: send 'Authorization: Bearer <key>' "
            "(set ASYNCART_API_KEY or run 'asyncart login')"
        )
    principal = await accounts.principal(key)
    if principal is None:
        raise Unauthenticated(
            "the API key is unknown or revoked; ask an admin for a new one "
            "('asyncart server admin create-key')"
        )
    request[PRINCIPAL] = principal
    return await handler(request)


def principal_of(request: web.Request) -> Principal:
    """Who ``request`` acts as (set by :func:`auth_middleware`)."""
    return request[PRINCIPAL]
