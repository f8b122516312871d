"""The factory: the :class:`Remote` the settings name, a server (``ASYNCART_URL``/``url``)
or else the embedded store in ``ASYNCART_DIR``."""

from __future__ import annotations

from asyncart.client.http_remote import HttpRemote
from asyncart.client.remote import Remote
from asyncart.client.transport import ConnectorFactory, tcp_connector
from asyncart.config import Settings


async def open_remote(settings: Settings, *, connector: ConnectorFactory = tcp_connector) -> Remote:
    """The remote the settings name: a server if ``url`` is set (reached through
    ``connector``, see ``transport.py``), else the embedded store."""
    if settings.url:
        return HttpRemote(settings, connector=connector)
    # Imported here: an HTTP client never loads the repository (and SQLAlchemy).
    from asyncart.client.local import LocalRemote

    return await LocalRemote.open(settings)
