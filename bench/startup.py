"""``python -m bench.startup --against REV``: the start-up of everyday commands, this
checkout against another commit, in alternating pairs.

A command's start-up (imports, mostly) is paid on every ``asyncart`` run, and it is most
of a small command's time. Each pair runs the same command once with the other commit's
code and once with this checkout's, in alternating order, on embedded stores filled the
same way: ``asyncart ls``, ``asyncart pull`` of a one-file version, ``asyncart push`` of
a small file that is new each time. Both trees are byte-compiled first, as an
installed package is (``bench/bytecode.py``). Prints every time, then per command the
two medians and the median of the per-pair ratios (this ÷ other); writes nothing.
"""

from __future__ import annotations

import argparse
import compileall
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.ab_pairs import REPO, print_pairs, worktree


def timed(src: Path, work: Path, store: Path, args: list[str]) -> float:
    """Seconds of ``python -m asyncart ARGS`` with the package of ``src`` (it must succeed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCART_")}
    env.update(PYTHONPATH=str(src), ASYNCART_DIR=str(store))
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "asyncart", *args],
        cwd=work,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, help="the commit to compare with")
    parser.add_argument("--pairs", type=int, default=7)
    opts = parser.parse_args(argv)
    with worktree(opts.against) as other, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        trees = {"other": other, "this": REPO}
        for tree in trees.values():
            compileall.compile_dir(tree / "asyncart", quiet=2)
        (work / "w.bin").write_bytes(b"weights\n" * 512)
        for name, tree in trees.items():
            timed(tree, work, work / f"store-{name}", ["push", "w.bin", "-n", "m", "-t", "model"])
        times: dict[tuple[str, str], list[float]] = {}
        for i in range(opts.pairs):
            order = list(trees.items()) if i % 2 == 0 else list(trees.items())[::-1]
            for name, tree in order:
                store = work / f"store-{name}"
                new_file = work / f"new-{name}-{i}.bin"
                new_file.write_bytes(f"{name} {i}\n".encode() * 512)
                commands = {
                    "ls": ["ls"],
                    "pull": ["pull", "m:latest", "-o", str(work / f"out-{name}-{i}")],
                    "push": ["push", new_file.name, "-n", f"m{i}", "-t", "model"],
                }
                for command, args in commands.items():
                    took = timed(tree, work, store, args)
                    times.setdefault((command, name), []).append(took)
                    print(f"pair {i} {name:5} {command:4} {took:.3f} s", flush=True)
        print_pairs(opts.against, opts.pairs, times, ("ls", "pull", "push"), digits=3)


if __name__ == "__main__":
    main()
