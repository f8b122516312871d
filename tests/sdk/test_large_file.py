"""A file larger than 1 GiB round-trips with client memory far below its size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import blake3
import pytest

SIZE = (1 << 30) + 12_345  # just over 1 GiB, not a multiple of any block size
MEMORY_LIMIT = 320 << 20  # far below the file size; the engine's bound is ~concurrency x pack size
# (measured here: about 200-260 MiB peak including the interpreter's ~60 MiB)

CLIENT = """
import json, sys, time
import asyncart

def peak_rss():
    # VmHWM, not getrusage: ru_maxrss survives exec and starts at the parent's RSS at fork.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
src, out = sys.argv[1], sys.argv[2]
with asyncart.init(job_type="big") as run:
    art = asyncart.Artifact("checkpoint", type="model")
    art.add_file(src, name="model.bin")
    t0 = time.perf_counter()
    run.log_artifact(art, wait=True)
    t1 = time.perf_counter()
    push_rss = peak_rss()
    path = run.use_artifact("checkpoint:latest").download(out)
    t2 = time.perf_counter()
print(json.dumps({
    "version": art.version, "digest": art.digest, "path": path,
    "uploaded": art.last_transfer.bytes_uploaded,
    "max_rss": peak_rss(),
    "push_rss": push_rss, "retries": run._async.client._remote.counters.retry.retries
        if hasattr(run._async.client._remote, "counters") else None,
    "push_s": t1 - t0, "pull_s": t2 - t1,
}))
"""


def _write_random(path: Path, size: int) -> str:
    h = blake3.blake3()
    with open(path, "wb") as f:
        left = size
        while left:
            piece = os.urandom(min(left, 64 << 20))  # fresh bytes: nothing dedups
            f.write(piece)
            h.update(piece)
            left -= len(piece)
    return h.hexdigest()


@pytest.mark.slow
def test_push_pull_over_1gib_with_bounded_memory(store: str, tmp_path: Path) -> None:
    src = tmp_path / "model.bin"
    digest = _write_random(src, SIZE)
    out = tmp_path / "pulled"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", CLIENT, str(src), str(out)],
            capture_output=True,
            text=True,
            timeout=600,
            env=dict(os.environ),
        )
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)
        assert result["version"] == "v0"
        assert result["uploaded"] == SIZE
        pulled = out / "model.bin"
        assert pulled.stat().st_size == SIZE
        hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
        assert hasher.update_mmap(pulled).hexdigest() == digest
        assert result["max_rss"] < MEMORY_LIMIT, (
            f"peak client RSS {result['max_rss'] >> 20} MiB (after push "
            f"{result['push_rss'] >> 20} MiB, retries {result['retries']})"
        )
        assert not list(out.glob("*.asyncart-part"))
        print(f"\n{store}: push {SIZE / result['push_s'] / 1e6:.0f} MB/s, "
              f"pull {SIZE / result['pull_s'] / 1e6:.0f} MB/s, "
              f"peak RSS {result['max_rss'] >> 20} MiB")
    finally:
        for p in (src, out / "model.bin"):
            p.unlink(missing_ok=True)
