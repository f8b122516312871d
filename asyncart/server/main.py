"""Running the server process: bind, announce the URL, serve until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from aiohttp import web

from asyncart.server.app import open_app

READY_PREFIX = "asyncart server listening on "


async def serve(root: Path, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve the store at ``root`` until a termination signal; prints the bound URL once ready."""
    app = await open_app(root)
    # A 4 MiB read buffer instead of aiohttp's 64 KiB: pack uploads are multi-MiB bodies.
    runner = web.AppRunner(app, access_log=None, handle_signals=False, read_bufsize=4 << 20)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound_port = sockets[0].getsockname()[1] if sockets else port
    shown_host = f"[{host}]" if ":" in host else host
    print(f"{READY_PREFIX}http://{shown_host}:{bound_port} (store {root})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        print("asyncart server stopped", file=sys.stderr, flush=True)
