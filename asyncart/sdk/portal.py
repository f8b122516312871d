"""The sync facade's bridge: one daemon thread running one event loop for the whole process.

Every sync method is ``portal().call(async_fn, *args)``. A daemon thread is
used (not a ThreadPoolExecutor worker) so interpreter exit never waits on the
loop; an ``atexit`` hook finishes open runs and closes clients while the loop
still runs.
"""

from __future__ import annotations

import atexit
import contextlib
import sys
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any, TypeVar, overload

import anyio
from anyio.from_thread import BlockingPortal

T = TypeVar("T")

_lock = threading.Lock()
_portal: BlockingPortal | None = None
_thread: threading.Thread | None = None
_exit_hooks: list[Callable[[], Awaitable[None]]] = []
_after_exit: list[Callable[[], None]] = []


def _run_loop(ready: threading.Event, box: list[BlockingPortal]) -> None:
    async def main() -> None:
        async with BlockingPortal() as portal:
            box.append(portal)
            ready.set()
            await portal.sleep_until_stopped()

    anyio.run(main)


def portal() -> BlockingPortal:
    """The process-wide portal, started on first use."""
    global _portal, _thread
    with _lock:
        if _portal is None:
            ready = threading.Event()
            box: list[BlockingPortal] = []
            _thread = threading.Thread(
                target=_run_loop, args=(ready, box), name="asyncart-loop", daemon=True
            )
            _thread.start()
            ready.wait()
            _portal = box[0]
        return _portal


@overload
def call(fn: Callable[..., Awaitable[T]], *args: Any) -> T: ...
@overload
def call(fn: Callable[..., T], *args: Any) -> T: ...
def call(fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(*args)`` on the portal loop (awaited if it is a coroutine function); its result.

    Raises:
        RuntimeError: when called from the portal loop itself (it would deadlock);
            use the async API (``asyncart.aio``) inside coroutines.
    """
    _check_thread()
    return portal().call(fn, *args)


def start_task(fn: Callable[..., Awaitable[T]], *args: Any) -> tuple[Future[T], Any]:
    """Start ``fn(*args, task_status=...)`` as a task on the portal loop; return once it
    called ``task_status.started(value)``: the task's future and that value."""
    _check_thread()
    return portal().start_task(fn, *args)


def _check_thread() -> None:
    if threading.current_thread() is _thread:
        raise RuntimeError(
            "a sync asyncart call was made from asyncart's own event loop; "
            "use the async API (asyncart.aio) inside coroutines"
        )


def loop_thread() -> threading.Thread:
    """The thread running the portal loop (started on first use)."""
    portal()
    assert _thread is not None
    return _thread


def on_exit(hook: Callable[[], Awaitable[None]]) -> None:
    """Register a coroutine function to run on the portal loop at interpreter exit."""
    _exit_hooks.append(hook)


def after_exit(hook: Callable[[], None]) -> None:
    """Register a plain function to run at interpreter exit after the loop stopped
    (after pending uploads settled), whether or not the loop was ever started."""
    _after_exit.append(hook)


def _shutdown() -> None:
    try:
        _stop_loop()
    finally:
        for hook in _after_exit:
            with contextlib.suppress(Exception):
                hook()


def _stop_loop() -> None:
    global _portal
    if _portal is None:
        return
    for hook in reversed(_exit_hooks):
        try:
            _portal.call(hook)
        except Exception as exc:  # at exit, report and keep going
            print(f"asyncart: error at exit: {exc}", file=sys.stderr, flush=True)
    _exit_hooks.clear()
    with contextlib.suppress(Exception):
        _portal.call(_portal.stop)
    if _thread is not None:
        _thread.join(timeout=10)
    _portal = None


atexit.register(_shutdown)
