"""Resumable pushes: a push killed part-way and run again sends only what the store lacks.

The store's answer to "which of these chunks are missing?" is the journal: packs
that arrived before the kill are stored and indexed, so the second push skips
their chunks, and the version is committed once.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from asyncart import aio
from tests.support.fault_proxy import Fault, FaultProxy, running_fault_proxy
from tests.support.live_server import LiveServer
from tests.support.transfers import use_small_transfers

MiB = 1 << 20
SIZE = 12 * MiB


@pytest.fixture(autouse=True)
def one_pack_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """1 MiB packs sent one after another, so "three packs arrived" is exact."""
    use_small_transfers(monkeypatch, MiB, one_at_a_time=True)


def _push(url: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "asyncart",
            "push",
            "model.bin",
            "--name",
            "model",
            "--type",
            "model",
            "--url",
            url,
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_killed_push_run_again_sends_only_the_rest(server: LiveServer) -> None:
    Path("model.bin").write_bytes(random.Random(5).randbytes(SIZE))
    with running_fault_proxy(server.url) as proxy:
        proxy.stall(300, method="POST", path="/v1/packs", skip=3, times=1000)
        first = _push(proxy.url)
        try:
            deadline = time.monotonic() + 60
            while proxy.count("POST", "/v1/packs") < 4:  # three stored, the fourth stalled
                assert time.monotonic() < deadline, "the push never reached its fourth pack"
                assert first.poll() is None, first.communicate()
                time.sleep(0.05)
        finally:
            first.send_signal(signal.SIGKILL)
            first.communicate(timeout=30)

    second = _push(server.url, "--json")
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    report = json.loads(out)
    assert report["version"] == "v0" and report["created"] is True
    assert report["bytes_skipped"] >= 3 * MiB * 9 // 10  # the three packs that arrived
    assert report["bytes_uploaded"] + report["bytes_skipped"] == SIZE
    assert _versions(server.url) == ["v0"]


def _versions(url: str) -> list[str]:
    async def versions() -> list[str]:
        async with aio.Api(url=url) as api:
            return [v.version for v in await api.artifact_versions("model")]

    return anyio.run(versions)


async def test_a_commit_that_lost_its_chunks_to_gc_is_pushed_again_and_committed(
    server: LiveServer,
) -> None:
    """gc removes the packs between the push's 'missing' answer and its commit."""
    data = random.Random(6).randbytes(3 * MiB)
    Path("model.bin").write_bytes(data)
    commit_path = "/v1/projects/default/artifacts/model/versions"
    async with FaultProxy(server.url) as proxy:
        gate = asyncio.Event()
        proxy.add(Fault("stall", method="POST", path=commit_path, seconds=120, gate=gate))

        async def log() -> aio.Artifact:
            async with await aio.init(job_type="t", url=proxy.url) as run:
                art = aio.Artifact("model", type="model")
                art.add_file("model.bin")
                await run.log_artifact(art)
            return art

        task = asyncio.ensure_future(log())
        deadline = time.monotonic() + 60
        while proxy.count("POST", commit_path) < 1:  # the commit is held at the proxy
            assert time.monotonic() < deadline and not task.done()
            await asyncio.sleep(0.05)
        gc = await anyio.to_thread.run_sync(_gc, server.root)
        assert gc.returncode == 0, gc.stdout + gc.stderr
        gate.set()
        art = await task
    stats = art.last_transfer
    assert art.version == "v0" and stats is not None
    assert stats.bytes_uploaded == 2 * len(data)  # every chunk went twice: before and after gc
    async with aio.Api(url=server.url) as api:
        assert [v.version for v in await api.artifact_versions("model")] == ["v0"]


def _gc(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asyncart", "server", "gc", "--root", str(root), "--grace", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
