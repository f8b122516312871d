"""Running the ``asyncart`` CLI as the user does: a subprocess of this interpreter."""

from __future__ import annotations

import os
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
