"""The factory: the :class:`Remote` the settings name, a server (``ASYNCART_URL``/``url``)
or else the embedded store in ``ASYNCART_DIR``."""

from __future__ import annotations

from asyncart.client.connectors import ConnectorFactory, tcp_connector
from asyncart.client.remote import Remote
from asyncart.config import Settings


async def open_remote(settings: Settings, *, connector: ConnectorFactory = tcp_connector) -> Remote:
    """The remote the settings name: a server if ``url`` is set (reached through
    ``connector``, see ``transport.py``), else the embedded store."""
    # Imported here: an HTTP client never loads the repository (and SQLAlchemy), and
    # the embedded store never loads aiohttp.
    if settings.url:
        from asyncart.client.http_remote import HttpRemote

        return HttpRemote(settings, connector=connector)
    from asyncart.client.local import LocalRemote

    return await LocalRemote.open(settings)
