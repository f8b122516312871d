"""An upload in flight: what ``artifact.wait()``, ``run.finish()`` and exit wait for."""

from __future__ import annotations

import sys
import threading

from asyncart.client.progress import Progress
from asyncart.errors import ConfigError


class PendingUpload(Progress):
    """The state of one ``log_artifact`` until its version is committed (or it failed).

    ``thread`` runs the event loop the upload runs on: waiting for it from that
    thread would deadlock, so that raises instead. It is also the upload's
    progress subscriber (bytes stored or found present, of the total).
    """

    def __init__(self, name: str, thread: threading.Thread | None, total_bytes: int = 0) -> None:
        self.name = name
        self.thread = thread
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.observed = False  # the error reached the user (wait(), a property, an await)
        self.total_bytes = total_bytes
        self.done_bytes = 0

    def on_start(self, phase: str, total_bytes: int, total_files: int) -> None:
        self.done_bytes = 0  # a push may start over (chunks lost before the commit)

    def on_progress(self, nbytes: int) -> None:
        self.done_bytes = min(self.total_bytes, self.done_bytes + nbytes)

    def settle(self, error: BaseException | None) -> None:
        self.error = error
        self.done.set()

    def wait(self, timeout: float | None = None) -> None:
        """Block until settled; re-raise the upload's error.

        Raises:
            TimeoutError: not settled within ``timeout`` seconds (the upload goes on).
            ConfigError: called from the thread whose event loop runs the upload.
        """
        if not self.done.is_set():
            if threading.current_thread() is self.thread:
                raise ConfigError(
                    f"artifact {self.name!r} is still being logged, and waiting for it from "
                    "the event loop that uploads it would deadlock; await run.log_artifact(...)"
                )
            if not self.done.wait(timeout):
                raise TimeoutError(
                    f"artifact {self.name!r} was not committed within {timeout} s "
                    f"({_mib(self.done_bytes)} of {_mib(self.total_bytes)} MiB done); "
                    "the upload goes on: wait() again or let run.finish() wait for it"
                )
        if self.error is not None:
            self.observed = True
            raise self.error


_lock = threading.Lock()
_in_flight: set[PendingUpload] = set()
_hooked = False


def track(pending: PendingUpload) -> None:
    """Make interpreter exit wait until ``pending`` settled.

    Uploads still in flight at exit must finish while the engine's thread pools
    (aiofiles, DNS) still take work. CPython shuts those pools down in
    ``threading._shutdown``, before ``atexit`` hooks run, by calling the hooks
    registered with ``threading._register_atexit`` in reverse order. So the wait
    is registered there, after ``concurrent.futures.thread`` registered its own
    (imported first on purpose), and runs before it: in the main thread, with
    progress on stderr. The ``atexit`` hook then finishes the runs.
    """
    global _hooked
    with _lock:
        _in_flight.add(pending)
        if not _hooked:
            _hooked = True
            import concurrent.futures.thread  # noqa: F401  (its exit hook must come first)

            register = getattr(threading, "_register_atexit", None)
            if register is not None:
                register(wait_in_flight)


def wait_in_flight() -> None:
    """Block until every tracked upload settled, reporting progress on stderr."""
    reported = False
    while True:
        with _lock:
            for p in [p for p in _in_flight if p.done.is_set()]:
                _in_flight.discard(p)
            left = list(_in_flight)
        if not left:
            break
        report(describe(left))
        reported = True
        left[0].done.wait(2.0)
    if reported:
        report("pending uploads settled")


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f}"


def report(line: str) -> None:
    """A status line on stderr (progress while finish() waits, failures)."""
    print(f"asyncart: {line}", file=sys.stderr, flush=True)


def describe(pending: list[PendingUpload]) -> str:
    total = sum(p.total_bytes for p in pending)
    done = sum(p.done_bytes for p in pending)
    return f"waiting for {len(pending)} upload(s) to commit: {_mib(done)} of {_mib(total)} MiB"
