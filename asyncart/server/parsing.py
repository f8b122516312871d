"""JSON request bodies into records, without stalling the event loop.

A body of at most ``PARSE_INLINE_BYTES`` (decoded) is parsed where it is read: msgspec
takes a millisecond or two for it. A larger one is parsed, validated and (for a commit)
turned into its encoded manifest, digest and chunk list in a worker process: decoding
holds the GIL, so a thread would stall every other client for as long. At most
``at_once`` large bodies are read and parsed at a time (the others wait before their
bodies are read further), which bounds the memory they take.

The worker processes are started on first use and stopped by :meth:`BodyParser.close`
(on app cleanup).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TypeVar

from aiohttp import web

from asyncart.core import protocol as P
from asyncart.errors import AsyncartError
from asyncart.repo.prepared import PreparedCommit
from asyncart.server.bodies import BodyRead, BodyTiming, remove_spooled
from asyncart.server.prepare import (
    CompactCommit,
    from_file,
    prepare_commit,
    query_hashes,
    split_hashes,
)
from asyncart.server.schemas import B, decode_body

PARSE_INLINE_BYTES = 1 << 20  # a larger body is parsed in a worker process
_SPLIT_INLINE = 64 * 10_000  # characters of joined hashes split on the event loop
T = TypeVar("T")


class ParserUnavailable(AsyncartError):
    """The worker process that parses large bodies died (503; retry)."""

    code = "unavailable"
    http_status = 503


def _worker_init() -> None:
    # The server stops its workers itself; a Ctrl-C at the terminal reaches the whole
    # process group, and would only print tracebacks here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Parsing is background work: the event loop's process answers first.
    with contextlib.suppress(OSError):
        os.nice(10)


class BodyParser:
    """Reads and parses JSON request bodies (see the module doc)."""

    def __init__(
        self,
        timing: BodyTiming,
        *,
        inline_bytes: int = PARSE_INLINE_BYTES,
        workers: int = 2,
        at_once: int = 2,
    ) -> None:
        self.timing = timing
        self.inline_bytes = inline_bytes
        self._workers = workers
        self._big = asyncio.Semaphore(at_once)
        self._pool: ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _submit(self, work: Callable[[bytes], T], path: Path) -> Future[T]:
        """Hand ``work`` on the file at ``path`` to a worker process. Called in a thread:
        it may make the pool, and the pool may start a worker process (a spawn writes to
        pipes and waits for the child)."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    self._workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_worker_init,
                )
            return self._pool.submit(from_file, work, str(path))

    async def _parse(self, request: web.Request, limit: int, work: Callable[[bytes], T]) -> T:
        body = BodyRead(request, limit, self.timing)
        await body.read(up_to=self.inline_bytes)
        if body.complete:
            return work(body.data())
        async with self._big:
            path = await body.spool()
            try:
                future = await asyncio.to_thread(self._submit, work, path)
                return await asyncio.wrap_future(future)
            except BrokenProcessPool:
                self._pool = None  # a fresh pool next time
                raise ParserUnavailable(
                    "the server's body parser process stopped; send the request again"
                ) from None
            finally:
                await asyncio.to_thread(remove_spooled, path)

    async def body(self, request: web.Request, kind: type[B], limit: int) -> B:
        """The body decoded as ``kind`` (at most ``limit`` bytes decoded)."""
        return await self._parse(request, limit, functools.partial(decode_body, kind=kind))

    async def hashes(self, request: web.Request) -> tuple[str, ...]:
        """The hashes of a ``missing``/``locate`` body, validated."""
        return await _split(await self._parse(request, P.MAX_QUERY_BODY, query_hashes))

    async def commit(self, request: web.Request, project: str, name: str) -> PreparedCommit:
        """A commit body, validated and prepared (manifest encoded and digested)."""
        c: CompactCommit = await self._parse(request, P.MAX_JSON_BODY, prepare_commit)
        return PreparedCommit(
            project=project,
            name=name,
            type=c.type,
            manifest=c.manifest(await _split(c.hashes)),
            aliases=c.aliases,
            metadata=c.metadata,
            description=c.description,
            run_id=c.run_id,
        )

    async def close(self) -> None:
        """Stop the worker processes (waiting for them to exit)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.get_running_loop().run_in_executor(
                None, functools.partial(pool.shutdown, wait=True, cancel_futures=True)
            )


async def _split(joined: str) -> tuple[str, ...]:
    if len(joined) <= _SPLIT_INLINE:
        return split_hashes(joined)
    return await asyncio.to_thread(split_hashes, joined)  # Python steps: the GIL is shared
