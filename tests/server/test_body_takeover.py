"""Pack upload bodies received past aiohttp's parser (``server/body_takeover.py``), against
a real server over raw sockets: the bytes stored are the bytes sent, however they are
paced; nothing past the body is read as body; a cut, stalled, trickled or corrupted
body stores nothing; and only a taken-over upload gives up its connection's keep-alive.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from asyncart.core import protocol as P
from asyncart.server.body_takeover import TAKEOVER_FROM
from tests.support.live_server import LiveServer, live_server
from tests.support.packs import pack_body

TIMING = ["--body-timeout", "3", "--body-grace", "1", "--body-min-rate", "2000"]
MiB = 1 << 20


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("takeover") / "store", extra_args=TIMING) as srv:
        yield srv


def head(length: int) -> bytes:
    return (
        f"POST {P.PACKS}?project=proj HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: {P.PACK_MEDIA_TYPE}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


async def connect(live: LiveServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(live.url)
    return await asyncio.open_connection(parts.hostname, parts.port)


async def answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], Any]:
    raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    lines = raw.decode("latin-1").split("\r\n")
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:]) if k
    }
    body = await reader.readexactly(int(headers["content-length"]))
    return int(lines[0].split()[1]), headers, json.loads(body)


def stored(live: LiveServer, pack: str) -> bytes:
    return (live.root / "blobs" / "packs" / pack[:2] / pack).read_bytes()


def leftovers(live: LiveServer) -> list[Path]:
    tmp = live.root / "blobs" / "tmp"
    return list(tmp.iterdir()) if tmp.exists() else []


async def until_no_leftovers(live: LiveServer) -> None:
    for _ in range(300):  # 15 s at most: the server removes them as the request ends
        if not leftovers(live):
            return
        await asyncio.sleep(0.05)
    assert leftovers(live) == []


def chunks_of(seed: int, total: int) -> list[bytes]:
    rng = random.Random(seed)
    out, left = [], total
    while left:
        n = min(left, rng.randrange(64 << 10, 1 << 20))
        out.append(rng.randbytes(n))
        left -= n
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_large_pack_paced_any_way_is_stored_as_sent(live: LiveServer, seed: int) -> None:
    """Writes of random sizes, the header split among them, with pauses: the receive
    buffer is refilled many times over and the pack holds exactly the bytes sent."""
    chunks = chunks_of(seed, 6 * MiB + seed)
    header, body = pack_body(chunks)
    rng = random.Random(seed)
    reader, writer = await connect(live)
    try:
        writer.write(head(len(body)))
        pos = 0
        while pos < len(body):
            n = rng.choice([1, 7, 100, 5000, 70_000, 1 << 20, 3 << 20])
            writer.write(body[pos : pos + n])
            await writer.drain()
            pos += n
            if rng.random() < 0.2:
                await asyncio.sleep(0.01)
        status, headers, receipt = await answer(reader)
        assert (status, headers.get("connection")) == (201, "close"), receipt
        assert await asyncio.wait_for(reader.read(), 10) == b""  # the server closed it
    finally:
        writer.close()
    assert receipt["size"] == len(body) - len(header.encode())
    assert stored(live, receipt["pack"]) == b"".join(chunks)


async def test_a_pack_under_the_takeover_size_keeps_the_connection(live: LiveServer) -> None:
    _, body = pack_body(chunks_of(7, TAKEOVER_FROM // 2))
    reader, writer = await connect(live)
    try:
        for _ in range(2):  # the second request travels on the same connection
            writer.write(head(len(body)) + body)
            status, headers, receipt = await answer(reader)
            assert status == 201, receipt
            assert headers.get("connection") != "close"
    finally:
        writer.close()


async def test_bytes_after_the_body_are_not_read_as_body(live: LiveServer) -> None:
    """A request sent right behind a taken-over body is not part of it (and not served:
    the connection closes after the pack's answer)."""
    chunks = chunks_of(11, 3 * MiB)
    _, body = pack_body(chunks)
    _, other = pack_body([b"next request" * 1000])
    reader, writer = await connect(live)
    try:
        writer.write(head(len(body)) + body + head(len(other)) + other)
        await writer.drain()
        status, headers, receipt = await answer(reader)
        assert (status, headers.get("connection")) == (201, "close"), receipt
        assert await asyncio.wait_for(reader.read(), 10) == b""
    finally:
        writer.close()
    assert stored(live, receipt["pack"]) == b"".join(chunks)


async def test_a_body_cut_short_stores_nothing_and_the_server_goes_on(live: LiveServer) -> None:
    chunks = chunks_of(13, 4 * MiB)
    header, body = pack_body(chunks)
    reader, writer = await connect(live)
    writer.write(head(len(body)) + body[: len(body) // 2])
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()
    await writer.wait_closed()
    await until_no_leftovers(live)
    assert not any((live.root / "blobs" / "packs").rglob(header.pack_id))
    # The server still takes a whole upload of the same pack.
    reader, writer = await connect(live)
    try:
        writer.write(head(len(body)) + body)
        status, _, receipt = await answer(reader)
    finally:
        writer.close()
    assert status == 201, receipt
    assert stored(live, receipt["pack"]) == b"".join(chunks)


async def test_a_stalled_body_is_408_and_stores_nothing(live: LiveServer) -> None:
    _, body = pack_body(chunks_of(17, 2 * MiB))
    reader, writer = await connect(live)
    try:
        writer.write(head(len(body)) + body[:600_000])  # then nothing, for over 3 s
        status, headers, err = await answer(reader)
    finally:
        writer.close()
    assert (status, err["code"]) == (408, "request_timeout"), err
    assert "no request body bytes arrived for 3s" in err["message"]
    assert headers.get("connection") == "close"
    await until_no_leftovers(live)


async def test_a_trickled_body_is_408_after_the_grace_period(live: LiveServer) -> None:
    """A byte every 0.1 s never stalls the 3 s idle timer but averages far under
    2000 B/s: answered once the 1 s grace is over, not at the idle timeout."""
    _, body = pack_body(chunks_of(19, 2 * MiB))
    reader, writer = await connect(live)
    started = time.monotonic()
    try:
        writer.write(head(len(body)) + body[:50])
        pending = asyncio.ensure_future(answer(reader))
        pos = 50
        while not pending.done() and time.monotonic() - started < 20:
            writer.write(body[pos : pos + 1])
            pos += 1
            await asyncio.sleep(0.1)
        status, _, err = await pending
    finally:
        writer.close()
    assert (status, err["code"]) == (408, "request_timeout"), err
    assert "bytes/s on average" in err["message"]
    await until_no_leftovers(live)


async def test_a_corrupted_chunk_is_refused_and_nothing_is_stored(live: LiveServer) -> None:
    chunks = chunks_of(23, 3 * MiB)
    header, body = pack_body(chunks)
    spoiled = bytearray(body)
    spoiled[len(body) - 100] ^= 0x40  # inside the last chunk, well past any held bytes
    reader, writer = await connect(live)
    try:
        writer.write(head(len(body)) + bytes(spoiled))
        status, headers, err = await answer(reader)
    finally:
        writer.close()
    assert (status, err["code"]) == (422, "integrity"), err
    assert headers.get("connection") == "close"
    await until_no_leftovers(live)
    assert not any((live.root / "blobs" / "packs").rglob(header.pack_id))
