"""The glibc mmap threshold is pinned when the client is imported (``client/memory.py``),
and left alone when the user set it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = "import asyncart.client, asyncart.client.memory as m; print(m._applied)"


def applied(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in {**os.environ, **env}.items() if v},
        check=True,
    )
    return done.stdout.strip()


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not os.confstr("CS_GNU_LIBC_VERSION"),
    reason="the threshold is pinned on glibc only",
)
def test_pinned_on_glibc_unless_the_user_set_it() -> None:
    assert applied({"MALLOC_MMAP_THRESHOLD_": ""}) == "True"
    assert applied({"MALLOC_MMAP_THRESHOLD_": str(4 << 20)}) == "False"
