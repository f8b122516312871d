"""A real ``asyncart server`` subprocess on 127.0.0.1 (OS-chosen port), stopped by the test."""

from __future__ import annotations

import os
import queue
import resource
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

READY_PREFIX = "asyncart server listening on "
#: Start servers that refuse blocking calls on their event loop (set for the client and
#: server suites by ``tests.support.blocking_fixtures``), and fail a test whose server made one.
CHECK_BLOCKING = False
_CHECKED_SERVER = Path(__file__).with_name("checked_server.py")


@dataclass
class LiveServer:
    url: str
    root: Path
    process: subprocess.Popen[str]
    log: list[str]

    def kill(self) -> None:
        """SIGKILL, for crash tests."""
        self.process.kill()
        self.process.wait(timeout=10)


def limit_file_size(limit: int) -> None:
    """In a child before exec: writes past ``limit`` bytes fail (EFBIG) instead of killing it."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the ignored disposition survives exec
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def _pump(stream: object, lines: queue.Queue[str], log: list[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        log.append(line)
        lines.put(line)
    lines.put("")  # EOF: the process closed its output


@contextmanager
def live_server(
    root: Path,
    *,
    extra_env: dict[str, str] | None = None,
    timeout: float = 30,
    max_file_size: int | None = None,
    extra_args: list[str] | None = None,
) -> Iterator[LiveServer]:
    """Start ``python -m asyncart server --root ROOT --port 0 --init``; yield once it listens;
    stop it.

    ``max_file_size`` limits the size of any file the server writes (``RLIMIT_FSIZE``):
    writes past it fail with ``EFBIG``, the way a full disk fails them. ``extra_args`` are
    appended to the command line (e.g. ``--certfile``).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCART_")}
    env.update(extra_env or {})
    checked = CHECK_BLOCKING
    program = [str(_CHECKED_SERVER)] if checked else ["-m", "asyncart"]
    proc = subprocess.Popen(
        [
            sys.executable,
            *program,
            "server",
            "--root",
            str(root),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--init",  # a fresh root is the usual case; an existing store is served as it is
            *(extra_args or []),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        preexec_fn=None if max_file_size is None else lambda: limit_file_size(max_file_size),
    )
    lines: queue.Queue[str] = queue.Queue()
    log: list[str] = []
    pump = threading.Thread(target=_pump, args=(proc.stdout, lines, log), daemon=True)
    pump.start()
    try:
        url = None
        while url is None:
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                raise RuntimeError(
                    f"server did not start within {timeout}s: {''.join(log)}"
                ) from None
            if line == "":
                proc.wait(timeout=10)
                raise RuntimeError(f"server exited early: {''.join(log)}")
            if line.startswith(READY_PREFIX):
                url = line[len(READY_PREFIX) :].split()[0]
            elif proc.poll() is not None:
                raise RuntimeError(f"server exited early: {''.join(log)}")
        yield LiveServer(url, root, proc, log)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        pump.join(timeout=5)
        if proc.stdout:
            proc.stdout.close()
        if checked:  # also after a failure: the blocking call may be its cause
            _fail_on_blocking_calls(log)


def _fail_on_blocking_calls(log: list[str]) -> None:
    """Fail if the server announced a blocking call on its event loop (``checked_server``)."""
    from tests.support.blocking import MARKER

    text = "".join(log)
    if MARKER in text:
        first = text[text.index(MARKER) :]
        raise AssertionError(f"the server made a blocking call on its event loop:\n{first[:4000]}")
