"""``asyncart cache prune`` over a download cache of many entries (issue 18).

The cache is built directly, not by pulls: ``entries`` rows added through
:class:`~asyncart.client.cache_index.CacheIndex` (``add_many``, one batch per
call, so the batches' ``last_used`` differ), each declaring :data:`NOMINAL` bytes,
and one empty blob file per row at its place under ``blobs/``. So what is timed is
what eviction does per entry (walk the LRU index in batches, take and drop the
digest's lock file, unlink the blob, delete the rows), without the cost of
freeing each blob's data blocks: a real 4 KiB blob frees one block more.

Each repeat restores the index file copied before the first prune and re-creates
the missing blob files, then runs ``asyncart cache prune --max-size HALF`` (half
the declared total: the older half of the entries goes) as a subprocess, its wall
time and peak RSS measured from outside. ``asyncart cache ls`` on the same cache
gives the RSS of a CLI process that evicts nothing, for comparison.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import blake3

from asyncart.client.cache import INDEX_NAME, BlobCache
from bench.measure import CaseResult, Measurement, python_module, run_measured

NOMINAL = 4096  # bytes each row declares
_ADD_BATCH = 50_000


def digests(entries: int) -> list[str]:
    return [blake3.blake3(i.to_bytes(8, "little")).hexdigest() for i in range(entries)]


def build(cache_dir: Path, names: list[str]) -> float:
    """Index ``names`` and create their empty blobs; the seconds it took."""
    start = time.perf_counter()
    cache = BlobCache(cache_dir, 1 << 50)
    try:
        for i in range(0, len(names), _ADD_BATCH):
            cache.index.add_many([(d, NOMINAL) for d in names[i : i + _ADD_BATCH]])
        _create_blobs(cache, names)
    finally:
        cache.close()
    return time.perf_counter() - start


def _create_blobs(cache: BlobCache, names: list[str]) -> None:
    made: set[str] = set()
    for digest in names:
        path = cache.blob_path(digest)
        if digest[:2] not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(digest[:2])
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o444))


def _env(cache_dir: Path) -> dict[str, str]:
    return {"ASYNCART_CACHE_DIR": str(cache_dir), "ASYNCART_CACHE_MAX_SIZE": "20GB"}


def prune_case(work: Path, entries: int, repeats: int) -> tuple[CaseResult, CaseResult]:
    """Time ``asyncart cache prune`` over ``entries`` entries, ``repeats`` times."""
    label = f"{entries:,}"
    cache_dir = work / "eviction-cache"
    keep = entries * NOMINAL // 2
    prune = CaseResult(
        f"cache prune of {label} entries to half (older {entries // 2:,} removed)",
        "cache",
        "asyncart",
        entries * NOMINAL,
        entries,
        params={"item": "eviction", "entries": entries, "nominal_bytes": NOMINAL},
    )
    ls = CaseResult(
        "cache ls after the prune (a CLI process that evicts nothing)",
        "cache",
        "asyncart",
        entries * NOMINAL,
        entries,
        params={"item": "eviction-ls", "entries": entries},
    )
    names = digests(entries)
    try:
        built = build(cache_dir, names)
        index = cache_dir / INDEX_NAME
        saved = work / "eviction-index.sqlite3"
        shutil.copyfile(index, saved)
        db_bytes = index.stat().st_size
        for i in range(repeats):
            if i:
                shutil.copyfile(saved, index)
                cache = BlobCache(cache_dir, 1 << 50)
                try:
                    _create_blobs(cache, names)
                finally:
                    cache.close()
            os.sync()
            args = python_module("asyncart", "cache", "prune", "--max-size", str(keep), "--json")
            wall, cpu, rss, out = run_measured(args, env=_env(cache_dir))
            done = json.loads(out)
            prune.runs.append(
                Measurement(
                    wall_s=wall,
                    nbytes=entries * NOMINAL,
                    files=entries,
                    client_cpu_s=cpu,
                    client_peak_rss=rss,
                    extra={
                        "removed": done["removed"],
                        "in_use": done["in_use"],
                        "build_s": built,
                        "index_bytes": db_bytes,
                    },
                )
            )
            wall, cpu, rss, _ = run_measured(
                python_module("asyncart", "cache", "ls", "--json"), env=_env(cache_dir)
            )
            ls.runs.append(
                Measurement(
                    wall_s=wall, nbytes=0, files=entries, client_cpu_s=cpu, client_peak_rss=rss
                )
            )
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    return prune, ls
