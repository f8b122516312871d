"""Retries against a real server, through our fault-injecting proxy.

Every test pushes and/or pulls real files through ``FaultProxy`` to the real server
app, run in this process (``in_process_server``: a subprocess would add only its
start-up), and checks the outcome: the bytes that come back, the versions
the store holds, the error raised. Packs are 1 MiB and chunks ~64 KiB so a few MB
make several packs and ranges.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import asyncart
from asyncart import aio
from tests.support.fault_proxy import Fault, FaultProxy, running_fault_proxy
from tests.support.in_process_server import InProcessServer, in_process_server

MiB = 1 << 20
PACKS = "/v1/packs"
NAME = "retry data"


@pytest.fixture(autouse=True)
def small_packs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCART_PACK_SIZE", str(MiB))
    monkeypatch.setenv("ASYNCART_CHUNK_SIZE", str(64 << 10))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[InProcessServer]:
    """The real server app with a fresh store, in this process."""
    with in_process_server(tmp_path / "server-store") as srv:
        yield srv


@pytest.fixture
def files(tmp_path: Path) -> dict[str, bytes]:
    """A few MB of files in ./src: one large file and two small ones."""
    rnd = random.Random(7)
    content = {
        "big.bin": rnd.randbytes(4 * MiB + 12345),
        "small/a.txt": b"alpha\n" * 1000,
        "small/b.txt": rnd.randbytes(70_000),
    }
    for rel, data in content.items():
        path = Path("src") / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return content


async def push(url: str, files: dict[str, bytes], name: str = NAME) -> aio.Artifact:
    artifact = aio.Artifact(name=name, type="dataset")
    artifact.add_dir("src")
    async with await aio.init(job_type="push", url=url) as run:
        await run.log_artifact(artifact)
    assert artifact.size == sum(len(d) for d in files.values())
    return artifact


async def pull(url: str, out: Path, ref: str = f"{NAME}:v0") -> Path:
    async with aio.Api(url=url) as api:
        artifact = await api.artifact(ref)
        return Path(await artifact.download(out))


def assert_same_files(root: Path, files: dict[str, bytes]) -> None:
    on_disk = {
        p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
    }
    assert on_disk.keys() == files.keys()
    for rel, data in files.items():
        assert on_disk[rel] == data, rel


async def versions_on_server(server: InProcessServer, name: str = NAME) -> list[str]:
    async with aio.Api(url=server.url) as api:
        return [v.version for v in await api.artifact_versions(name)]


async def round_trip(proxy: FaultProxy, server: InProcessServer, files: dict[str, bytes]) -> None:
    """Push and pull through the proxy; the pulled bytes and the store must be exact."""
    await push(proxy.url, files)
    assert_same_files(await pull(proxy.url, Path("through-proxy")), files)
    # And straight from the server: what it stored is what was pushed.
    assert_same_files(await pull(server.url, Path("direct")), files)
    assert await versions_on_server(server) == ["v0"]


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- uploads ----------------------------------------------------------------------------


@pytest.mark.parametrize("forward_first", [False, True], ids=["refused", "answer-lost"])
async def test_503_with_retry_after_on_first_two_pack_uploads(
    server: InProcessServer, files: dict[str, bytes], forward_first: bool
) -> None:
    """Refused before the server saw them, or stored by the server with the answer lost."""
    async with FaultProxy(server.url) as proxy:
        fault = proxy.answer(
            503, method="POST", path=PACKS, times=2, retry_after="0", forward_first=forward_first
        )
        await round_trip(proxy, server, files)
        assert fault.fired == 2


async def test_connection_reset_mid_pack_upload(
    server: InProcessServer, files: dict[str, bytes]
) -> None:
    async with FaultProxy(server.url) as proxy:
        fault = proxy.reset_request(300_000, method="POST", path=PACKS)
        await round_trip(proxy, server, files)
        assert fault.fired == 1
    # The server dropped the half-received pack instead of keeping a partial file.
    assert list((server.root / "blobs" / "tmp").iterdir()) == []


async def test_429_on_missing_chunk_query(server: InProcessServer, files: dict[str, bytes]) -> None:
    async with FaultProxy(server.url) as proxy:
        fault = proxy.answer(429, method="POST", path="/v1/chunks/missing", retry_after="0")
        await round_trip(proxy, server, files)
        assert fault.fired == 1


@pytest.mark.parametrize("forward_first", [False, True], ids=["lost-request", "lost-answer"])
async def test_commit_failing_twice_creates_exactly_one_version(
    server: InProcessServer, files: dict[str, bytes], forward_first: bool
) -> None:
    """500 twice on the commit, then success: one version, whether or not the server got it."""
    commit_path = f"/v1/projects/default/artifacts/{NAME}/versions"
    async with FaultProxy(server.url) as proxy:
        fault = proxy.answer(
            500, method="POST", path=commit_path, times=2, forward_first=forward_first
        )
        artifact = await push(proxy.url, files)
        assert fault.fired == 2
        assert artifact.version == "v0"
        assert artifact.aliases == ["latest"]
    assert await versions_on_server(server) == ["v0"]
    assert_same_files(await pull(server.url, Path("direct")), files)


async def test_pack_upload_refused_every_time_exhausts_retries(server: InProcessServer) -> None:
    Path("src").mkdir()
    Path("src/one.bin").write_bytes(random.Random(1).randbytes(200_000))  # a single pack
    async with FaultProxy(server.url) as proxy:
        proxy.answer(503, method="POST", path=PACKS, times=1000, retry_after="0")
        with pytest.raises(asyncart.RetriesExhausted) as info:
            await push(proxy.url, {"one.bin": b""})
    assert info.value.attempts == 3  # ASYNCART_MAX_ATTEMPTS from conftest
    assert isinstance(info.value.last_exception, asyncart.ServiceUnavailable)
    assert "upload of pack" in str(info.value)
    with pytest.raises(asyncart.ArtifactNotFound):
        await versions_on_server(server)


# -- downloads --------------------------------------------------------------------------


async def test_connection_reset_mid_range_download(
    server: InProcessServer, files: dict[str, bytes]
) -> None:
    async with FaultProxy(server.url) as proxy:
        fault = proxy.reset_response(100_000, method="GET", path=PACKS + "/")
        await round_trip(proxy, server, files)
        assert fault.fired == 1


async def test_truncated_range_download(server: InProcessServer, files: dict[str, bytes]) -> None:
    async with FaultProxy(server.url) as proxy:
        fault = proxy.truncate(1000, method="GET", path=PACKS + "/")
        await round_trip(proxy, server, files)
        assert fault.fired == 1


async def test_corrupted_range_download_is_detected_and_fetched_again(
    server: InProcessServer, files: dict[str, bytes]
) -> None:
    async with FaultProxy(server.url) as proxy:
        fault = proxy.corrupt(at_byte=5000, method="GET", path=PACKS + "/", times=2)
        await round_trip(proxy, server, files)
        assert fault.fired == 2


async def test_range_corrupted_every_time_fails_without_leaving_files(
    server: InProcessServer, files: dict[str, bytes]
) -> None:
    await push(server.url, files)
    async with FaultProxy(server.url) as proxy:
        proxy.corrupt(at_byte=10, method="GET", path=PACKS + "/", times=1000)
        with pytest.raises(asyncart.IntegrityError, match="arrived corrupted"):
            await pull(proxy.url, Path("out"))
    # No partial file under a final name, no part file left behind.
    assert [p for p in Path("out").rglob("*") if p.is_file()] == []


async def test_stalled_range_download_times_out_and_is_retried(
    server: InProcessServer, files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    await push(server.url, files)
    monkeypatch.setenv("ASYNCART_IDLE_TIMEOUT", "1")
    async with FaultProxy(server.url) as proxy:
        fault = proxy.stall(120, method="GET", path=PACKS + "/")
        assert_same_files(await pull(proxy.url, Path("out")), files)
        assert fault.fired == 1


# -- failures that must not be retried, and servers that are not there --------------------


def test_unreachable_server_raises_retries_exhausted_naming_the_url() -> None:
    url = closed_port_url()
    with pytest.raises(asyncart.RetriesExhausted) as info:
        asyncart.Api(url=url).artifact(f"{NAME}:v0")
    assert url in str(info.value)
    assert info.value.attempts == 3
    assert isinstance(info.value.last_exception, asyncart.ConnectError)


def test_unknown_artifact_is_not_retried(server: InProcessServer) -> None:
    with running_fault_proxy(server.url) as proxy:
        with pytest.raises(asyncart.ArtifactNotFound, match="nothing here"):
            asyncart.Api(url=proxy.url).artifact("nothing here:v0")
        assert proxy.count("GET", "/v1/projects/default/artifacts/nothing here/") == 1
        assert sum(proxy.injected.values()) == 0


def test_sync_push_and_pull_through_503s(server: InProcessServer, files: dict[str, bytes]) -> None:
    with running_fault_proxy(server.url) as proxy:
        fault = proxy.answer(503, method="GET", path=PACKS + "/", times=2, retry_after="0")
        run = asyncart.init(job_type="push", url=proxy.url)
        artifact = asyncart.Artifact(NAME, type="dataset")
        artifact.add_dir("src")
        run.log_artifact(artifact)
        run.finish()
        out = asyncart.Api(url=proxy.url).artifact(f"{NAME}:v0").download("out")
        assert_same_files(Path(out), files)
        assert fault.fired == 2


# -- slow links and corrupted uploads --------------------------------------------------------


async def test_a_slow_but_moving_download_is_never_aborted_by_the_idle_timeout(
    server: InProcessServer, files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """1 s idle timeout; each range arrives in 16 KiB pieces 0.05 s apart (seconds in total)."""
    await push(server.url, files)
    monkeypatch.setenv("ASYNCART_IDLE_TIMEOUT", "1")
    async with FaultProxy(server.url) as proxy:
        slow = proxy.add(Fault("trickle", method="GET", path=PACKS + "/", seconds=0.05))
        assert_same_files(await pull(proxy.url, Path("out")), files)
        assert slow.fired == 1
        assert proxy.injected.get("trickle") == 1


async def test_a_pack_corrupted_on_its_way_up_is_refused_and_sent_again(
    server: InProcessServer, files: dict[str, bytes]
) -> None:
    async with FaultProxy(server.url) as proxy:
        fault = proxy.add(Fault("corrupt_request", method="POST", path=PACKS, after_bytes=5000))
        await round_trip(proxy, server, files)
        assert fault.fired == 1
        assert proxy.count("POST", PACKS) > 1
