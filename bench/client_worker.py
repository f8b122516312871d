"""One asyncart transfer in its own process, so its CPU and memory are measured alone.

``python -m bench.client_worker push SRC --name N [--url U]`` and
``python -m bench.client_worker pull N --out DIR [--url U]`` print a JSON line
with the wall time, requests and bytes the engine counted.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import anyio

from asyncart import aio
from asyncart.client.progress import TransferStats
from asyncart.client.remote import Remote


def _report(
    wall: float,
    cpu: float,
    version: str | None,
    remote: Remote | None,
    stats: TransferStats,
) -> dict[str, Any]:
    """One JSON line: timings, what went over the wire, and the engine's own counters."""
    assert remote is not None
    counters = remote.counters
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "version": version,
        "requests": counters.requests,
        "wire_bytes": counters.bytes_sent + counters.bytes_received,
        "retries": counters.retry.retries,
        "concurrency": stats.concurrency,
        "bytes_uploaded": stats.bytes_uploaded,
        "bytes_read": stats.bytes_read,
        "bytes_downloaded": stats.bytes_downloaded,
        "bytes_reused": stats.bytes_reused + stats.bytes_resumed,
    }


async def push(src: Path, name: str, url: str | None) -> dict[str, Any]:
    art = aio.Artifact(name, type="bench")
    if src.is_dir():
        art.add_dir(src, policy="immutable")
    else:
        art.add_file(src, policy="immutable")
    run = await aio.init(job_type="bench", url=url)
    remote = run.client._remote
    start, cpu_start = time.perf_counter(), time.process_time()
    async with run:
        await run.log_artifact(art)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    assert art.last_transfer is not None
    return _report(wall, cpu, art.version, remote, art.last_transfer)


async def pull(name: str, out: Path, url: str | None) -> dict[str, Any]:
    start, cpu_start = time.perf_counter(), time.process_time()
    async with aio.Api(url=url) as api:
        remote = api.client._remote
        art = await api.artifact(name)
        await art.download(out)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    assert art.last_transfer is not None
    return _report(wall, cpu, art.version, remote, art.last_transfer)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("op", choices=["push", "pull"])
    parser.add_argument("target")
    parser.add_argument("--name", default="bench")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.op == "push":
        result = anyio.run(push, Path(args.target), args.name, args.url)
    else:
        result = anyio.run(pull, args.target, args.out, args.url)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
