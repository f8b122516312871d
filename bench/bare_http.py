"""The bare aiohttp transfer used as the HTTP ceiling: no hashing, no storage.

Server (binds 127.0.0.1 only)::

    python -m bench.bare_http serve --port 0
    # prints "bare_http ready http://127.0.0.1:PORT"

``POST /upload`` reads the body in large pieces and discards it, answering
``{"bytes": n}``; ``GET /file?path=...`` is ``web.FileResponse`` (sendfile,
Range support).

Clients (one process, ``--streams N`` concurrent connections, each moving
``1/N`` of the file; Range requests for download, byte ranges of the file as
separate POSTs for upload)::

    python -m bench.bare_http upload URL FILE [--streams 4]
    python -m bench.bare_http download URL FILE [--streams 4]

A client prints one JSON line: bytes moved, transfer wall seconds and the
process's CPU seconds for the transfer only (interpreter start-up and imports
excluded).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

PIECE = 1 << 20  # body piece size on both sides
READ_BUFSIZE = 1 << 22  # stream reader high-water mark (aiohttp's default is 64 KiB)
READY = "bare_http ready"


# --------------------------------------------------------------------------- server


async def upload(request: web.Request) -> web.Response:
    """Read the request body in large pieces and discard it."""
    n = 0
    async for data in request.content.iter_chunked(PIECE):
        n += len(data)
    return web.json_response({"bytes": n})


async def file(request: web.Request) -> web.StreamResponse:
    """Serve ``?path=`` with sendfile (and Range support)."""
    return web.FileResponse(request.query["path"], chunk_size=PIECE)


def make_app() -> web.Application:
    """The two-route application."""
    app = web.Application()
    app.router.add_post("/upload", upload)
    app.router.add_get("/file", file)
    return app


async def serve(port: int) -> None:
    """Serve on 127.0.0.1:``port`` (0 = any free port) until killed."""
    runner = web.AppRunner(make_app(), access_log=None, read_bufsize=READ_BUFSIZE)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    host, bound = runner.addresses[0][:2]
    print(f"{READY} http://{host}:{bound}", flush=True)
    await asyncio.Event().wait()


# --------------------------------------------------------------------------- clients


def split(size: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous (offset, length) ranges covering ``size`` bytes."""
    bounds = [size * i // parts for i in range(parts + 1)]
    return [(bounds[i], bounds[i + 1] - bounds[i]) for i in range(parts)]


async def file_pieces(path: Path, offset: int, length: int) -> AsyncIterator[bytes]:
    """``length`` bytes of ``path`` from ``offset``, in ``PIECE``-sized bytes objects.

    Fresh ``bytes`` per piece (not a reused buffer): the transport may keep a
    reference to a piece it could not send at once. Reads block the loop on
    purpose: a 1 MiB page-cache read is far cheaper than a thread hop per piece.
    """
    with open(path, "rb", buffering=0) as f:  # noqa: ASYNC230 (see docstring)
        f.seek(offset)
        remaining = length
        while remaining > 0:
            data = f.read(min(PIECE, remaining))
            if not data:
                raise EOFError(f"{path} ended {remaining} bytes early")
            remaining -= len(data)
            yield data


async def post_range(session: ClientSession, url: str, path: Path, offset: int, length: int) -> int:
    """POST one byte range of ``path``; return the byte count the server read."""
    headers = {"Content-Length": str(length), "Content-Type": "application/octet-stream"}
    async with session.post(
        f"{url}/upload", data=file_pieces(path, offset, length), headers=headers
    ) as resp:
        resp.raise_for_status()
        return int((await resp.json())["bytes"])


async def get_range(
    session: ClientSession, url: str, path: Path, offset: int, length: int, whole: bool
) -> int:
    """GET one byte range of ``path`` (the whole file if ``whole``); return bytes read."""
    headers = {} if whole else {"Range": f"bytes={offset}-{offset + length - 1}"}
    async with session.get(f"{url}/file", params={"path": str(path)}, headers=headers) as resp:
        resp.raise_for_status()
        n = 0
        async for data in resp.content.iter_chunked(PIECE):
            n += len(data)
        return n


async def transfer(direction: str, url: str, path: Path, size: int, streams: int) -> int:
    """Move ``size`` bytes of ``path`` in ``streams`` concurrent requests; return bytes moved."""
    ranges = split(size, streams)
    connector = TCPConnector(limit=streams)
    async with ClientSession(
        connector=connector,
        timeout=ClientTimeout(total=None),
        auto_decompress=False,
        read_bufsize=READ_BUFSIZE,
    ) as session:
        if direction == "upload":
            jobs = [post_range(session, url, path, off, n) for off, n in ranges]
        else:
            jobs = [get_range(session, url, path, off, n, streams == 1) for off, n in ranges]
        return sum(await asyncio.gather(*jobs))


def run_client(direction: str, url: str, path: Path, streams: int) -> dict[str, float | int]:
    """Run one transfer; check the byte count; return bytes, wall and CPU seconds."""
    expected = path.stat().st_size
    cpu0, t0 = time.process_time(), time.perf_counter()
    moved = asyncio.run(transfer(direction, url.rstrip("/"), path, expected, streams))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if moved != expected:
        raise RuntimeError(f"{direction}: moved {moved} bytes, expected {expected}")
    return {"bytes": moved, "wall_s": wall, "cpu_s": cpu, "streams": streams}


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``serve --port P`` | ``upload URL FILE`` | ``download URL FILE``."""
    parser = argparse.ArgumentParser(prog="python -m bench.bare_http")
    sub = parser.add_subparsers(dest="command", required=True)
    srv = sub.add_parser("serve")
    srv.add_argument("--port", type=int, default=0)
    for name in ("upload", "download"):
        cli = sub.add_parser(name)
        cli.add_argument("url")
        cli.add_argument("file", type=Path)
        cli.add_argument("--streams", type=int, default=1)
    args = parser.parse_args(argv)
    if args.command == "serve":
        asyncio.run(serve(args.port))
        return 0
    result = run_client(args.command, args.url, args.file.resolve(), args.streams)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
