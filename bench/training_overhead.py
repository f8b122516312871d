"""``python -m bench.training_overhead``: what a background upload costs a training loop.

A CPU-bound training loop logs a large checkpoint (default 4 GiB of random bytes) with
the non-blocking ``run.log_artifact`` and keeps stepping while the upload runs. Each
measurement is a fresh trainer process (``bench.training_loop_worker``) with a fresh
engine and a fresh, empty store; it writes its own source file (a new seed each time,
so nothing dedups; flushed to disk but still in the page cache, like a checkpoint just
written) before anything is timed, then records:

* **steps/s before, during, after**: the loop's rate for a fixed window before the
  upload, while it is in flight, and for the same window after it committed.
  **ratio** = during / mean(before, after): 1.0 means the upload costs the loop
  nothing, 0.5 that the loop ran at half speed while it lasted;
* **stall**: how long ``add_file(policy="immutable")`` + ``log_artifact`` blocked;
* **upload s**: from ``add_file`` until the loop saw the version committed.

Loops (``--loops``): ``python`` is pure-Python arithmetic holding the GIL (~0.5 ms a
step), the worst case for an uploader sharing the process; ``numpy`` is a few
128 x 128 float32 products a step with one BLAS thread (``OMP/OPENBLAS/MKL_NUM_THREADS
=1``), a single-core loop that leaves the other core free. An ``idle`` trainer does the
same upload with no loop (it sleeps through the windows, then ``art.wait()``):
**upload slowdown** = upload s with the loop / upload s idle, same store and push-worker
mode, same repeat. Once per repeat the idle trainer also times
``add_file(policy="mutable")`` on its (cached) file of the same size: the snapshot
copy (a reflink where the file system has them) that the default policy costs.

Stores (``--stores``): ``embedded`` (a fresh ``ASYNCART_DIR``) and ``server`` (a fresh
``asyncart server`` on a fresh root on 127.0.0.1, ``ASYNCART_URL``). A server is
started per measurement rather than per repeat so that at most one source and one store
(4 GiB each by default) exist at a time and every upload meets an empty store. The
server is a process on the same machine: it shares the cores with the loop, so the
server rows include its CPU competing with the loop (its CPU seconds are recorded).
``server-niced`` runs that server at nice 19, so it mostly gets the CPU the loop leaves:
the nearest this one machine comes to a server elsewhere, where the training machine
pays only the client's side.

A ``control`` row per loop (``--control-window``, seconds; 0 leaves it out) logs
nothing: the trainer steps through a *during* window of that length as well. Its
ratio is what adjacent windows of the same loop differ by on this machine with no
upload at all, the noise every other row's ratio carries. **loop s lost** = (1 -
ratio) x during window: the seconds of stepping a whole upload cost the loop.

Push-worker modes (``--push-worker``): ``ASYNCART_PUSH_WORKER`` in the trainer's
environment, ``never`` (the upload runs in the training process) or ``auto`` (large
background uploads go to a low-priority worker process, where the engine supports it;
otherwise both behave alike). Recorded per measurement.

On a shared, noisy 2-core machine absolute figures drift: read the ratios. Within each
repeat the configurations run interleaved, in reverse order every other repeat, and each
figure is the median over repeats (with min-max). Writes
``bench/results/training-overhead-<date>.json`` (every measurement, medians, machine
info) and prints a Markdown table (:func:`format_table`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import asyncart
from bench.cases import _server
from bench.measure import python_module, service

ROOT = Path(__file__).resolve().parent.parent
GiB = 1 << 30
LOOPS = ("python", "numpy")
STORES = ("embedded", "server", "server-niced")
#: ``server-niced``: the server at this nice level, a stand-in for a server on another machine.
SERVER_NICE = 19
MODES = ("never", "auto")
#: The store of the rows that log nothing (the ratio's noise floor).
CONTROL = "control"
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class Config:
    """One configuration: where the upload goes, how, and which loop runs meanwhile."""

    store: str
    loop: str  # "python", "numpy" or "idle"
    push_worker: str


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def plan(
    stores: Sequence[str], loops: Sequence[str], modes: Sequence[str], control: bool = False
) -> list[Config]:
    """Every configuration of one repeat, with an idle trainer per store and mode."""
    configs = [
        Config(store, loop, mode) for store in stores for mode in modes for loop in (*loops, "idle")
    ]
    if control:
        configs += [Config(CONTROL, loop, "-") for loop in loops]
    return configs


def repeat_order(configs: list[Config], repeat: int) -> list[Config]:
    """Interleaved: the plan's order on even repeats, reversed on odd ones."""
    return configs if repeat % 2 == 0 else configs[::-1]


