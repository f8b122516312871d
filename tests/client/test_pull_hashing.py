"""A pull hashes each file from the bytes it received, in order, and reads none back.

Ranges go out in the order their files need them, and none runs further ahead of its
file's hashing point than the bytes the process may hold for it
(``download._HashWindow``): the part file is never read to compute its digest.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

import asyncart
from asyncart import aio
from asyncart.client import assembly, download
from asyncart.client.assembly import PartFile
from tests.support.live_server import LiveServer
from tests.support.transfers import use_small_transfers

MiB = 1 << 20


async def test_a_pull_of_many_packs_reads_none_of_its_file_back(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_small_transfers(monkeypatch, MiB)  # a dozen packs, fetched 4 at a time
    monkeypatch.setenv("ASYNCART_CONCURRENCY", "4")
    data = random.Random(19).randbytes(12 * MiB)
    Path("model.bin").write_bytes(data)
    run = asyncart.init(job_type="train", url=server.url)
    art = asyncart.Artifact("model", type="model")
    art.add_file("model.bin")
    run.log_artifact(art)
    run.finish()
    # Room for three ranges ahead of the hashing point, not for the whole file.
    monkeypatch.setattr(download, "HOLD_BUDGET", 3 * MiB)
    monkeypatch.setattr(assembly._budget, "limit", 3 * MiB)
    read_back: list[tuple[int, int]] = []
    real = PartFile._hash_region

    def counting(self: PartFile, start: int, end: int) -> None:
        read_back.append((start, end))
        real(self, start, end)

    monkeypatch.setattr(PartFile, "_hash_region", counting)
    async with aio.Api(url=server.url) as api:
        pulled = await api.artifact("model:v0")
        await pulled.download(Path("out"))
    assert (Path("out") / "model.bin").read_bytes() == data
    assert read_back == []
    assert assembly._budget.held == 0
