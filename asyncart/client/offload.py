"""Background pushes in a worker process, so the caller's loop keeps its core and the GIL.

Why: an upload in the caller's process needs the GIL between every read,
cut, hash and send. A training loop that holds the GIL (Python between its
tensor ops) then starves the upload (a 1 GiB push took 17 s instead of 3 s
next to a pure-Python loop), and the upload's work competes with the loop's.
A separate process at a lower CPU priority (``push_worker.py``) takes neither
the GIL nor a core the loop wants. See docs/design.md, "Background pushes".

:class:`PushWorker` starts ``python -m asyncart.client.push_worker`` on first
use and keeps it for later pushes (one per :class:`~asyncart.client.Client`);
pushes run concurrently in it. The worker uploads and commits (``publish.py``)
and answers with the version; the caller's run, its lineage and the artifact
object stay in the caller's process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from asyncart.client.answers import VersionAnswer, convert
from asyncart.client.progress import Progress, TransferStats
from asyncart.client.publish import Publication
from asyncart.client.upload import SourceFile
from asyncart.client.worker_wire import (
    decode,
    encode,
    error_from_json,
    publication_to_json,
    settings_to_json,
    stats_into,
)
from asyncart.config import Settings
from asyncart.core.manifest import Manifest
from asyncart.core.models import VersionInfo
from asyncart.errors import PushWorkerError

log = logging.getLogger(__name__)

#: ``push_worker='auto'`` hands a background push to the worker from this many bytes of files.
OFFLOAD_MIN_BYTES = 64 << 20
_STOP_SECONDS = 10.0


def should_offload(settings: Settings, files: Sequence[SourceFile], background: bool) -> bool:
    """Whether a log of ``files`` runs in the worker process (see ``ASYNCART_PUSH_WORKER``)."""
    if settings.push_worker == "always":
        return True
    if settings.push_worker == "never" or not background:
        return False
    return sum(f.identity.size for f in files) >= OFFLOAD_MIN_BYTES


#: What the worker answers for a push it committed: the version, its manifest, its stats.
_Outcome = tuple[VersionInfo, Manifest, dict[str, Any]]


@dataclass
class _Job:
    """A push in flight in the worker: where its progress goes, and its outcome."""

    progress: Progress
    outcome: asyncio.Future[_Outcome]


class PushWorker:
    """One worker process and the pushes in flight in it."""

    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._jobs: dict[int, _Job] = {}
        self._next_id = 0
        self._start_lock = asyncio.Lock()
        self.pid: int | None = None

    async def publish(
        self,
        settings: Settings,
        pub: Publication,
        stats: TransferStats,
        progress: Progress,
    ) -> tuple[VersionInfo, Manifest]:
        """Like ``publish.publish``, run by the worker: upload and commit.

        Raises what ``publish`` raises (rebuilt from the worker's answer), and
        PushWorkerError when the worker cannot start or dies before answering.
        """
        process = await self._ensure_started()
        self._next_id += 1
        job_id = self._next_id
        job = self._jobs[job_id] = _Job(progress, asyncio.get_running_loop().create_future())
        request = {
            "op": "log",
            "id": job_id,
            "settings": settings_to_json(settings),
            "publication": publication_to_json(pub),
        }
        try:
            await self._send(process, request)
            info, manifest, job_stats = await asyncio.shield(job.outcome)
        except asyncio.CancelledError:
            if not job.outcome.done():
                with contextlib.suppress(ConnectionError, PushWorkerError):
                    await self._send(process, {"op": "cancel", "id": job_id})
            raise
        finally:
            self._jobs.pop(job_id, None)
        stats_into(stats, job_stats)
        return info, manifest

    async def close(self) -> None:
        """Ask the worker to stop (pushes in flight are cancelled) and wait for it."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), _STOP_SECONDS)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()
        if self._reader is not None:
            await self._reader

    async def _ensure_started(self) -> asyncio.subprocess.Process:
        async with self._start_lock:
            if self._process is not None and self._process.returncode is None:
                return self._process
            try:
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "asyncart.client.push_worker",
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    limit=64 << 20,  # one answer holds every entry of a push
                )
            except OSError as exc:
                raise PushWorkerError(
                    f"cannot start the push worker ({sys.executable} -m "
                    f"asyncart.client.push_worker): {exc}; set ASYNCART_PUSH_WORKER=never "
                    "to push in this process"
                ) from None
            self._process, self.pid = process, process.pid
            self._reader = asyncio.get_running_loop().create_task(self._read(process))
            return process

    async def _send(self, process: asyncio.subprocess.Process, message: dict[str, Any]) -> None:
        if process.stdin is None or process.stdin.is_closing():
            raise PushWorkerError("the push worker is stopped")
        process.stdin.write(encode(message))
        try:
            await process.stdin.drain()
        except ConnectionError:
            raise PushWorkerError(
                f"the push worker (pid {process.pid}) is gone; its stderr above says why"
            ) from None

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        """Dispatch the worker's answers; when it exits, fail every push still waiting."""
        assert process.stdout is not None
        try:
            while line := await process.stdout.readline():
                self._dispatch(decode(line))
        except Exception as exc:  # a malformed answer: the worker is unusable
            log.error("push worker (pid %s): %s", process.pid, exc)
            process.kill()
        code = await process.wait()
        if process.stdin is not None:
            process.stdin.close()
        for job in list(self._jobs.values()):
            if not job.outcome.done():
                job.outcome.set_exception(
                    PushWorkerError(
                        f"the push worker (pid {process.pid}) exited with code {code} before "
                        "it finished uploading; nothing was committed. Its stderr above says "
                        "why; log the artifact again (ASYNCART_PUSH_WORKER=never pushes in "
                        "this process)"
                    )
                )
        if self._process is process:
            self._process = None

    def _dispatch(self, message: dict[str, Any]) -> None:
        event = message.get("event")
        job = self._jobs.get(message.get("id"))  # type: ignore[arg-type]
        if job is None or job.outcome.done():
            return  # "ready", or a job its caller stopped waiting for
        if event == "start":
            job.progress.on_start(
                message["phase"], int(message["total_bytes"]), int(message["total_files"])
            )
        elif event == "progress":
            job.progress.on_progress(int(message["nbytes"]))
        elif event == "skip":
            job.progress.on_skip(int(message["nbytes"]))
        elif event == "done":
            job.outcome.set_result(
                (
                    convert(message["version"], VersionAnswer, "version", "the push worker").info(),
                    Manifest.from_json(message["manifest"]),
                    message.get("stats") or {},
                )
            )
            job.progress.on_done()
        elif event == "error":
            job.outcome.set_exception(error_from_json(message["error"]))
            job.progress.on_done()
        elif event == "cancelled":
            job.outcome.set_exception(PushWorkerError("the push was cancelled in the push worker"))
