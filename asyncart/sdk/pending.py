"""A log in flight: what ``artifact.wait()``, ``.cancel()``, ``run.finish()`` and exit wait for.

A log's outcome is the ``concurrent.futures.Future`` of the task that uploads it: the
sync API's portal returns it (``BlockingPortal.start_task``); an awaited async log
resolves its own. :class:`PendingUpload` adds what a future lacks: the bytes done,
whether its error reached the user, and how to stop the task.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures

import anyio.to_thread

from asyncart.client.progress import Progress
from asyncart.errors import ConfigError

_REPORT_EVERY = 2.0  # seconds between progress lines while finish() or exit waits


class UploadMeter(Progress):
    """Bytes of one log stored or found present, of its total."""

    def __init__(self, total_bytes: int) -> None:
        self.total_bytes = total_bytes
        self.done_bytes = 0

    def on_start(self, phase: str, total_bytes: int, total_files: int) -> None:
        self.done_bytes = 0  # a push may start over (chunks lost before the commit)

    def on_progress(self, nbytes: int) -> None:
        self.done_bytes = min(self.total_bytes, self.done_bytes + nbytes)


class PendingUpload:
    """One ``log_artifact`` until its version is committed, it failed, or it was cancelled.

    ``thread`` runs the event loop the upload runs on: waiting for it from that
    thread would deadlock, so that raises instead. ``stop`` cancels the upload's
    task (None for an awaited log: cancel the task that awaits it).
    """

    def __init__(
        self,
        name: str,
        meter: UploadMeter,
        future: Future[None],
        thread: threading.Thread,
        stop: Callable[[], object] | None = None,
    ) -> None:
        self.name = name
        self.meter = meter
        self.future = future
        self.thread = thread
        self.stop = stop
        self.observed = False  # the error reached the user (wait(), a property, an await)

    @property
    def done(self) -> bool:
        return self.future.done()

    @property
    def error(self) -> BaseException | None:
        """The upload's error once settled (None while in flight, if committed or cancelled)."""
        if not self.future.done() or self.future.cancelled():
            return None
        return self.future.exception()

    @property
    def unsettled_or_unseen(self) -> bool:
        """Still to be waited for by ``finish()``, or a failure still to be reported."""
        return not self.done or (self.error is not None and not self.observed)

    def wait(self, timeout: float | None = None) -> None:
        """Block until settled; re-raise the upload's error (a cancelled log raises nothing).

        Raises:
            TimeoutError: not settled within ``timeout`` seconds (the upload goes on).
            ConfigError: called from the thread whose event loop runs the upload.
        """
        if not self.future.done():
            self._check_thread()
            if not wait_futures([self.future], timeout).done:
                raise TimeoutError(
                    f"artifact {self.name!r} was not committed within {timeout} s "
                    f"({_mib(self.meter.done_bytes)} of {_mib(self.meter.total_bytes)} MiB "
                    "done); the upload goes on: wait() again or let run.finish() wait for it"
                )
        error = self.error
        if error is not None:
            self.observed = True
            raise error

    def cancel(self) -> bool:
        """Stop the upload unless it settled already; return once its task has ended.

        True if it stopped before its version was committed (nothing was stored under
        the name; the packs it sent are garbage for the next gc); False if it had
        committed or failed first (``wait()`` tells which).

        Raises:
            ConfigError: an awaited log (cancel the task awaiting it), or called from
                the thread whose event loop runs the upload.
        """
        if self.future.done():
            return False
        if self.stop is None:
            raise ConfigError(
                f"artifact {self.name!r} is being logged by an awaited log_artifact; "
                "cancel the task that awaits it"
            )
        self._check_thread()
        self.stop()
        wait_futures([self.future])
        return self.future.cancelled()

    def _check_thread(self) -> None:
        if threading.current_thread() is self.thread:
            raise ConfigError(
                f"artifact {self.name!r} is still being logged, and waiting for it from "
                "the event loop that uploads it would deadlock; await run.log_artifact(...)"
            )


def wait_reporting(pending: Iterable[PendingUpload]) -> None:
    """Block until every upload in ``pending`` settled, a progress line on stderr every 2 s."""
    waiting = [p for p in pending if not p.done]
    if not waiting:
        return
    report(describe(waiting))
    while wait_futures([p.future for p in waiting], _REPORT_EVERY).not_done:
        report(describe(waiting))
    report(f"{len(waiting)} upload(s) settled")


async def settled(pending: Iterable[PendingUpload]) -> None:
    """Wait (in a worker thread, off the event loop) until every upload settled."""
    futures = [p.future for p in pending if not p.done]
    if futures:
        await anyio.to_thread.run_sync(wait_futures, futures)


_hooked = False
_hook_lock = threading.Lock()


def wait_before_pools_stop(hook: Callable[[], None]) -> None:
    """Make interpreter exit call ``hook`` (once registered, later calls do nothing).

    Uploads still in flight at exit must finish while the engine's thread pools
    (aiofiles, DNS) still take work. CPython shuts those pools down in
    ``threading._shutdown``, before ``atexit`` hooks run, by calling the hooks
    registered with ``threading._register_atexit`` in reverse order. So the wait
    is registered there, after ``concurrent.futures.thread`` registered its own
    (imported first on purpose), and runs before it: in the main thread, with
    progress on stderr. The ``atexit`` hook then finishes the runs.
    """
    global _hooked
    with _hook_lock:
        if _hooked:
            return
        _hooked = True
        import concurrent.futures.thread  # noqa: F401  (its exit hook must come first)

        register = getattr(threading, "_register_atexit", None)
        if register is not None:
            register(hook)


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f}"


def report(line: str) -> None:
    """A status line on stderr (progress while finish() waits, failures)."""
    print(f"asyncart: {line}", file=sys.stderr, flush=True)


def describe(pending: list[PendingUpload]) -> str:
    total = sum(p.meter.total_bytes for p in pending)
    done = sum(p.meter.done_bytes for p in pending)
    return f"waiting for {len(pending)} upload(s) to commit: {_mib(done)} of {_mib(total)} MiB"
