"""``Client``: settings plus the remote they name, with an explicit lifetime.

``open()``/``close()`` bound a long-lived connection (a run, an ``async with``
API object). ``use()`` borrows it, or, when the client is not open, opens a
remote just for that operation and closes it after, so an artifact used after
its run finished still works without leaking a session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from asyncart.client.connectors import ConnectorFactory, tcp_connector
from asyncart.client.offload import PushWorker, should_offload
from asyncart.client.progress import Progress, TransferStats
from asyncart.client.publish import Publication, publish
from asyncart.client.remote import Remote
from asyncart.client.remote_factory import open_remote
from asyncart.config import Settings
from asyncart.core.manifest import Manifest
from asyncart.core.models import VersionInfo


class Client:
    """Where the SDK objects of one event loop send their requests."""

    def __init__(self, settings: Settings, *, connector: ConnectorFactory = tcp_connector) -> None:
        """``connector``: how requests reach a server (the transport seam, see
        ``transport.py``); the embedded store has no use for it. With another connector
        than the default, pushes never go to the push worker process."""
        self.settings = settings
        self._connector = connector
        self._remote: Remote | None = None
        self._worker: PushWorker | None = None

    @property
    def is_open(self) -> bool:
        return self._remote is not None

    async def open(self) -> Remote:
        """Open the long-lived remote (idempotent)."""
        if self._remote is None:
            self._remote = await open_remote(self.settings, connector=self._connector)
        return self._remote

    @asynccontextmanager
    async def use(self) -> AsyncIterator[Remote]:
        """The open remote, or a temporary one for the duration of the block."""
        if self._remote is not None:
            yield self._remote
            return
        remote = await open_remote(self.settings, connector=self._connector)
        try:
            yield remote
        finally:
            await remote.close()

    async def publish(
        self,
        remote: Remote,
        pub: Publication,
        stats: TransferStats,
        progress: Progress | None,
        *,
        background: bool = False,
    ) -> tuple[VersionInfo, Manifest]:
        """Upload what the store lacks of ``pub`` and commit it; see ``publish.publish``.

        ``background``: the caller goes on while this runs (a non-blocking
        ``log_artifact``); then, per ``settings.push_worker``, the files are read,
        hashed and sent, and the version committed, by a low-priority worker
        process (see ``offload.py``).
        """
        # The worker process reaches the server over TCP: a client given another
        # connector (the transport seam) publishes in this process.
        offload = self.is_open and self._connector is tcp_connector
        if offload and should_offload(self.settings, pub.files, background):
            if self._worker is None:
                self._worker = PushWorker()
            return await self._worker.publish(self.settings, pub, stats, progress or Progress())
        return await publish(remote, pub, self.settings, stats, progress)

    async def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            await worker.close()
        remote, self._remote = self._remote, None
        if remote is not None:
            await remote.close()
