"""``Client``: settings plus a lazily opened remote, shared by the SDK objects of one event loop."""

from __future__ import annotations

from asyncart.client.remote import Remote, open_remote
from asyncart.config import Settings


class Client:
    """Opens the remote on first use; ``close()`` releases it, and a later use opens it again."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._remote: Remote | None = None

    async def remote(self) -> Remote:
        if self._remote is None:
            self._remote = await open_remote(self.settings)
        return self._remote

    @property
    def description(self) -> str:
        if self.settings.url:
            return f"server {self.settings.url}"
        return f"local store {self.settings.store_dir}"

    async def close(self) -> None:
        remote, self._remote = self._remote, None
        if remote is not None:
            await remote.close()
