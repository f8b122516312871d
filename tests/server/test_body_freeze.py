"""What request bodies can do to a real server: freeze it, fill its memory (issue 15, item 4).

* A gzip bomb to ``chunks/missing`` is refused by its route's bound, or at its first bad
  element, without building an object tree.
* Concurrent bombs keep the server's memory (its worker processes included) bounded.
* ``/v1/health`` answers within 100 ms at the 99th percentile, and never near a freeze,
  while the largest commit the server accepts is parsed and recorded.
"""

from __future__ import annotations

import contextlib
import gc
import gzip
import io
import json
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import psutil
import pytest

from asyncart.core import protocol as P
from asyncart.core.manifest import Manifest
from tests.server.test_hardening import post_raw
from tests.support.live_server import LiveServer, live_server
from tests.support.packs import h, pack_body

HEALTH_BOUND = 0.100  # seconds: the figure, asserted at the 99th percentile
HEALTH_WORST = 1.0  # seconds: no probe may wait this long (the old code froze for 77 s)
RSS_BOUND = 1500 << 20  # generous: three bombs once took 3.3 GB


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("freeze") / "store") as srv:
        yield srv


@pytest.fixture
async def http(live: LiveServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=live.url) as session:
        yield session


def empty_lists_bomb(decoded: int) -> bytes:
    """``{"hashes": [[],[],…]}`` of about ``decoded`` bytes, gzip-compressed."""
    count = decoded // 3
    return gzip.compress(b'{"hashes":[' + b"[]," * count + b'[]]}', compresslevel=9)


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and its children (the body-parsing workers)."""
    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += child.memory_info().rss
    return total


class Sampler:
    """Samples a value in a thread until stopped; keeps the max."""

    def __init__(self, sample: Any, period: float = 0.01) -> None:
        self.values: list[float] = []
        self._sample, self._period = sample, period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.values.append(self._sample())
            time.sleep(self._period)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


async def test_a_bomb_over_the_query_bound_is_413(http: aiohttp.ClientSession) -> None:
    bomb = empty_lists_bomb(63 << 20)  # the body: 64 KiB on the wire
    assert len(bomb) < 100 << 10
    status, err = await post_raw(http, P.CHUNKS_MISSING, bomb, **{"Content-Encoding": "gzip"})
    assert (status, err["code"]) == (413, "payload_too_large")
    assert str(P.MAX_QUERY_BODY) in err["message"]


@pytest.mark.parametrize("route", [P.CHUNKS_MISSING, P.CHUNKS_LOCATE])
@pytest.mark.parametrize("decoded", [512 << 10, 7 << 20], ids=["inline", "in-a-worker"])
async def test_a_bomb_under_the_bound_stops_at_its_first_element(
    http: aiohttp.ClientSession, route: str, decoded: int
) -> None:
    bomb = empty_lists_bomb(decoded)
    status, err = await post_raw(http, route, bomb, **{"Content-Encoding": "gzip"})
    assert (status, err["code"]) == (400, "bad_request")
    assert "$.hashes[0]" in err["message"]  # decoding stopped there: no tree was built


async def test_three_concurrent_bombs_keep_memory_bounded(
    live: LiveServer, http: aiohttp.ClientSession
) -> None:
    import asyncio

    bombs = [empty_lists_bomb(63 << 20), empty_lists_bomb(7 << 20), empty_lists_bomb(7 << 20)]
    with Sampler(lambda: tree_rss(live.process.pid)) as rss:
        answers = await asyncio.gather(*(
            post_raw(http, P.CHUNKS_MISSING, b, **{"Content-Encoding": "gzip"}) for b in bombs
        ))
    assert [status for status, _ in answers] == [413, 400, 400]
    print(f"server RSS during three bombs: max {max(rss.values) / 2**20:.0f} MiB")
    assert max(rss.values) < RSS_BOUND


# -- the health figure -----------------------------------------------------------------

CHUNKS_PER_PACK = 65_536
PACKS = 4  # 262,144 entries, each naming its chunk: ~54 MB of JSON (the bound is 64 MiB)


def _chunk(i: int) -> bytes:
    return i.to_bytes(8, "big")


async def _store_chunks(http: aiohttp.ClientSession) -> None:
    for p in range(PACKS):
        chunks = [_chunk(p * CHUNKS_PER_PACK + i) for i in range(CHUNKS_PER_PACK)]
        async with http.post(P.PACKS, data=io.BytesIO(pack_body(chunks)[1])) as resp:
            assert resp.status == 201, await resp.text()


def biggest_commit() -> bytes:
    """A commit near the commit bound with as many entries as the store can back."""
    entries = []
    for i in range(PACKS * CHUNKS_PER_PACK):
        digest = h(_chunk(i))
        entries.append({
            "path": f"shards/{i:09d}/part.bin", "size": 8, "digest": digest,
            "chunks": [[digest, 8]],
        })
    manifest = {**Manifest(entries=()).to_json(), "entries": entries}
    raw = json.dumps({"type": "dataset", "manifest": manifest}).encode()
    assert 48 << 20 < len(raw) <= P.MAX_JSON_BODY
    return raw


# Probes from a process of their own: the test process's garbage (a 262k-entry body
# built in Python) must not pause the measuring thread.
PROBE = """
import json, sys, threading, time
from http.client import HTTPConnection
host, port = sys.argv[1], int(sys.argv[2])
conn = HTTPConnection(host, port, timeout=60)
out, stop = [], threading.Event()
def run():
    while not stop.is_set():
        start = time.perf_counter()
        conn.request("GET", "/v1/health")
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200
        out.append((start, time.perf_counter() - start))
        time.sleep(0.005)
