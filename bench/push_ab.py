"""``python -m bench.push_ab FILE --against REV``: a cold CLI push to a local server, this
checkout against another commit, in alternating pairs.

What a change to the push path does to the figures users see, measured the only way
this shared VM allows (its kernel costs drift 2x within an hour): each pair pushes FILE
once with the other commit's code and once with this checkout's (client and server
both), in alternating order, each to a new server on a new store on 127.0.0.1. Both
trees are byte-compiled first (``bench/bytecode.py``). For every push it prints the
wall time, the client's CPU (from ``wait4``) and the server's (``psutil``, read
before it is stopped); then per figure the two medians and the median of the per-pair
ratios (this / other). Writes nothing.
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
from bench.measure import cpu_seconds, service


def _env(src: Path, work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCART_")}
    env.update(
        PYTHONPATH=str(src),
        ASYNCART_HASH_CACHE="0",
        ASYNCART_CACHE_DIR=str(work / "cache"),
        ASYNCART_CONFIG_DIR=str(work / "config"),
    )
    return env


def push_once(src: Path, source: Path, work: Path) -> dict[str, float]:
    """One cold push of ``source`` with the code of ``src``: wall and both CPUs."""
    env = _env(src, work)
    serve = ["server", "--root", str(work / "store"), "--init", "--host", "127.0.0.1"]
    with service(
        [sys.executable, "-m", "asyncart", *serve, "--port", "0"],
        ready="asyncart server listening on",
        env=env,
        cwd=work,
    ) as server:
        push = ["push", str(source), "-n", "ab", "-t", "bench", "--url", server.url]
        start = time.perf_counter()
        client = subprocess.Popen(
            [sys.executable, "-m", "asyncart", *push],
            env=env,
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(client.pid, 0)
        wall = time.perf_counter() - start
        client.returncode = os.waitstatus_to_exitcode(status)
        if client.returncode != 0:
            raise RuntimeError(f"asyncart push failed with status {client.returncode}")
        return {
            "wall": wall,
            "client_cpu": usage.ru_utime + usage.ru_stime,
            "server_cpu": cpu_seconds(server.pid),
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="the file to push (e.g. 2 GiB of random bytes)")
    parser.add_argument("--against", required=True, help="the commit to compare with")
    parser.add_argument("--pairs", type=int, default=5)
    opts = parser.parse_args(argv)
    source = opts.file.resolve()
    with worktree(opts.against) as other, tempfile.TemporaryDirectory() as tmp:
        trees = {"other": other, "this": REPO}
        for tree in trees.values():
            compileall.compile_dir(tree / "asyncart", quiet=2)
        figures: dict[tuple[str, str], list[float]] = {}
        for i in range(opts.pairs):
            order = list(trees.items()) if i % 2 == 0 else list(trees.items())[::-1]
            for name, tree in order:
                work = Path(tmp) / f"{name}-{i}"
                work.mkdir()
                got = push_once(tree, source, work)
                subprocess.run(["rm", "-rf", str(work)], check=True)
                for key, value in got.items():
                    figures.setdefault((key, name), []).append(value)
                print(
                    f"pair {i} {name:5} wall {got['wall']:.2f} s, client CPU "
                    f"{got['client_cpu']:.2f} s, server CPU {got['server_cpu']:.2f} s",
                    flush=True,
                )
        keys = ("wall", "client_cpu", "server_cpu")
        print_pairs(opts.against, opts.pairs, figures, keys)


if __name__ == "__main__":
    main()
