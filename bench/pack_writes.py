"""``python -m bench.pack_writes``: the cost of writing packs to a directory store.

The filesystem blob store writes each pack with O_DIRECT through a reused aligned
buffer (``asyncart/repo/blobstores/direct_write.py``); ``direct_io=False`` is the
page-cache path it replaced (``writev`` of the received pieces). Each trial writes
``--size-gib`` of incompressible packs of ``--pack-mib`` through
``FilesystemBlobStore.put_stream``, ``--concurrency`` at a time (as uploads arrive),
fsync and rename included, into a fresh store, and records:

* **wall s**: from the first byte to the last pack renamed;
* **CPU s (user, sys)**: this process's, all threads (``getrusage``); the kernel's
  copy into page-cache pages is *sys* time of the writer;
* **page cache after**: how many of the store's bytes the kernel still holds, by
  ``fincore`` (what the write pushed out of everyone else's cache).

The two modes alternate within every repeat (direct first on odd repeats), the store
is removed and ``sync`` run between trials, and each figure is the median over
repeats; **ratio** = direct / page cache of the same repeat. Writes
``bench/results/pack-writes-<date>.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import numpy as np

from asyncart.repo.blobstores.filesystem import FilesystemBlobStore

ROOT = Path(__file__).resolve().parent.parent
MiB = 1 << 20
GiB = 1 << 30
#: Size of the pieces a pack body arrives in (what the server's reader hands the store).
PIECE = 256 << 10
MODES = ("page cache", "direct")


def _resident(root: Path) -> int | None:
    """Bytes of the files under ``root`` held in the page cache (None without fincore)."""
    files = [str(p) for p in root.rglob("*") if p.is_file()]
    if not files or shutil.which("fincore") is None:
        return None
    out = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES", *files],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sum(int(line) for line in out.split())


async def _write_packs(store: FilesystemBlobStore, packs: list[bytes], concurrency: int) -> None:
    async def body(data: bytes) -> AsyncIterator[memoryview]:
        view = memoryview(data)
        for start in range(0, len(view), PIECE):
            yield view[start : start + PIECE]

    limit = anyio.Semaphore(concurrency)

    async def one(i: int, data: bytes) -> None:
        async with limit:
            await store.put_stream(f"packs/{i:064x}", body(data))

    async with anyio.create_task_group() as tg:
        for i, data in enumerate(packs):
            tg.start_soon(one, i, data)


def trial(mode: str, packs: list[bytes], concurrency: int, scratch: Path) -> dict[str, Any]:
    """One store, all packs written into it; its figures."""
    root = scratch / "store"
    store = FilesystemBlobStore(root, direct_io=mode == "direct")
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    anyio.run(_write_packs, store, packs, concurrency)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    resident = _resident(root / "packs")
    shutil.rmtree(root)
    os.sync()
    return {
        "mode": mode,
        "wall_s": wall,
        "user_s": after.ru_utime - before.ru_utime,
        "sys_s": after.ru_stime - before.ru_stime,
        "resident_bytes": resident,
    }


def _median(trials: list[dict[str, Any]], mode: str, key: str) -> float | None:
    values = [t[key] for t in trials if t["mode"] == mode and t[key] is not None]
    return statistics.median(values) if values else None


def _ratios(trials: list[dict[str, Any]], key: str) -> list[float]:
    by_repeat: dict[int, dict[str, float]] = {}
    for t in trials:
        by_repeat.setdefault(t["repeat"], {})[t["mode"]] = t[key]
    return [r["direct"] / r["page cache"] for r in by_repeat.values() if r.get("page cache")]


def format_table(results: dict[str, Any]) -> str:
    """The Markdown table of a results dict (as written to the JSON file)."""
    p = results["params"]
    lines = [
        f"{p['size'] / GiB:g} GiB in {p['pack_size'] // MiB} MiB packs, {p['concurrency']} "
        f"at a time, fsync + rename each; medians of {p['repeats']} alternating repeats.",
        "",
        "| mode | wall s | CPU user s | CPU sys s | left in page cache MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    for mode in MODES:
        row = results["medians"][mode]
        resident = row["resident_bytes"]
        lines.append(
            f"| {mode} | {row['wall_s']:.2f} | {row['user_s']:.2f} | {row['sys_s']:.2f} "
            f"| {'-' if resident is None else f'{resident / MiB:.0f}'} |"
        )
    r = results["ratios"]
    lines += [
        "",
        f"direct / page cache, per repeat (median): wall {r['wall_s']:.2f}, "
        f"CPU (user + sys) {r['cpu_s']:.2f}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size-gib", type=float, default=2.0)
    parser.add_argument("--pack-mib", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scratch", type=Path, help="parent of the work directory")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    pack_size = args.pack_mib * MiB
    rng = np.random.default_rng(7)
    packs = [rng.bytes(pack_size) for _ in range(int(args.size_gib * GiB) // pack_size)]
    trials: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="asyncart-pack-writes-", dir=args.scratch) as tmp:
        for repeat in range(args.repeats):
            order = MODES if repeat % 2 else MODES[::-1]
            for mode in order:
                result = trial(mode, packs, args.concurrency, Path(tmp))
                result["repeat"] = repeat
                trials.append(result)
                print(f"repeat {repeat + 1}/{args.repeats}: {result}", file=sys.stderr)
    for t in trials:
        t["cpu_s"] = t["user_s"] + t["sys_s"]
    keys = ("wall_s", "user_s", "sys_s", "cpu_s", "resident_bytes")
    date = datetime.date.today().isoformat()
    given = list(sys.argv[1:] if argv is None else argv)
    results = {
        "date": date,
        "command": " ".join(["python -m bench.pack_writes", *given]),
        "params": {
            "size": len(packs) * pack_size,
            "pack_size": pack_size,
            "concurrency": args.concurrency,
            "repeats": args.repeats,
        },
        "medians": {m: {k: _median(trials, m, k) for k in keys} for m in MODES},
        "ratios": {k: statistics.median(_ratios(trials, k)) for k in ("wall_s", "cpu_s")},
        "trials": trials,
    }
    out = args.out or ROOT / "bench" / "results" / f"pack-writes-{date}.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(format_table(results))
    print(f"written {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
