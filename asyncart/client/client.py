"""``Client``: settings plus the remote they name, with an explicit lifetime.

``open()``/``close()`` bound a long-lived connection (a run, an ``async with``
API object). ``use()`` borrows it, or, when the client is not open, opens a
remote just for that operation and closes it after, so an artifact used after
its run finished still works without leaking a session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from asyncart.client.remote import Remote, open_remote
from asyncart.config import Settings


class Client:
    """Where the SDK objects of one event loop send their requests."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._remote: Remote | None = None

    @property
    def is_open(self) -> bool:
        return self._remote is not None

    async def open(self) -> Remote:
        """Open the long-lived remote (idempotent)."""
        if self._remote is None:
            self._remote = await open_remote(self.settings)
        return self._remote

    @asynccontextmanager
    async def use(self) -> AsyncIterator[Remote]:
        """The open remote, or a temporary one for the duration of the block."""
        if self._remote is not None:
            yield self._remote
            return
        remote = await open_remote(self.settings)
        try:
            yield remote
        finally:
            await remote.close()

    async def close(self) -> None:
        remote, self._remote = self._remote, None
        if remote is not None:
            await remote.close()
