"""The factory: the :class:`Remote` the settings name, a server (``ASYNCART_URL``/``url``)
or else the embedded store in ``ASYNCART_DIR``."""

from __future__ import annotations

from asyncart.client.http_remote import HttpRemote
from asyncart.client.remote import Remote
from asyncart.config import Settings


async def open_remote(settings: Settings) -> Remote:
    """The remote the settings name: a server if ``url`` is set, else the embedded store."""
    if settings.url:
        return HttpRemote(settings)
    # Imported here: an HTTP client never loads the repository (and SQLAlchemy).
    from asyncart.client.local import LocalRemote

    return await LocalRemote.open(settings)
