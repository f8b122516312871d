"""A plain web server of files for tests of ``http(s)://`` references: real HTTP on
127.0.0.1 (an OS-chosen port), its loop in its own thread, stopped when the block ends.

``server.files`` maps a URL path (``/data/a.csv``) to its bytes; a test edits it
between requests. Each answer carries ``Content-Length`` and, unless ``etags`` is
False, a quoted ``ETag`` of the bytes; a path not in ``files`` is a 404.
``server.requests`` counts the GETs.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import blake3
from aiohttp import web


class FileServer:
    def __init__(self, files: dict[str, bytes], etags: bool) -> None:
        self.files = files
        self.etags = etags
        self.requests = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> FileServer:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._get)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _get(self, request: web.Request) -> web.Response:
        self.requests += 1
        data = self.files.get(request.path)
        if data is None:
            return web.Response(status=404, text="not here")
        headers = {"ETag": f'"{blake3.blake3(data).hexdigest()[:16]}"'} if self.etags else {}
        return web.Response(body=data, headers=headers)


@contextmanager
def serving_files(files: dict[str, bytes], *, etags: bool = True) -> Iterator[FileServer]:
    """A started :class:`FileServer`; stopped (and its thread joined) after the block."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="web-files", daemon=True)
    thread.start()
    try:
        server = asyncio.run_coroutine_threadsafe(FileServer(files, etags).start(), loop).result(30)
        try:
            yield server
        finally:
            asyncio.run_coroutine_threadsafe(server.close(), loop).result(timeout=30)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
