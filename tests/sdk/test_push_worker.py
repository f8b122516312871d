"""Background pushes in the push worker process (``ASYNCART_PUSH_WORKER``).

The worker is a real child process (``python -m asyncart.client.push_worker``);
tests find it with psutil, prove the pack bytes left from it (its socket to the
fault proxy while the upload is held), kill it mid-push, and kill its parent.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

import asyncart
from asyncart import aio
from asyncart.client.offload import OFFLOAD_MIN_BYTES, should_offload
from asyncart.client.progress import TransferStats
from asyncart.client.push_worker import PROGRESS_INTERVAL
from asyncart.client.scan import FileIdentity
from asyncart.client.upload import SourceFile
from asyncart.config import Settings
from asyncart.sdk import portal, shared
from tests.sdk.test_nonblocking import DEADLINE, Proxy, proxy_to
from tests.support.fault_proxy import Fault
from tests.support.live_server import LiveServer

MiB = 1 << 20
PACKS = "/v1/packs"
WORKER_MODULE = "asyncart.client.push_worker"


@pytest.fixture
def proxy(server: LiveServer) -> Iterator[Proxy]:
    with proxy_to(server.url) as p:
        yield p


@pytest.fixture(autouse=True)
def small_packs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCART_PACK_SIZE", str(MiB))
    monkeypatch.setenv("ASYNCART_CHUNK_SIZE", str(64 << 10))


def workers(parent: int | None = None) -> list[psutil.Process]:
    """The push worker processes started by ``parent`` (default: this process)."""
    found = []
    for child in psutil.Process(parent or os.getpid()).children():
        try:
            if WORKER_MODULE in child.cmdline():
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


def random_file(path: str, size: int, seed: int) -> bytes:
    data = random.Random(seed).randbytes(size)
    Path(path).write_bytes(data)
    return data


# -- which pushes go to the worker ---------------------------------------------------------


def _files(*sizes: int) -> list[SourceFile]:
    return [
        SourceFile(f"f{i}", Path(f"f{i}"), FileIdentity(size, 0, 0, i))
        for i, size in enumerate(sizes)
    ]


@pytest.mark.parametrize(
    ("mode", "sizes", "background", "offloaded"),
    [
        ("auto", (OFFLOAD_MIN_BYTES,), True, True),
        ("auto", (OFFLOAD_MIN_BYTES // 2, OFFLOAD_MIN_BYTES // 2), True, True),
        ("auto", (OFFLOAD_MIN_BYTES - 1,), True, False),
        ("auto", (OFFLOAD_MIN_BYTES,), False, False),  # the caller waits: nothing to spare
        ("always", (1,), False, True),
        ("never", (OFFLOAD_MIN_BYTES * 4,), True, False),
    ],
)
def test_which_pushes_go_to_the_worker(
    mode: str, sizes: tuple[int, ...], background: bool, offloaded: bool
) -> None:
    settings = Settings(push_worker=mode)
    assert should_offload(settings, _files(*sizes), background) is offloaded


def test_an_unknown_mode_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCART_PUSH_WORKER", "sometimes")
    with pytest.raises(asyncart.ConfigError, match=r"ASYNCART_PUSH_WORKER.*'auto'"):
        Settings.from_env()


# -- pushes through the worker ---------------------------------------------------------------


def test_the_worker_sends_the_bytes_at_low_priority_and_commits(
    server: LiveServer, proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASYNCART_PUSH_WORKER", "always")
    gate = proxy.hold("POST", PACKS)
    data = random_file("model.bin", 3 * MiB, 1)
    with asyncart.init(job_type="train", url=proxy.url) as run:
        art = asyncart.Artifact("model", type="model")
        art.add_file("model.bin")
        run.log_artifact(art, aliases=["best"])
        gate.wait_arrived()  # a pack upload is held at the proxy: whose socket is it?
        (worker,) = workers()
        assert worker.nice() == 19
        proxy_port = int(proxy.url.rsplit(":", 1)[1])
        worker_peers = {c.raddr.port for c in worker.net_connections() if c.raddr}
        assert proxy_port in worker_peers
        gate.open()
        art.wait(timeout=DEADLINE)
        assert (art.version, art.aliases) == ("v0", ["latest", "best"])
        assert art.last_transfer.bytes_uploaded == 3 * MiB  # the worker's counts came back
    assert [w.pid for w in workers()] == [worker.pid]  # kept for the next run's pushes
    portal.call(shared.close_shared_clients)  # as at interpreter exit
    assert not _alive(worker.pid)
    out = asyncart.Api(url=server.url).artifact("model:best").download("out")
    assert Path(out, "model.bin").read_bytes() == data


def test_the_embedded_store_takes_a_workers_push(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCART_PUSH_WORKER", "always")
    files = {f"shard-{i}.bin": random_file(f"shard-{i}.bin", MiB + i, 10 + i) for i in range(3)}
    with asyncart.init(job_type="train") as run:
        art = asyncart.Artifact("data", type="dataset")
        for name in files:
            art.add_file(name)
        run.log_artifact(art).wait(timeout=DEADLINE)
        assert len(workers()) == 1  # it stays for the next push, until the run's client closes
        # An unchanged re-log finds every chunk present: same version, nothing uploaded.
        again = asyncart.Artifact("data", type="dataset")
        for name in files:
            again.add_file(name)
        run.log_artifact(again).wait(timeout=DEADLINE)
        assert again.version == "v0" and again.last_transfer.bytes_uploaded == 0
    out = asyncart.Api().artifact("data:latest").download("out")
    assert {n: Path(out, n).read_bytes() for n in files} == files


def test_auto_keeps_small_and_blocking_logs_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    random_file("small.bin", MiB, 2)
    with asyncart.init(job_type="train") as run:
        art = asyncart.Artifact("small", type="model")
        art.add_file("small.bin")
        run.log_artifact(art).wait(timeout=DEADLINE)
        assert workers() == []
        Path("big.bin").write_bytes(os.urandom(OFFLOAD_MIN_BYTES))
        big = asyncart.Artifact("big", type="model")
        big.add_file("big.bin", policy="immutable")
        run.log_artifact(big, wait=True)  # the caller waits anyway: pushed here
        assert workers() == []
        bigger = asyncart.Artifact("big", type="model")
        bigger.add_file("big.bin", policy="immutable")
        bigger.add_file("small.bin")
        run.log_artifact(bigger)  # background and >= 64 MiB: the worker
        assert bigger.wait(timeout=DEADLINE).version == "v1"
        assert len(workers()) == 1


async def test_an_awaited_async_log_is_pushed_in_process(store: str) -> None:
    """``await run.log_artifact`` is a foreground log (issue 19's note): the caller waits, so
    even 64 MiB is pushed here, at the caller's priority, not by the nice-19 worker."""
    data = random_file("big.bin", OFFLOAD_MIN_BYTES, 3)
    async with await aio.init(job_type="push") as run:
        art = aio.Artifact("big", type="model")
        art.add_file("big.bin", policy="immutable")
        await run.log_artifact(art)
        assert art.version == "v0"
        assert workers() == []  # a worker, once started, lives until the client closes
    async with aio.Api() as api:
        pulled = await api.artifact("big:v0")
        assert Path(await pulled.download("out"), "big.bin").read_bytes() == data


async def test_the_async_api_composes_with_gather(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASYNCART_PUSH_WORKER", "always")
    blobs = {i: random_file(f"f{i}.bin", MiB + i, 20 + i) for i in range(3)}
    async with await aio.init(job_type="train") as run:
        arts = []
        for i in blobs:
            art = aio.Artifact(f"part-{i}", type="dataset")
            art.add_file(f"f{i}.bin")
            arts.append(art)
        seen = TransferStats()  # a progress subscriber, fed from the worker's events
        logged = await asyncio.gather(
            run.log_artifact(arts[0], progress=seen), *(run.log_artifact(a) for a in arts[1:])
        )
        assert [a.version for a in logged] == ["v0"] * 3
        assert seen.total_bytes == seen.done_bytes == len(blobs[0])
        assert len(workers()) == 1  # one worker for the client, the pushes ran in it together
    assert workers() == []
    async with aio.Api() as api:
        for i, data in blobs.items():
            art = await api.artifact(f"part-{i}:latest")
            out = await art.download(f"out{i}")
            assert Path(out, f"f{i}.bin").read_bytes() == data


class _CountingProgress(TransferStats):
    """Counts the progress events that reached this process."""

    def __init__(self) -> None:
        super().__init__()
        self.events = 0

    def on_progress(self, nbytes: int) -> None:
        super().on_progress(nbytes)
        self.events += 1


async def test_progress_from_the_worker_is_coalesced_and_complete(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small packs make one progress report per MiB in the worker; the parent, whose
    # event loop needs the GIL for each message, hears a few a second.
    monkeypatch.setenv("ASYNCART_PUSH_WORKER", "always")
    monkeypatch.setenv("ASYNCART_PACK_SIZE", str(MiB))
    data = random_file("big.bin", 48 * MiB, 31)
    seen = _CountingProgress()
    async with await aio.init(job_type="train") as run:
        art = aio.Artifact("big", type="model")
        art.add_file("big.bin", policy="immutable")
        start = time.monotonic()
        await run.log_artifact(art, progress=seen)
        elapsed = time.monotonic() - start
    assert seen.total_bytes == seen.done_bytes == len(data)
    assert 1 <= seen.events <= elapsed / PROGRESS_INTERVAL + 2, (seen.events, elapsed)


# -- errors come back as themselves ---------------------------------------------------------------


def test_a_file_changed_before_the_worker_read_it_is_a_file_changed_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ASYNCART_PUSH_WORKER", "always")
    random_file("ckpt.bin", 2 * MiB, 3)
    with asyncart.init(job_type="train") as run:
        art = asyncart.Artifact("ckpt", type="model")
        art.add_file("ckpt.bin", policy="immutable")
        random_file("ckpt.bin", 2 * MiB + 1, 4)  # broken promise: changed before the upload
        run.log_artifact(art)
        with pytest.raises(asyncart.FileChangedError, match=r"ckpt\.bin"):
            art.wait(timeout=DEADLINE)
        with pytest.raises(asyncart.ArtifactNotFound):
            asyncart.Api().artifact("ckpt:latest")


def test_retries_exhausted_keeps_its_attempts_and_cause(
    server: LiveServer, proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASYNCART_PUSH_WORKER", "always")
    monkeypatch.setenv("ASYNCART_MAX_ATTEMPTS", "2")
    proxy.proxy.add(Fault("status", method="POST", path=PACKS, status=503, times=100))
    random_file("model.bin", MiB, 5)
    run = asyncart.init(job_type="train", url=proxy.url)
    art = asyncart.Artifact("model", type="model")
    art.add_file("model.bin")
    run.log_artifact(art)
    with pytest.raises(asyncart.RetriesExhausted) as caught:
        art.wait(timeout=DEADLINE)
    assert caught.value.attempts == 2
    assert isinstance(caught.value.last_exception, asyncart.ServiceUnavailable)
    assert caught.value.last_exception.status == 503
    run.finish()  # wait() showed the error: finish() does not raise it again


def test_a_worker_killed_mid_push_fails_that_log_and_the_next_log_starts_a_new_one(
    server: LiveServer, proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASYNCART_PUSH_WORKER", "always")
    gate = proxy.hold("POST", PACKS)
    data = random_file("model.bin", 2 * MiB, 6)
    with asyncart.init(job_type="train", url=proxy.url) as run:
        art = asyncart.Artifact("model", type="model")
        art.add_file("model.bin")
        run.log_artifact(art)
        gate.wait_arrived()
        (worker,) = workers()
        worker.kill()
        with pytest.raises(asyncart.PushWorkerError, match=r"exited with code -9.*nothing was"):
            art.wait(timeout=DEADLINE)
        gate.open()
        retry = asyncart.Artifact("model", type="model")
        retry.add_file("model.bin")
        run.log_artifact(retry)
        assert retry.wait(timeout=DEADLINE).version == "v0"
        (second,) = workers()
        assert second.pid != worker.pid
    out = asyncart.Api(url=server.url).artifact("model:v0").download("out")
    assert Path(out, "model.bin").read_bytes() == data


# -- the worker's lifetime follows its parent's ------------------------------------------------

_SCRIPT = textwrap.dedent(
    """
    import sys, asyncart
    run = asyncart.init(job_type="train", url=sys.argv[1])
    art = asyncart.Artifact("model", type="model")
    art.add_file("model.bin")
    run.log_artifact(art)
    print("logged", flush=True)
    if sys.argv[2] == "hang":
        sys.stdin.read()  # killed by the test while the upload is held
    """
)


def _start_script(tmp_path: Path, url: str, how: str) -> subprocess.Popen[str]:
    script = tmp_path / "log.py"
    script.write_text(_SCRIPT)
    return subprocess.Popen(
        [sys.executable, str(script), url, how],
        env=dict(os.environ, ASYNCART_PUSH_WORKER="always"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_exit_without_finish_commits_through_the_worker_and_stops_it(
    server: LiveServer, proxy: Proxy, tmp_path: Path
) -> None:
    gate = proxy.hold("POST", PACKS)
    data = random_file("model.bin", 3 * MiB, 7)
    with _start_script(tmp_path, proxy.url, "exit") as child:
        try:
            gate.wait_arrived()  # sent by the worker, which therefore exists now
            (worker,) = workers(child.pid)
            gate.open()
            out, _ = child.communicate(timeout=DEADLINE)  # exit waits for the upload
            assert (child.returncode, out) == (0, "logged\n")
            psutil.wait_procs([worker], timeout=DEADLINE)
            assert not _alive(worker.pid)
        finally:
            child.kill()
    got = asyncart.Api(url=server.url).artifact("model:latest").download("out")
    assert Path(got, "model.bin").read_bytes() == data


def test_a_killed_parent_takes_its_worker_with_it(
    server: LiveServer, proxy: Proxy, tmp_path: Path
) -> None:
    gate = proxy.hold("POST", PACKS)
    random_file("model.bin", 2 * MiB, 8)
    with _start_script(tmp_path, proxy.url, "hang") as child:
        try:
            gate.wait_arrived()
            (worker,) = workers(child.pid)
            os.kill(child.pid, signal.SIGKILL)
            child.wait(DEADLINE)
            # Orphaned, the worker sees its stdin close, cancels the push and exits.
            psutil.wait_procs([worker], timeout=DEADLINE)
            assert not _alive(worker.pid)
        finally:
            child.kill()
            gate.open()
    with pytest.raises(asyncart.ArtifactNotFound):
        asyncart.Api(url=server.url).artifact("model:latest")


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
