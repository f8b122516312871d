"""How a session's requests reach a server: the connector factory (the transport seam,
see ``transport.py``) and the verified TLS context.

aiohttp is imported only when a connector is made, so a command on the embedded store
never loads it (about 0.3 s of every such command's start on a 2-core machine).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING

from asyncart.config import Settings
from asyncart.errors import ConfigError

if TYPE_CHECKING:
    import aiohttp

ConnectorFactory = Callable[[Settings], "aiohttp.BaseConnector"]
"""Makes the connector of a new session (sessions are made lazily and again after a close)."""


def client_ssl_context(settings: Settings) -> ssl.SSLContext:
    """Certificates are always verified: against ``settings.ca_bundle``, else the system's CAs."""
    cafile = str(settings.ca_bundle) if settings.ca_bundle is not None else None
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot load the CA bundle {cafile}: {exc}; it must be a PEM file"
        ) from None


def tcp_connector(settings: Settings) -> aiohttp.BaseConnector:
    """The default: TCP, certificates verified (:func:`client_ssl_context`), a pool a few
    connections wider than the most transfers the engine runs at once.

    Without a CA bundle the connector verifies with aiohttp's own default context
    (``ssl=True``: the system's CAs, built once when aiohttp is imported), so a command
    does not load the CA store a second time (~30 ms of every start) only to talk
    ``http://`` to a local server.
    """
    import aiohttp

    verify: ssl.SSLContext | bool = (
        client_ssl_context(settings) if settings.ca_bundle is not None else True
    )
    return aiohttp.TCPConnector(limit=settings.concurrency_ceiling + 4, ssl=verify)
