"""100 pushes and 100 pulls of mixed sizes through random faults: every one completes, exactly.

The fault proxy drops 10 % of connections at a random byte of the upload or of
the answer, and answers 5 % of requests 503. Every transfer must still succeed
(with retries), every pulled file must equal its source (the pull also checks
every digest), and the retries are counted and reported.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from asyncart import aio
from tests.support.fault_proxy import FaultProxy
from tests.support.live_server import LiveServer
from tests.support.transfers import use_small_transfers

COUNT = 100
SIZES = (0, 100, 10_000, 300_000, 1_500_000, 3_000_000)


@pytest.fixture(autouse=True)
def production_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCART_MAX_ATTEMPTS", "10")  # the default, not the tests' fast 3
    monkeypatch.setenv("ASYNCART_RETRY_DEADLINE", "120")
    use_small_transfers(monkeypatch, 1 << 20)


async def test_transfers_through_random_drops_and_503s(server: LiveServer) -> None:
    rnd = random.Random(42)
    sources: dict[int, bytes] = {}
    for i in range(COUNT):
        data = rnd.randbytes(rnd.choice(SIZES))
        Path(f"src/{i}").mkdir(parents=True)
        Path(f"src/{i}/data.bin").write_bytes(data)
        sources[i] = data
    retries = {"push": 0, "pull": 0}
    slots = asyncio.Semaphore(8)

    async def push(url: str, i: int) -> None:
        async with slots:
            run = await aio.init(job_type="soak", url=url)
            async with run:
                art = aio.Artifact(f"soak-{i}", type="dataset")
                art.add_file(f"src/{i}/data.bin")
                await run.log_artifact(art)
                retries["push"] += run.client._remote.counters.retry.retries
            assert art.version == "v0"

    async def pull(url: str, i: int) -> None:
        async with slots, aio.Api(url=url) as api:
            art = await api.artifact(f"soak-{i}:latest")
            await art.download(Path(f"out/{i}"))
            retries["pull"] += api.client._remote.counters.retry.retries

    async with FaultProxy(server.url) as proxy:
        proxy.chaos(drop=0.10, status=0.05, seed=7)
        await asyncio.gather(*(push(proxy.url, i) for i in range(COUNT)))
        await asyncio.gather(*(pull(proxy.url, i) for i in range(COUNT)))
        injected = dict(proxy.injected)

    corrupt = [i for i in range(COUNT) if Path(f"out/{i}/data.bin").read_bytes() != sources[i]]
    print(f"\nfaults injected {injected}; retries {retries}; corrupt files {len(corrupt)}")
    assert corrupt == []
    assert not list(Path("out").rglob("*.asyncart-*"))
    # The faults really happened and were really retried.
    assert injected.get("status", 0) > 10 and injected.get("reset_response", 0) > 10
    assert injected.get("reset_request", 0) > 5
    assert retries["push"] > 0 and retries["pull"] > 0
    async with aio.Api(url=server.url) as api:  # each version committed exactly once
        for i in rnd.sample(range(COUNT), 20):
            assert [v.version for v in await api.artifact_versions(f"soak-{i}")] == ["v0"]
