"""The real server app in the test's own process, stopped by the test.

For client tests where a server subprocess adds nothing but its start-up: the same
app ``asyncart server`` runs (``create_app`` on a store directory, the same runner
options), listening on 127.0.0.1 with an OS-chosen port, or on a Unix socket for the
client's transport seam (``HttpTransport(connector=...)``). Its event loop runs on a
thread of its own, so sync tests (whose SDK calls block their thread) can use it too.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from asyncart.config import Settings
from asyncart.repo.location import StoreLocation
from asyncart.server.app import create_app
from asyncart.server.malformed import SafeAppRunner
from tests.support.loopback import loop_in_thread, run_in


@dataclass
class InProcessServer:
    """Where the app listens: ``url`` (on a Unix socket, ``url`` names a closed port:
    the app is reached only through :meth:`connector`)."""

    url: str
    root: Path
    unix_socket: Path | None = None

    def connector(self, settings: Settings) -> aiohttp.BaseConnector:
        """A :data:`asyncart.client.transport.ConnectorFactory` to the Unix socket."""
        assert self.unix_socket is not None, "this server listens on TCP: use its url"
        return aiohttp.UnixConnector(str(self.unix_socket))


async def _start(root: Path, unix_socket: Path | None) -> tuple[web.AppRunner, str]:
    app = create_app(StoreLocation.of(root))
    runner = SafeAppRunner(app, access_log=None, handle_signals=False, read_bufsize=4 << 20)
    await runner.setup()  # opens the store
    site: web.BaseSite
    if unix_socket is None:
        site = web.TCPSite(runner, "127.0.0.1", 0)
    else:
        site = web.UnixSite(runner, str(unix_socket))
    await site.start()
    if unix_socket is not None:
        return runner, f"http://127.0.0.1:{_closed_port()}"
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


def _closed_port() -> int:
    """A port nothing listens on (just released by the OS): requests to the URL of a
    Unix-socket server reach it only through its connector."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def in_process_server(root: Path, *, unix_socket: Path | None = None) -> Iterator[InProcessServer]:
    """Serve a fresh (or existing) store directory ``root`` until the block ends."""
    with loop_in_thread("in-process-server") as loop:
        runner, url = run_in(loop, _start(root, unix_socket))
        try:
            yield InProcessServer(url, root, unix_socket)
        finally:
            run_in(loop, runner.cleanup())
