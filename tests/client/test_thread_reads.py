"""Pack ranges read on blocking sockets in worker threads (``blocking_reads.py``) and on
the event loop through aiohttp (``ASYNCART_THREAD_READS=0``): the same bytes, the same
requests, the same recovery from faults, and a cancelled pull stops its threads.

The rest of the suite runs the default (thread reads); the fault cases here run both.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

import asyncart
from asyncart import aio
from tests.support.fault_proxy import FaultProxy
from tests.support.in_process_server import InProcessServer, in_process_server
from tests.support.transfers import use_small_transfers

MiB = 1 << 20
PACKS = "/v1/packs/"
NAME = "thread reads"


@pytest.fixture(autouse=True)
def small_packs(monkeypatch: pytest.MonkeyPatch) -> None:
    use_small_transfers(monkeypatch, MiB)
    monkeypatch.setenv("ASYNCART_CACHE_MAX_SIZE", "0")  # every pull reads its packs


@pytest.fixture
def server(tmp_path: Path) -> Iterator[InProcessServer]:
    with in_process_server(tmp_path / "server-store") as srv:
        yield srv


@pytest.fixture
def files() -> dict[str, bytes]:
    rnd = random.Random(11)
    content = {"big.bin": rnd.randbytes(5 * MiB + 4097), "small.txt": b"tiny\n" * 300}
    for rel, data in content.items():
        (Path("src") / rel).parent.mkdir(parents=True, exist_ok=True)
        (Path("src") / rel).write_bytes(data)
    return content


@pytest.fixture(params=["threads", "event-loop"])
def read_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ASYNCART_THREAD_READS", "1" if request.param == "threads" else "0")
    return str(request.param)


async def _push(url: str) -> None:
    artifact = aio.Artifact(name=NAME, type="dataset")
    artifact.add_dir("src")
    async with await aio.init(job_type="push", url=url) as run:
        await run.log_artifact(artifact)


async def _pull(url: str, out: Path) -> Path:
    async with aio.Api(url=url) as api:
        return Path(await (await api.artifact(f"{NAME}:v0")).download(out))


def _same(root: Path, files: dict[str, bytes]) -> None:
    got = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert got == files


async def test_both_paths_read_the_same_ranges_into_the_same_bytes(
    server: InProcessServer, files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    await _push(server.url)
    reads = {}
    for flag in ("1", "0"):
        monkeypatch.setenv("ASYNCART_THREAD_READS", flag)
        async with FaultProxy(server.url) as proxy:
            _same(await _pull(proxy.url, Path(f"out-{flag}")), files)
            reads[flag] = proxy.count(method="GET", path=PACKS)
    assert reads["1"] == reads["0"] > 1


@pytest.mark.parametrize(
    "fault",
    [
        lambda p: p.reset_response(100_000, method="GET", path=PACKS),
        lambda p: p.truncate(1000, method="GET", path=PACKS),
        lambda p: p.corrupt(at_byte=5000, method="GET", path=PACKS, times=2),
        lambda p: p.answer(503, method="GET", path=PACKS, times=2),
    ],
    ids=["reset", "truncated", "corrupted", "503"],
)
async def test_a_faulty_range_is_read_again(
    server: InProcessServer, files: dict[str, bytes], read_path: str, fault: object
) -> None:
    await _push(server.url)
    async with FaultProxy(server.url) as proxy:
        injected = fault(proxy)  # type: ignore[operator]
        _same(await _pull(proxy.url, Path("out")), files)
        assert injected.fired >= 1


async def test_a_range_stalled_past_the_idle_timeout_is_read_again(
    server: InProcessServer,
    files: dict[str, bytes],
    read_path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _push(server.url)
    monkeypatch.setenv("ASYNCART_IDLE_TIMEOUT", "1")
    async with FaultProxy(server.url) as proxy:
        stall = proxy.stall(120, method="GET", path=PACKS)
        _same(await _pull(proxy.url, Path("out")), files)
        assert stall.fired == 1


@pytest.mark.parametrize("status", [404, 401, 500])
async def test_an_error_answer_is_the_same_error_on_both_paths(
    server: InProcessServer,
    files: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
    status: int,
) -> None:
    await _push(server.url)
    errors = {}
    for flag in ("1", "0"):
        monkeypatch.setenv("ASYNCART_THREAD_READS", flag)
        async with FaultProxy(server.url) as proxy:
            proxy.answer(status, method="GET", path=PACKS, times=1000)
            with pytest.raises(asyncart.AsyncartError) as info:
                await _pull(proxy.url, Path(f"out-{flag}"))
        # Which range fails first is a race: pack names and offsets are left out.
        message = re.sub(r"[0-9a-f]{64}", "PACK", str(info.value).replace(proxy.url, "URL"))
        errors[flag] = (type(info.value), re.sub(r"range \d+\+\d+", "RANGE", message))
        assert not (Path(f"out-{flag}") / "big.bin").exists()  # part files may stay: resumable
    assert errors["1"] == errors["0"]


async def test_a_cancelled_pull_stops_its_reading_threads(
    server: InProcessServer, files: dict[str, bytes], read_path: str
) -> None:
    """Every range stalls for an hour (past the test timeout); the pull is cancelled once
    one has begun, and returns (it does not wait out the stall), leaving no file under a
    final name."""
    await _push(server.url)
    async with FaultProxy(server.url) as proxy:
        stall = proxy.stall(3600, method="GET", path=PACKS, times=1000)
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_pull, proxy.url, Path("out"))
                while not stall.fired:  # noqa: ASYNC110 (the proxy has no event to wait on)
                    await anyio.sleep(0.01)
                scope.cancel()
        assert scope.cancelled_caught
    assert not (Path("out") / "big.bin").exists()
