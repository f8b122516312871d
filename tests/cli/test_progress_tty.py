"""On a terminal, push and pull show a progress bar with bytes, throughput and ETA."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.cli import run_in_pty


def test_push_and_pull_show_progress_on_a_terminal(tmp_path: Path) -> None:
    data = tmp_path / "blob.bin"
    data.write_bytes(os.urandom(96 << 20))  # several packs: several progress updates
    cli = [sys.executable, "-m", "asyncart"]
    code, out = run_in_pty([*cli, "push", str(data), "--name", "blob", "--type", "dataset"])
    assert code == 0, out
    assert "push 1 file" in out and "file(s)" not in out
    assert "96.0 MiB of 96.0 MiB" in out  # bytes done of total
    assert "MiB/s" in out or "GiB/s" in out  # throughput, in the sizes' (binary) units
    code, out = run_in_pty([*cli, "pull", "blob", "-o", str(tmp_path / "out")])
    assert code == 0, out
    assert "pull 1 file" in out and "file(s)" not in out
    assert (tmp_path / "out" / "blob.bin").read_bytes() == data.read_bytes()


def test_no_progress_bar_when_output_is_not_a_terminal(tmp_path: Path) -> None:
    data = tmp_path / "blob.bin"
    data.write_bytes(b"x" * 1000)
    proc = subprocess.run(
        [sys.executable, "-m", "asyncart", "push", str(data),
         "--name", "blob", "--type", "dataset"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "created" in proc.stdout and "━" not in proc.stdout and "file(s)" not in proc.stdout
    assert proc.stderr == ""
