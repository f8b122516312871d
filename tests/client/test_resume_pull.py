"""Resumable pulls: an interrupted pull keeps its verified chunks; a run again fetches the rest."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import asyncart
from asyncart import aio
from asyncart.client import journal
from tests.support.cli import run_cli
from tests.support.fault_proxy import FaultProxy, running_fault_proxy
from tests.support.live_server import LiveServer
from tests.support.transfers import use_small_transfers

MiB = 1 << 20
PACKS = "/v1/packs/"
SIZE = 12 * MiB


@pytest.fixture(autouse=True)
def small_transfers(monkeypatch: pytest.MonkeyPatch) -> None:
    """1 MiB packs and ranges taken one at a time, so an interruption point is exact."""
    use_small_transfers(monkeypatch, MiB, one_at_a_time=True)


@pytest.fixture
def model(server: LiveServer) -> bytes:
    data = random.Random(11).randbytes(SIZE)
    Path("model.bin").write_bytes(data)
    run = asyncart.init(job_type="train", url=server.url)
    art = asyncart.Artifact("model", type="model")
    art.add_file("model.bin")
    run.log_artifact(art)
    run.finish()
    return data


async def _pull(url: str, out: Path) -> aio.Artifact:
    async with aio.Api(url=url) as api:
        art = await api.artifact("model:v0")
        await art.download(out)
        return art


async def test_a_pull_broken_part_way_resumes_from_its_verified_chunks(
    server: LiveServer, model: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = Path("out")
    monkeypatch.setenv("ASYNCART_MAX_ATTEMPTS", "1")
    async with FaultProxy(server.url) as proxy:
        # Five ranges arrive, then the connection breaks on every later one.
        proxy.reset_response(1000, method="GET", path=PACKS, skip=5, times=1000)
        with pytest.raises(asyncart.RetriesExhausted):
            await _pull(proxy.url, out)
    part, log = out / "model.bin.asyncart-part", journal.journal_path(out / "model.bin")
    assert part.exists() and log.exists()
    assert not (out / "model.bin").exists()  # never a partial file under the final name

    monkeypatch.setenv("ASYNCART_MAX_ATTEMPTS", "3")
    async with FaultProxy(server.url) as proxy:
        art = await _pull(proxy.url, out)
        ranges_fetched = proxy.count("GET", PACKS)
    stats = art.last_transfer
    assert stats is not None
    assert (out / "model.bin").read_bytes() == model
    assert not part.exists() and not log.exists()
    assert stats.bytes_resumed >= 4 * MiB  # at least four of the five ranges were kept
    assert stats.bytes_resumed + stats.bytes_downloaded == SIZE
    assert ranges_fetched < SIZE // MiB


async def test_a_part_file_whose_journal_belongs_to_other_bytes_is_discarded(
    server: LiveServer, model: bytes
) -> None:
    out = Path("out")
    out.mkdir()
    (out / "model.bin.asyncart-part").write_bytes(b"\0" * SIZE)
    journal.start(journal.journal_path(out / "model.bin"), "ab" * 32, SIZE)  # another file
    journal.append(journal.journal_path(out / "model.bin"), [(0, SIZE)])
    art = await _pull(server.url, out)
    assert art.last_transfer is not None and art.last_transfer.bytes_resumed == 0
    assert (out / "model.bin").read_bytes() == model


async def test_a_journal_claiming_bytes_that_are_not_there_is_not_trusted(
    server: LiveServer, model: bytes
) -> None:
    out = Path("out")
    out.mkdir()
    # The right file's journal, but the part file holds the wrong bytes in its second MiB.
    part = bytearray(model)
    part[MiB : 2 * MiB] = os.urandom(MiB)
    (out / "model.bin.asyncart-part").write_bytes(part)
    digest = await _manifest_digest(server.url)
    journal.start(journal.journal_path(out / "model.bin"), digest, SIZE)
    journal.append(journal.journal_path(out / "model.bin"), [(0, SIZE)])
    art = await _pull(server.url, out)
    stats = art.last_transfer
    assert stats is not None
    assert (out / "model.bin").read_bytes() == model
    assert 0 < stats.bytes_downloaded < 3 * MiB  # only the damaged chunks came again
    assert stats.bytes_resumed == SIZE - stats.bytes_downloaded


async def _manifest_digest(url: str) -> str:
    async with aio.Api(url=url) as api:
        manifest = await api.client._remote.get_manifest("default", "model", "v0")
        entry = manifest.get("model.bin")
        assert entry is not None
        return entry.digest


def test_a_killed_cli_pull_resumes(server: LiveServer, model: bytes) -> None:
    """SIGKILL a real `asyncart pull` mid-transfer (the proxy stalls it), then pull again."""
    out = Path("out")
    with _stalling_proxy(server.url) as proxy_url:
        proc = subprocess.Popen(
            [sys.executable, "-m", "asyncart", *_pull_args(out, proxy_url)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            log = journal.journal_path(out / "model.bin")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # wait until chunks are journaled
                if log.exists() and log.stat().st_size > 100:
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the pull never journaled a chunk")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
    result = run_cli(*_pull_args(out, server.url), "--json")
    assert result.returncode == 0, result.stderr
    assert (out / "model.bin").read_bytes() == model
    report = json.loads(result.stdout)
    assert report["bytes_resumed"] > 0
    assert report["bytes_resumed"] + report["bytes_downloaded"] == SIZE


def _pull_args(out: Path, url: str) -> tuple[str, ...]:
    return ("pull", "model:v0", "-o", str(out), "--url", url)


@contextmanager
def _stalling_proxy(target: str) -> Iterator[str]:
    """A fault proxy (in its own thread) that lets 3 ranges through, then stalls the rest."""
    with running_fault_proxy(target) as proxy:
        proxy.stall(300, method="GET", path=PACKS, skip=3, times=1000)
        yield proxy.url