t = threading.Thread(target=run)
t.start()
print("probing", flush=True)
sys.stdin.read()
stop.set()
t.join()
print(json.dumps(out), flush=True)
"""


def start_prober(url: str) -> subprocess.Popen[str]:
    """A process probing ``/v1/health`` until its stdin closes; then it prints the
    latencies as JSON."""
    parts = urlsplit(url)
    prober = subprocess.Popen(
        [sys.executable, "-c", PROBE, str(parts.hostname), str(parts.port)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert prober.stdout is not None and prober.stdout.readline() == "probing\n"
    return prober


def stop_prober(prober: subprocess.Popen[str]) -> list[float]:
    """Sorted latencies of a :func:`start_prober` process (stopped and reaped)."""
    try:
        out, _ = prober.communicate("", timeout=120)
    finally:
        if prober.poll() is None:
            prober.kill()
            prober.wait()
    return sorted(v for _, v in json.loads(out.splitlines()[-1]))


async def test_health_keeps_answering_while_the_biggest_commit_is_parsed(
    live: LiveServer, http: aiohttp.ClientSession
) -> None:
    await _store_chunks(http)
    body = gzip.compress(biggest_commit(), compresslevel=1)  # as the client sends large JSON
    gc.collect()
    prober = start_prober(live.url)
    try:
        url = P.path(P.VERSIONS, project="freeze", name="biggest")
        start = time.perf_counter()
        async with http.post(url, data=io.BytesIO(body), headers={
            "Content-Type": "application/json", "Content-Encoding": "gzip"
        }) as resp:
            assert resp.status == 201, await resp.text()
            info = await resp.json()
        took = time.perf_counter() - start
    finally:
        latencies = stop_prober(prober)
    assert info["file_count"] == PACKS * CHUNKS_PER_PACK
    worst = latencies[-1]
    print(
        f"commit of {info['file_count']} entries ({len(body) / 2**20:.1f} MiB gzip) took "
        f"{took:.2f}s; /v1/health over {len(latencies)} probes: median "
        f"{latencies[len(latencies) // 2] * 1000:.1f} ms, p99 "
        f"{latencies[len(latencies) * 99 // 100] * 1000:.1f} ms, max {worst * 1000:.1f} ms"
    )
    assert len(latencies) >= 10
    # Every probe answered within 100 ms in runs on this 2-core machine while other test
    # suites ran (max 52-78 ms): the parse runs in a worker process, the metastore's
    # statements go in 500-row batches, large sorts share the GIL, and the server's
    # startup objects are frozen out of the collector. Asserted with headroom for a
    # shared CI machine's scheduler: 99 % within 100 ms, none near a freeze.
    assert latencies[len(latencies) * 99 // 100] < HEALTH_BOUND
    assert worst < HEALTH_WORST
