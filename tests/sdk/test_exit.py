"""Runs left open are finished at interpreter exit, and the process exits promptly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncart

SCRIPT = """
import asyncart
run = asyncart.init(job_type="forgetful")
art = asyncart.Artifact("left-open", type="dataset")
with art.new_file("a.txt") as f:
    f.write("hello")
run.log_artifact(art)
print(run.id)
# no run.finish(): the atexit hook must finish it
"""


def test_open_run_is_finished_at_exit(store: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip()
    art = asyncart.Api().artifact("left-open:latest")
    producer = art.logged_by()
    assert producer is not None and producer.id == run_id
    assert producer.status == "finished"
    assert producer.finished_at is not None
    assert not list(Path.cwd().glob("asyncart-new-*"))
