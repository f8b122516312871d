"""``python -m bench.loop_floor``: what any niced background work costs a training loop here.

The floor under ``bench.training_overhead``: the same pure-Python loop step
(``bench.training_loop_worker.python_step``) and the same ratio (steps/s while a
competitor runs, against the mean of the rates just before and after), with
competitors that are not asyncart, each a separate process at nice +10:

* ``spin``: a Python loop doing nothing for 8 s (CPU only);
* ``hash``: BLAKE3 over a cached 4 GiB file, again and again for 8 s (CPU and memory);
* ``copy``: ``cp`` of that file to a new one, then ``sync`` (page cache and writeback).

If these slow the loop as much as an upload does, what is left is the machine's
(shared cores, memory bandwidth, the kernel's writeback), not the uploader's.
Prints one line per run and the medians; writes nothing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.data import random_file
from bench.training_loop_worker import python_step

GiB = 1 << 30
NICE = 10


def rate(seconds: float) -> float:
    """Steps per second of the loop over ``seconds``."""
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        python_step()
        steps += 1
    return steps / (time.perf_counter() - start)


def competitors(source: Path, scratch: Path) -> dict[str, list[str]]:
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
    }


def ratio_next_to(command: list[str], window: float) -> tuple[float, float]:
    """(loop ratio, competitor seconds) for one run of ``command`` at nice +10."""
    before = rate(window)
    proc = subprocess.Popen(["nice", "-n", str(NICE), *command])
    steps, start = 0, time.perf_counter()
    while proc.poll() is None:
        python_step()
        steps += 1
    during_s = time.perf_counter() - start
    after = rate(window)
    return steps / during_s / ((before + after) / 2), during_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--window", type=float, default=3.0)
    parser.add_argument("--size-gib", type=float, default=4.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="asyncart-loop-floor-") as tmp:
        scratch = Path(tmp)
        source = random_file(scratch / "source.bin", int(args.size_gib * GiB), seed=9)
        subprocess.run(["sync"], check=True)
        ratios: dict[str, list[float]] = {}
        for r in range(args.repeats):
            for name, command in competitors(source, scratch).items():
                ratio, seconds = ratio_next_to(command, args.window)
                ratios.setdefault(name, []).append(ratio)
                line = f"repeat {r + 1}: {name}: {seconds:.1f} s, loop ratio {ratio:.3f}"
                print(line, flush=True)
    for name, values in ratios.items():
        print(
            f"{name}: median loop ratio {statistics.median(values):.2f} "
            f"({min(values):.2f}-{max(values):.2f})"
        )


if __name__ == "__main__":
    main()
