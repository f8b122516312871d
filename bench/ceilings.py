"""The machine's ceilings, measured in the same run as the asyncart cases.

Every asyncart figure is reported as a ratio to one of these:

- ``blake3 1 core`` / ``blake3 all cores``: hash the file as the engine does
  (``readinto`` a reused 16 MiB buffer, then ``update``), so the page-cache
  copy is included; one thread, then ``max_threads=AUTO``.
- ``page-cache read``: ``readinto`` a reused 8 MiB buffer, nothing else.
- ``fsync write``: write S bytes from a reused buffer to a new file, ``fsync``.
- ``aiohttp upload`` / ``aiohttp download`` (and ``x4``, four concurrent
  streams of a quarter each): a bare aiohttp transfer over loopback, see
  :mod:`bench.bare_http`.

Local ceilings run in this process (``client_cpu_s`` is this process's CPU
time, no peak RSS); the HTTP ceilings run a client process (CPU and peak RSS
from :func:`run_measured`) against a server process (CPU and peak RSS from
:meth:`Service.begin`/:meth:`Service.end`).

Quick check: ``python -m bench.ceilings FILE [REPEATS] [--workdir DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import blake3

from bench.bare_http import PIECE, READ_BUFSIZE, READY
from bench.measure import CaseResult, Measurement, Service, python_module, run_measured, service

MiB = 1 << 20
HASH_BUFFER = 16 * MiB  # as asyncart.client.scan.hash_file
READ_BUFFER = 8 * MiB
WRITE_BUFFER = 16 * MiB
REPO = Path(__file__).resolve().parent.parent
HTTP_CASES = (
    ("aiohttp upload", "upload", 1),
    ("aiohttp download", "download", 1),
    ("aiohttp upload x4", "upload", 4),
    ("aiohttp download x4", "download", 4),
)


# --------------------------------------------------------------------------- local work


def hash_file(path: Path, hasher: blake3.blake3, bufsize: int = HASH_BUFFER) -> str:
    """Feed ``path`` to ``hasher`` through one reused buffer; return the hex digest."""
    buf = bytearray(bufsize)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            hasher.update(view[:n])
    return hasher.hexdigest()


def read_file(path: Path, bufsize: int = READ_BUFFER) -> int:
    """Read ``path`` through one reused buffer; return the byte count."""
    buf = bytearray(bufsize)
    total = 0
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            total += n
    return total


def write_fsync(path: Path, size: int, block: bytes) -> None:
    """Write ``size`` bytes (``block`` repeated) to a new file ``path`` and fsync it."""
    view = memoryview(block)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        remaining = size
        while remaining > 0:
            remaining -= os.write(fd, view[: min(len(view), remaining)])
        os.fsync(fd)
    finally:
        os.close(fd)


def timed(fn: Callable[[], object], nbytes: int) -> Measurement:
    """Run ``fn`` once in this process; wall and this process's CPU seconds."""
    cpu0, t0 = time.process_time(), time.perf_counter()
    fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return Measurement(wall_s=wall, nbytes=nbytes, client_cpu_s=cpu)


def local_case(
    name: str,
    tool: str,
    fn: Callable[[], object],
    size: int,
    repeats: int,
    params: dict[str, object],
) -> CaseResult:
    """A ceiling measured in this process, ``repeats`` times."""
    runs = [timed(fn, size) for _ in range(repeats)]
    return CaseResult(
        name=name,
        group="ceiling",
        tool=tool,
        size=size,
        runs=runs,
        params={**params, "process": "in-process (client_cpu_s = this process)"},
    )


def fsync_case(workdir: Path, size: int, repeats: int) -> CaseResult:
    """``fsync write``: each run writes and fsyncs a new file; deletion is not timed."""
    block = os.urandom(WRITE_BUFFER)
    target = workdir / f"ceiling-fsync-{os.getpid()}.bin"
    runs = []
    for _ in range(repeats):
        try:
            runs.append(timed(lambda: write_fsync(target, size, block), size))
        finally:
            target.unlink(missing_ok=True)
    return CaseResult(
        name="fsync write",
        group="ceiling",
        tool="python",
        size=size,
        runs=runs,
        params={
            "buffer": WRITE_BUFFER,
            "method": "os.write from a reused random buffer, os.fsync, close (unlink untimed)",
            "dir": str(workdir),
        },
    )


# --------------------------------------------------------------------------- HTTP


