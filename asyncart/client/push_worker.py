"""``python -m asyncart.client.push_worker``: logs artifact versions for another process.

Started by :class:`asyncart.client.offload.PushWorker` for logs that run while
the caller goes on (a training loop's ``log_artifact``). It runs the same
``publish`` routine (upload, then commit) as an in-process log, at the lowest
CPU priority (nice 19), so reading, cutting, hashing and sending a multi-GB
checkpoint neither competes with the caller for the GIL nor takes a core the
caller wants: the scheduler gives this process what the caller leaves idle.

Requests come on stdin, answers go to stdout (``worker_wire``); anything else
printed here goes to stderr. When stdin closes (the parent exited or was
killed) every log in flight is cancelled and the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from typing import Any

from asyncart.client.client import Client
from asyncart.client.progress import Progress, TransferStats
from asyncart.client.publish import publish
from asyncart.client.worker_wire import (
    decode,
    encode,
    error_to_json,
    publication_from_json,
    settings_from_json,
    settings_to_json,
    stats_to_json,
)

# CFS weight 15 against a default process's 1,024: about 1.5 % of a core the caller also
# wants, every cycle it leaves idle. Not SCHED_IDLE: that can starve outright while the
# worker holds the embedded store's write lock.
WORKER_NICE = 19


#: Seconds between two progress messages of one push. The parent's event loop thread
#: needs its GIL for each, which a pure-Python training loop holds; a bar needs no more.
PROGRESS_INTERVAL = 0.25


class _Forward(Progress):
    """Sends one push's progress to the parent, at most every ``PROGRESS_INTERVAL`` s."""

    def __init__(self, job: int, send: Any) -> None:
        self.job, self.send = job, send
        self.unsent = 0
        self.unsent_skipped = 0
        self.sent_at = 0.0

    def on_start(self, phase: str, total_bytes: int, total_files: int) -> None:
        self.flush()
        self.send(
            {
                "id": self.job,
                "event": "start",
                "phase": phase,
                "total_bytes": total_bytes,
                "total_files": total_files,
            }
        )

    def on_progress(self, nbytes: int) -> None:
        self.unsent += nbytes
        if time.monotonic() - self.sent_at >= PROGRESS_INTERVAL:
            self.flush()

    def on_skip(self, nbytes: int) -> None:
        self.unsent_skipped += nbytes
        if time.monotonic() - self.sent_at >= PROGRESS_INTERVAL:
            self.flush()

    def on_done(self) -> None:
        self.flush()

    def flush(self) -> None:
        """Send the bytes not reported yet, if any (moved and skipped ones apart)."""
        if self.unsent_skipped:
            self.send({"id": self.job, "event": "skip", "nbytes": self.unsent_skipped})
            self.unsent_skipped = 0
            self.sent_at = time.monotonic()
        if self.unsent:
            self.send({"id": self.job, "event": "progress", "nbytes": self.unsent})
            self.unsent = 0
            self.sent_at = time.monotonic()


class Worker:
    """Runs the logs the parent asks for, each as a task, and answers on ``out``."""

    def __init__(self, out: asyncio.StreamWriter) -> None:
        self.out = out
        self.jobs: dict[int, asyncio.Task[None]] = {}
        self.clients: dict[str, Client] = {}

    def send(self, message: dict[str, Any]) -> None:
        self.out.write(encode(message))

    async def serve(self, requests: asyncio.StreamReader) -> None:
        self.send({"event": "ready", "pid": os.getpid()})
        try:
            while line := await requests.readline():
                self.handle(decode(line))
                await self.out.drain()
        finally:
            for task in self.jobs.values():
                task.cancel()
            await asyncio.gather(*self.jobs.values(), return_exceptions=True)
            for client in self.clients.values():
                await client.close()

    def handle(self, message: dict[str, Any]) -> None:
        job = message.get("id")
        if not isinstance(job, int):
            raise ValueError(f"push worker request without an integer id: {message!r:.200}")
        if message.get("op") == "log":
            task = asyncio.get_running_loop().create_task(self.log(job, message))
            self.jobs[job] = task
            task.add_done_callback(lambda _: self.jobs.pop(job, None))
        elif message.get("op") == "cancel":
            if job in self.jobs:
                self.jobs[job].cancel()
        else:
            raise ValueError(f"push worker request with an unknown op: {message!r:.200}")

    async def log(self, job: int, message: dict[str, Any]) -> None:
        stats = TransferStats()
        forward = _Forward(job, self.send)
        try:
            settings = settings_from_json(message["settings"])
            pub = publication_from_json(message["publication"])
            client = await self._client(settings)
            async with client.use() as remote:
                info, manifest = await publish(remote, pub, settings, stats, forward)
        except asyncio.CancelledError:
            self.send({"id": job, "event": "cancelled"})
            raise
        except Exception as exc:
            forward.flush()
            self.send({"id": job, "event": "error", "error": error_to_json(exc)})
            return
        finally:
            with contextlib.suppress(ConnectionError):
                await self.out.drain()
        forward.flush()
        self.send(
            {
                "id": job,
                "event": "done",
                "version": info.to_json(),
                "manifest": manifest.to_json(),
                "stats": stats_to_json(stats),
            }
        )
        await self.out.drain()

    async def _client(self, settings: Any) -> Client:
        key = repr(sorted(settings_to_json(settings).items()))
        client = self.clients.get(key)
        if client is None:
            client = self.clients[key] = Client(settings)
            await client.open()
        return client


async def _main() -> None:
    loop = asyncio.get_running_loop()
    requests = asyncio.StreamReader(limit=64 << 20)  # a push of many files is one long line
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(requests), sys.stdin)
    out_file = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # a stray print() goes to stderr, never into the answers
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, out_file)
    out = asyncio.StreamWriter(transport, protocol, None, loop)
    await Worker(out).serve(requests)
    with contextlib.suppress(ConnectionError):
        await out.drain()
    transport.close()


def main() -> None:
    # A Ctrl-C in the terminal reaches the whole process group; the parent decides what
    # happens to its uploads (finish() waits for them), and closes our stdin when it exits.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICE)  # before any thread starts: Linux threads inherit it
    asyncio.run(_main())


if __name__ == "__main__":
    main()