def trainer_env(config: Config, work: Path, store: dict[str, str]) -> dict[str, str]:
    """os.environ without any ASYNCART_* of its own, plus this measurement's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCART_")}
    env.update({var: "1" for var in THREAD_VARS})
    env.update(
        {
            "ASYNCART_CACHE_DIR": str(work / "cache"),
            "ASYNCART_HASH_CACHE": "0",
            # A control logs nothing: any valid mode will do.
            "ASYNCART_PUSH_WORKER": "never" if config.store == CONTROL else config.push_worker,
            **store,
        }
    )
    return env


def run_trainer(args: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run the trainer to completion (killed on timeout); its JSON line."""
    proc = subprocess.run(
        python_module("bench.training_loop_worker", *args),
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"trainer {args} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@contextmanager
def store_for(config: Config, work: Path) -> Iterator[tuple[dict[str, str], Any]]:
    """The trainer's store settings and the server (None for the embedded store)."""
    if config.store in ("embedded", CONTROL):
        yield {"ASYNCART_DIR": str(work / "store")}, None
        return
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCART_")}
    if config.store == "server":
        with _server(work / "server-store", clean) as srv:
            yield {"ASYNCART_URL": srv.url}, srv
        return
    command = python_module(
        "asyncart", "server", "--root", str(work / "server-store"), "--host", "127.0.0.1",
        "--port", "0",
    )  # fmt: skip
    niced = ["nice", "-n", str(SERVER_NICE), *command]
    with service(niced, ready="asyncart server listening on", env=clean) as srv:
        yield {"ASYNCART_URL": srv.url}, srv


def measure(
    config: Config,
    scratch: Path,
    size: int,
    seed: int,
    window: float,
    snapshot: bool,
    control_window: float = 0.0,
) -> dict[str, Any]:
    """One trainer run in its own work directory, removed afterwards."""
    work = scratch / f"m-{seed}"
    work.mkdir()
    args = [
        "--loop", config.loop,
        "--source", str(work / "model.bin"),
        "--size", str(size),
        "--seed", str(seed),
        "--window", str(window),
    ]  # fmt: skip
    if snapshot:
        args.append("--snapshot")
    if config.store == CONTROL:
        args += ["--control", str(control_window)]
    timeout = 600 + 2 * window + size / 1e6  # >= 1 MB/s; never hit in practice
    try:
        with store_for(config, work) as (store, srv):
            env = trainer_env(config, work, store)
            cpu_before = srv.begin() if srv is not None else 0.0
            start = time.perf_counter()
            result = run_trainer(args, env, timeout)
            result["trainer_wall_s"] = time.perf_counter() - start
            result["server_cpu_s"] = srv.end(cpu_before)[0] if srv is not None else None
    finally:
        shutil.rmtree(work, ignore_errors=True)
        os.sync()  # the next measurement does not pay for this one's writeback
    result.update(store=config.store, loop=config.loop, push_worker=config.push_worker)
    return result


def stat(values: Sequence[float | None]) -> dict[str, Any]:
    """Median, min and max of the values present."""
    present = [v for v in values if v is not None]
    if not present:
        return {"median": None, "min": None, "max": None, "values": list(values)}
    return {
        "median": statistics.median(present),
        "min": min(present),
        "max": max(present),
        "values": list(values),
    }


def _pick(measurements: list[dict[str, Any]], config: Config, repeat: int) -> dict[str, Any]:
    return next(
        m
        for m in measurements
        if m["repeat"] == repeat
        and (m["store"], m["loop"], m["push_worker"])
        == (config.store, config.loop, config.push_worker)
    )


_LOOP_FIGURES = ("before_steps_s", "during_steps_s", "after_steps_s", "ratio", "loop_s_lost")


def _div(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def summarize(
    measurements: list[dict[str, Any]], configs: list[Config], repeats: int
) -> list[dict[str, Any]]:
    """One row per store x loop x push-worker: per-repeat figures and their medians."""
    rows = []
    for config in configs:
        if config.loop == "idle":
            continue
        runs = [_pick(measurements, config, r) for r in range(repeats)]
        if config.store == CONTROL:
            rows.append(
                {
                    "store": config.store,
                    "loop": config.loop,
                    "push_worker": config.push_worker,
                    **{k: stat([m[k] for m in runs]) for k in _LOOP_FIGURES},
                }
            )
            continue
        idle = Config(config.store, "idle", config.push_worker)
        idles = [_pick(measurements, idle, r) for r in range(repeats)]
        rows.append(
            {
                "store": config.store,
                "loop": config.loop,
                "push_worker": config.push_worker,
                **{k: stat([m.get(k) for m in runs]) for k in _LOOP_FIGURES},
                "upload_s": stat([m["upload_s"] for m in runs]),
                "upload_mb_s": stat([m["upload_mb_s"] for m in runs]),
                "upload_idle_s": stat([m["upload_s"] for m in idles]),
                "upload_idle_mb_s": stat([m["upload_mb_s"] for m in idles]),
                "upload_slowdown": stat(
                    [_div(m["upload_s"], i["upload_s"]) for m, i in zip(runs, idles, strict=True)]
                ),
                "stall_ms": stat([m["stall_s"] * 1e3 for m in runs]),
                "stall_idle_ms": stat([m["stall_s"] * 1e3 for m in idles]),
            }
        )
    return rows


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else f"{value:{spec}}"


def _range(s: dict[str, Any], spec: str) -> str:
    """``median (min-max)``."""
    if s["median"] is None:
        return "-"
    return f"{s['median']:{spec}} ({s['min']:{spec}}-{s['max']:{spec}})"


def _median(row: dict[str, Any], key: str) -> float | None:
    """A row's median of ``key``; None where the row (an older run, a control) has none."""
    return row[key]["median"] if key in row else None


def format_table(results: dict[str, Any]) -> str:
    """The Markdown table of a results dict (as written to the JSON file)."""
    params = results["params"]
    lines = [
        f"Upload of {params['size'] / GiB:g} GiB during a training loop; medians over "
        f"{params['repeats']} repeats (min-max); ratio = during / mean(before, after); "
        "upload slowdown = upload s with loop / upload s idle.",
        "",
        "| store | loop | push worker | steps/s before | steps/s during | steps/s after "
        "| ratio | loop s lost | upload s (loop) | upload s (idle) | upload slowdown "
        "| log_artifact stall ms |",
        "|---|---|---|---:|---:|---:|---|---:|---:|---:|---|---:|",
    ]
    for row in results["rows"]:
        lines.append(
            f"| {row['store']} | {row['loop']} | {row['push_worker']} "
            f"| {_fmt(row['before_steps_s']['median'], '.0f')} "
            f"| {_fmt(row['during_steps_s']['median'], '.0f')} "
            f"| {_fmt(row['after_steps_s']['median'], '.0f')} "
            f"| {_range(row['ratio'], '.2f')} "
            f"| {_fmt(_median(row, 'loop_s_lost'), '.2f')} "
            f"| {_fmt(_median(row, 'upload_s'), '.1f')} "
            f"| {_fmt(_median(row, 'upload_idle_s'), '.1f')} "
            f"| {_range(row['upload_slowdown'], '.2f') if 'upload_slowdown' in row else '-'} "
            f"| {_fmt(_median(row, 'stall_ms'), '.1f')} |"
        )
    snap = results["snapshot_stall_s"]
    lines += [
        "",
        f'Snapshot stall (`add_file(policy="mutable")` of {params["size"] / GiB:g} GiB, '
        f"cached): {_range(snap, '.2f')} s.",
    ]
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "asyncart": asyncart.__version__,
        "gil_switch_interval_s": sys.getswitchinterval(),
        "load_avg_start": os.getloadavg(),
    }


def _names(text: str, allowed: Sequence[str]) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    wrong = [n for n in names if n not in allowed]
    if wrong or not names:
        raise argparse.ArgumentTypeError(f"use some of {', '.join(allowed)}; not {text!r}")
    return names


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size-gib", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--window", type=float, default=4.0, help="seconds before and after")
    parser.add_argument("--loops", type=lambda t: _names(t, LOOPS), default=list(LOOPS))
    parser.add_argument("--stores", type=lambda t: _names(t, STORES), default=list(STORES))
    parser.add_argument("--push-worker", type=lambda t: _names(t, MODES), default=list(MODES))
    parser.add_argument(
        "--control-window",
        type=float,
        default=6.0,
        help="seconds of the control rows' during window (0: no control rows)",
    )
    parser.add_argument("--scratch", type=Path, help="parent of the work directory")
    parser.add_argument("--out", type=Path)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    size = int(args.size_gib * GiB)
    configs = plan(args.stores, args.loops, args.push_worker, args.control_window > 0)
    info = machine()
    measurements: list[dict[str, Any]] = []
    seed = 1000
    with tempfile.TemporaryDirectory(prefix="asyncart-train-bench-", dir=args.scratch) as tmp:
        for r in range(args.repeats):
            snapshot_done = False
            for i, config in enumerate(repeat_order(configs, r)):
                seed += 1
                snapshot = config.loop == "idle" and not snapshot_done
                snapshot_done = snapshot_done or snapshot
                log(f"repeat {r + 1}/{args.repeats}: {config}")
                result = measure(
                    config, Path(tmp), size, seed, args.window, snapshot, args.control_window
                )
                result.update(repeat=r, position=i)
                measurements.append(result)
    snapshots = [m["snapshot_stall_s"] for m in measurements if "snapshot_stall_s" in m]
    date = datetime.date.today().isoformat()
    given = list(sys.argv[1:] if argv is None else argv)
    results: dict[str, Any] = {
        "date": date,
        "command": " ".join(["python -m bench.training_overhead", *given]),
        "machine": info,
        "params": {
            "size": size,
            "repeats": args.repeats,
            "window_s": args.window,
            "loops": args.loops,
            "stores": args.stores,
            "push_worker": args.push_worker,
            "control_window_s": args.control_window,
        },
        "rows": summarize(measurements, configs, args.repeats),
        "snapshot_stall_s": stat(snapshots),
        "measurements": measurements,
    }
    info["load_avg_end"] = os.getloadavg()
    out = args.out or ROOT / "bench" / "results" / f"training-overhead-{date}.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(format_table(results))
    log(f"written {out}")


if __name__ == "__main__":
    main()
