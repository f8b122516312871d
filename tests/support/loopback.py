"""Hosting a test server: an aiohttp runner listening on 127.0.0.1 (an OS-chosen port),
and an event loop on a thread of its own for sync tests, stopped when their block ends."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")

#: Seconds a start or a stop on the server's thread may take.
THREAD_DEADLINE = 30.0


async def serve_on_loopback(runner: web.BaseRunner) -> str:
    """Set ``runner`` up and listen on 127.0.0.1, port chosen by the OS; the base URL."""
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return f"http://127.0.0.1:{runner.addresses[0][1]}"


@contextmanager
def loop_in_thread(name: str) -> Iterator[asyncio.AbstractEventLoop]:
    """A new event loop running on daemon thread ``name``; stopped, joined and closed after."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=name, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=THREAD_DEADLINE)
        loop.close()


def run_in(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on ``loop`` (another thread's) and wait for its result."""
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=THREAD_DEADLINE)
