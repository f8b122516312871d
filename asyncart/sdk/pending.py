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
from asyncart.core.humanize import count, human_size
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
                    f"({human_size(self.meter.done_bytes)} of "
                    f"{human_size(self.meter.total_bytes)} done); the upload goes on: "
                    "wait() again or let run.finish() wait for it"
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
    """Block until every upload in ``pending`` settled, a progress line on stderr every 2 s.

    Ctrl-C (in the thread calling this: the main thread) does not stop the wait: one
    line says what is still uploading and that a second Ctrl-C abandons it. The second
    one cancels those uploads (nothing of them is committed) and raises
    ``KeyboardInterrupt``.
    """
    waiting = [p for p in pending if not p.done]
    if not waiting:
        return
    report(describe(waiting))
    try:
        while wait_futures([p.future for p in waiting], _REPORT_EVERY).not_done:
            report(describe(waiting))
    except KeyboardInterrupt:
        _wait_after_interrupt(waiting)
    report(f"{count(len(waiting), 'upload')} settled")


def _wait_after_interrupt(waiting: list[PendingUpload]) -> None:
    """The rest of :func:`wait_reporting` after a first Ctrl-C."""
    left = [p for p in waiting if not p.done]
    if not left:
        return
    them = "it" if len(left) == 1 else "them"
    report(f"\nasyncart: {_still(left)}; Ctrl-C again to abandon {them}", prefix=False)
    try:
        wait_futures([p.future for p in left])
    except KeyboardInterrupt:
        stopped = [p for p in left if p.stop is not None and not p.done]
        for p in stopped:
            p.cancel()
        report(
            f"\nasyncart: abandoned {count(len(stopped), 'upload')} "
            f"({', '.join(repr(p.name) for p in stopped)}): nothing of {them} was committed",
            prefix=False,
        )
        raise


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


def report(line: str, *, prefix: bool = True) -> None:
    """A status line on stderr (progress while finish() waits, failures)."""
    print(f"asyncart: {line}" if prefix else line, file=sys.stderr, flush=True)


def describe(pending: list[PendingUpload]) -> str:
    """``waiting for 2 uploads to commit: 1.0 GiB of 3.0 GiB done`` (``pending``: not empty)."""
    total = sum(p.meter.total_bytes for p in pending)
    done = sum(p.meter.done_bytes for p in pending)
    line = f"waiting for {count(len(pending), 'upload')} to commit"
    return f"{line}: {human_size(done)} of {human_size(total)} done" if total else line


def _still(pending: list[PendingUpload]) -> str:
    """``waiting for 1 upload (1.5 GiB)``: the bytes it has still to send."""
    left = sum(max(p.meter.total_bytes - p.meter.done_bytes, 0) for p in pending)
    return f"waiting for {count(len(pending), 'upload')} ({human_size(left)} to go)"
