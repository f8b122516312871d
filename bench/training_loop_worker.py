"""One training-loop measurement in its own process (started by ``bench.training_overhead``).

``python -m bench.training_loop_worker --loop python|numpy|idle --source PATH --size N
--seed S [--window SECONDS] [--snapshot] [--control SECONDS]`` writes ``size`` random
bytes to ``PATH`` (before anything is timed), then:

1. ``before``: steps the loop for ``window`` seconds (``idle``: sleeps as long);
2. ``add_file(policy="immutable")`` + ``run.log_artifact``: the time these calls
   block is the *stall*; then steps the loop until the upload is committed (``idle``:
   ``art.wait()`` alone), which is the *during* window and the upload's time;
3. ``after``: steps the loop for ``window`` seconds again;
4. with ``--snapshot``: times ``add_file(policy="mutable")`` of the same file (the
   snapshot copy, or reflink) and discards it.

With ``--control SECONDS`` step 2 logs nothing: the loop steps for ``SECONDS`` as its
*during* window. That is the noise floor of the ratio: what three adjacent windows of
the same loop differ by on this machine when nothing else happens.

The store and the engine's settings come from ``ASYNCART_*`` in the environment. Prints
one JSON line with its figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import asyncart
from bench.data import random_file

Step = Callable[[], object]

#: Iterations of the pure-Python step: about 0.5 ms on this machine's cores.
PYTHON_ITERATIONS = 15_000
#: Matrix products per numpy step (128 x 128 float32, single-threaded BLAS).
NUMPY_PRODUCTS = 8


def python_step() -> int:
    """Pure-Python arithmetic holding the GIL throughout: the worst case for an uploader."""
    total = 0
    for i in range(PYTHON_ITERATIONS):
        total += i * i % 7
    return total


def numpy_step_factory(seed: int = 0) -> Step:
    """Small single-threaded numpy work (BLAS releases the GIL) and a little Python."""
    rng = np.random.default_rng(seed)
    x0 = rng.standard_normal((128, 128), dtype=np.float32)
    w = (rng.standard_normal((128, 128), dtype=np.float32) * 0.05).astype(np.float32)
    state = {"loss": 0.0, "step": 0}

    def step() -> float:
        x = x0
        for _ in range(NUMPY_PRODUCTS):
            x = np.tanh(x @ w)
        loss = float(x.sum())
        state["loss"] = 0.9 * state["loss"] + 0.1 * loss  # bookkeeping, as a loop does
        state["step"] += 1
        return loss

    return step


def make_step(loop: str) -> Step | None:
    if loop == "python":
        return python_step
    if loop == "numpy":
        return numpy_step_factory()
    if loop == "idle":
        return None
    raise SystemExit(f"unknown loop {loop!r}")


def step_for(step: Step | None, seconds: float) -> tuple[int, float]:
    """Step for ``seconds`` (sleep when there is no loop); (steps, elapsed seconds)."""
    start = time.perf_counter()
    if step is None:
        time.sleep(seconds)
        return 0, time.perf_counter() - start
    steps = 0
    while True:
        step()
        steps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return steps, elapsed


def write_source(path: Path, size: int, seed: int) -> float:
    """Write the checkpoint stand-in and flush it to disk (writeback would skew timing)."""
    start = time.perf_counter()
    random_file(path, size, seed)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return time.perf_counter() - start


def upload_while_stepping(
    run: asyncart.Run, source: Path, step: Step | None, name: str
) -> dict[str, Any]:
    """Log ``source`` in the background; step until committed. The during-window figures."""
    art = asyncart.Artifact(type="model", name=name)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    art.add_file(source, name="model.bin", policy="immutable")
    run.log_artifact(art)
    t1 = time.perf_counter()
    steps = 0
    if step is None:
        art.wait()
    else:
        while art.is_logging:
            step()
            steps += 1
    t2 = time.perf_counter()
    cpu = time.process_time() - cpu0
    art.wait()  # re-raises the upload's error
    stats = art.last_transfer
    return {
        "stall_s": t1 - t0,
        "upload_s": t2 - t0,
        "during_steps": steps,
        "during_window_s": t2 - t1,
        "during_steps_s": steps / (t2 - t1) if step is not None and t2 > t1 else None,
        "process_cpu_during_s": cpu,
        "version": art.version,
        "bytes_uploaded": stats.bytes_uploaded if stats else None,
    }


def snapshot_stall(source: Path) -> float:
    """Seconds ``add_file(policy="mutable")`` blocks on ``source``; the snapshot is removed."""
    art = asyncart.Artifact(type="model", name="snapshot-probe")
    start = time.perf_counter()
    art.add_file(source, name="model.bin", policy="mutable")
    seconds = time.perf_counter() - start
    art.remove("model.bin")
    return seconds


def measure(args: argparse.Namespace) -> dict[str, Any]:
    source: Path = args.source
    out: dict[str, Any] = {
        "loop": args.loop,
        "size": args.size,
        "seed": args.seed,
        "window_s": args.window,
        "push_worker": os.environ.get("ASYNCART_PUSH_WORKER"),
        "store": "server" if os.environ.get("ASYNCART_URL") else "embedded",
    }
    out["write_s"] = write_source(source, args.size, args.seed)
    step = make_step(args.loop)
    run = asyncart.init(job_type="train")
    if step is not None:
        step()  # warm up (numpy's first product, code paths)
    steps, elapsed = step_for(step, args.window)
    out["before_steps_s"] = steps / elapsed if step is not None else None
    if args.control is None:
        out.update(upload_while_stepping(run, source, step, f"ckpt-{args.seed}"))
    else:
        steps, elapsed = step_for(step, args.control)
        out["during_window_s"] = elapsed
        out["during_steps_s"] = steps / elapsed if step is not None else None
    steps, elapsed = step_for(step, args.window)
    out["after_steps_s"] = steps / elapsed if step is not None else None
    run.finish()
    if args.control is None:
        out["upload_mb_s"] = args.size / out["upload_s"] / 1e6
    if step is not None:
        base = (out["before_steps_s"] + out["after_steps_s"]) / 2
        out["ratio"] = out["during_steps_s"] / base if out["during_steps_s"] else None
        # What the upload cost the loop in all: seconds of its stepping lost.
        out["loop_s_lost"] = (1 - out["ratio"]) * out["during_window_s"] if out["ratio"] else None
    if args.snapshot:
        out["snapshot_stall_s"] = snapshot_stall(source)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop", choices=("python", "numpy", "idle"), required=True)
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--size", type=int, required=True, help="bytes")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--window", type=float, default=4.0, help="seconds before and after")
    parser.add_argument("--snapshot", action="store_true", help="also time a mutable add_file")
    parser.add_argument(
        "--control", type=float, metavar="SECONDS", help="log nothing: step this long instead"
    )
    args = parser.parse_args()
    result = measure(args)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
