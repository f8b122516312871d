"""Running the ``asyncart`` CLI as the user does: a subprocess of this interpreter."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

#: Seconds after which a CLI run that hangs is killed (and the test fails).
HANG_LIMIT = 120


def run_cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m asyncart ARGS`` to completion with ``env`` over this environment and
    ``stdin`` as its input; its exit code, stdout and stderr (text)."""
    return subprocess.run(
        [sys.executable, "-m", "asyncart", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, **(env or {})},
        timeout=HANG_LIMIT,
    )


def run_in_pty(args: list[str]) -> tuple[int, str]:
    """Run ``args`` with stdin, stdout and stderr on a new pseudo-terminal (120 columns);
    its exit code and everything it wrote to the terminal."""
    primary, secondary = pty.openpty()
    env = dict(os.environ, COLUMNS="120", TERM="xterm")
    proc = subprocess.Popen(args, stdin=secondary, stdout=secondary, stderr=secondary, env=env)
    os.close(secondary)
    chunks = []
    try:
        while True:
            try:
                data = os.read(primary, 65536)
            except OSError:  # EIO once the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(primary)
        proc.wait(timeout=HANG_LIMIT)
    return proc.returncode, b"".join(chunks).decode(errors="replace")