def http_run(svc: Service, direction: str, source: Path, size: int, streams: int) -> Measurement:
    """One bare aiohttp transfer: client process measured from outside, server by ``svc``.

    ``wall_s`` is the client's own transfer time (interpreter start-up and
    imports excluded; the process wall is in ``extra``); ``client_cpu_s`` is the
    transfer's CPU (all threads), the whole process's CPU is in ``extra``.
    """
    args = python_module(
        "bench.bare_http", direction, svc.url, str(source), "--streams", str(streams)
    )
    cpu_before = svc.begin()
    wall, cpu, rss, out = run_measured(args, cwd=REPO)
    server_cpu, server_rss = svc.end(cpu_before)
    report = json.loads(out.strip().splitlines()[-1])
    if report["bytes"] != size:
        raise RuntimeError(f"bare_http {direction} moved {report['bytes']} bytes, expected {size}")
    return Measurement(
        wall_s=report["wall_s"],
        nbytes=size,
        client_cpu_s=report["cpu_s"],
        server_cpu_s=server_cpu,
        client_peak_rss=rss,
        server_peak_rss=server_rss,
        requests=streams,
        extra={"process_wall_s": wall, "process_cpu_s": cpu, "transfer_cpu_s": report["cpu_s"]},
    )


def http_cases(source: Path, size: int, repeats: int) -> list[CaseResult]:
    """The four bare aiohttp ceilings against one ``bench.bare_http`` server."""
    params = {
        "piece": PIECE,
        "read_bufsize": READ_BUFSIZE,
        "wall": "client's in-process transfer time (extra.process_wall_s includes start-up)",
        "client_cpu": "transfer only (extra.process_cpu_s: whole process incl. start-up)",
    }
    results = []
    with service(
        python_module("bench.bare_http", "serve", "--port", "0"), ready=READY, cwd=REPO
    ) as svc:
        for name, direction, streams in HTTP_CASES:
            runs = [http_run(svc, direction, source, size, streams) for _ in range(repeats)]
            results.append(
                CaseResult(
                    name=name,
                    group="ceiling",
                    tool="aiohttp",
                    size=size,
                    runs=runs,
                    params={**params, "streams": streams},
                )
            )
    return results


# --------------------------------------------------------------------------- suite entry


def run_ceilings(workdir: Path, source: Path, repeats: int) -> list[CaseResult]:
    """Measure every ceiling on ``source`` (size S), ``repeats`` runs each.

    ``fsync write`` runs last: its dirty pages could push ``source`` out of the
    page cache on a small machine.
    """
    size = source.stat().st_size
    read_file(source)  # make sure the source is in the page cache (untimed)
    hashing = {
        "buffer": HASH_BUFFER,
        "method": "readinto a reused buffer + update "
        "(page-cache copy included), as asyncart.client.scan.hash_file",
    }
    auto = blake3.blake3.AUTO
    results = [
        local_case(
            "blake3 1 core",
            "blake3",
            lambda: hash_file(source, blake3.blake3()),
            size,
            repeats,
            {**hashing, "max_threads": 1},
        ),
        local_case(
            "blake3 all cores",
            "blake3",
            lambda: hash_file(source, blake3.blake3(max_threads=auto)),
            size,
            repeats,
            {**hashing, "max_threads": "AUTO", "cpus": os.cpu_count()},
        ),
        local_case(
            "page-cache read",
            "python",
            lambda: read_file(source),
            size,
            repeats,
            {"buffer": READ_BUFFER, "method": "readinto a reused buffer"},
        ),
    ]
    results += http_cases(source, size, repeats)
    results.append(fsync_case(workdir, size, repeats))
    return results


def format_table(results: Sequence[CaseResult]) -> str:
    """Median figures per ceiling as a fixed-width text table."""

    def num(value: float | None, fmt: str, scale: float = 1.0) -> str:
        return "-" if value is None else format(value / scale, fmt)

    head = (
        f"{'ceiling':<22}{'MB/s':>8}{'client CPU s':>14}{'(transfer)':>12}"
        f"{'server CPU s':>14}{'client RSS MiB':>16}{'server RSS MiB':>16}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        wall = r.median("wall_s")
        xfer = [m.extra["transfer_cpu_s"] for m in r.runs if "transfer_cpu_s" in m.extra]
        lines.append(
            f"{r.name:<22}{num(r.size / wall / 1e6 if wall else None, '.0f'):>8}"
            f"{num(r.median('client_cpu_s'), '.2f'):>14}"
            f"{num(sorted(xfer)[len(xfer) // 2] if xfer else None, '.2f'):>12}"
            f"{num(r.median('server_cpu_s'), '.2f'):>14}"
            f"{num(r.median('client_peak_rss'), '.0f', MiB):>16}"
            f"{num(r.median('server_peak_rss'), '.0f', MiB):>16}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.ceilings FILE [REPEATS] [--workdir DIR]``: print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.ceilings")
    parser.add_argument("file", type=Path)
    parser.add_argument("repeats", type=int, nargs="?", default=3)
    parser.add_argument(
        "--workdir", type=Path, help="for fsync write (default: a temp dir next to FILE)"
    )
    args = parser.parse_args(argv)
    source = args.file.resolve()
    with tempfile.TemporaryDirectory(dir=args.workdir or source.parent) as tmp:
        results = run_ceilings(Path(tmp), source, args.repeats)
    print(f"{source}: {source.stat().st_size / MiB:.0f} MiB, {args.repeats} runs, medians")
    print(format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
