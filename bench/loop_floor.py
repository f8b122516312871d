"""``python -m bench.loop_floor``: what any niced background work costs a training loop here.

The floor under ``bench.training_overhead``: the same pure-Python loop step
(``bench.training_loop_worker.python_step``) and the same ratio (steps/s while a
competitor runs, against the mean of the rates just before and after), with
competitors, each a separate process at ``--nice`` (19 by default, the push
worker's level):

* ``spin``: a Python loop doing nothing for 8 s (CPU only);
* ``hash``: BLAKE3 over a cached 4 GiB file, again and again for 8 s (CPU and memory);
* ``copy``: ``cp`` of that file to a new one, then ``sync`` (page cache and writeback);
* ``push``: ``asyncart push`` of that file into a fresh embedded store, a process of
  its own that shares nothing with the loop's: the upload the push worker does,
  without the loop's process on the other end of a pipe.

If the first three slow the loop as much as an upload does, what is left is the
machine's (shared cores, memory bandwidth, the kernel's writeback), not the
uploader's; if ``push`` slows it as much as a background log does
(``bench.training_overhead``), the loop's own process adds nothing.
Prints one line per run and the medians; writes nothing.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.data import random_file
from bench.training_loop_worker import python_step

GiB = 1 << 30


def rate(seconds: float) -> float:
    """Steps per second of the loop over ``seconds``."""
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        python_step()
        steps += 1
    return steps / (time.perf_counter() - start)


def competitors(source: Path, scratch: Path, store: Path) -> dict[str, list[str]]:
    py = sys.executable
    hash_loop = (
        "import blake3, sys, time\n"
        "end = time.time() + 8\n"
        "while time.time() < end:\n"
        "    h = blake3.blake3()\n"
        "    with open(sys.argv[1], 'rb') as f:\n"
        "        while block := f.read(8 << 20):\n"
        "            h.update(block)\n"
    )
    copy = scratch / "copy.bin"
    return {
        "spin": [py, "-c", "import time\nend = time.time() + 8\nwhile time.time() < end: pass"],
        "hash": [py, "-c", hash_loop, str(source)],
        "copy": ["sh", "-c", f'cp "{source}" "{copy}" && sync && rm -f "{copy}"'],
        "push": [
            *("env", f"ASYNCART_DIR={store}", f"ASYNCART_CACHE_DIR={store}-cache"),
            *("ASYNCART_HASH_CACHE=0", py, "-m", "asyncart", "push", str(source)),
            *("--name", "floor", "--type", "model"),
        ],
    }


def ratio_next_to(command: list[str], window: float, nice: int) -> tuple[float, float]:
    """(loop ratio, competitor seconds) for one run of ``command`` at ``nice``."""
    before = rate(window)
    with subprocess.Popen(["nice", "-n", str(nice), *command], stdout=subprocess.DEVNULL) as proc:
        steps, start = 0, time.perf_counter()
        while proc.poll() is None:
            python_step()
            steps += 1
    if proc.returncode:
        raise SystemExit(f"{command} failed with code {proc.returncode}")
    during_s = time.perf_counter() - start
    after = rate(window)
    return steps / during_s / ((before + after) / 2), during_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--window", type=float, default=3.0)
    parser.add_argument("--size-gib", type=float, default=4.0)
    parser.add_argument("--nice", type=int, default=19, help="the competitors' nice level")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="asyncart-loop-floor-") as tmp:
        scratch = Path(tmp)
        source = random_file(scratch / "source.bin", int(args.size_gib * GiB), seed=9)
        subprocess.run(["sync"], check=True)
        ratios: dict[str, list[float]] = {}
        for r in range(args.repeats):
            store = scratch / f"store-{r}"
            for name, command in competitors(source, scratch, store).items():
                ratio, seconds = ratio_next_to(command, args.window, args.nice)
                ratios.setdefault(name, []).append(ratio)
                line = f"repeat {r + 1}: {name}: {seconds:.1f} s, loop ratio {ratio:.3f}"
                print(line, flush=True)
            shutil.rmtree(store, ignore_errors=True)
            shutil.rmtree(f"{store}-cache", ignore_errors=True)
            subprocess.run(["sync"], check=True)
    for name, values in ratios.items():
        print(
            f"{name}: median loop ratio {statistics.median(values):.2f} "
            f"({min(values):.2f}-{max(values):.2f})"
        )


if __name__ == "__main__":
    main()
