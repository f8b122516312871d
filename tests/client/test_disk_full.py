"""A full disk, on the store or here: a clear error, no partial file, and reads go on.

A real full disk needs a small filesystem of its own (root, mount); instead the
processes run with ``RLIMIT_FSIZE``, which fails writes past a size with
``EFBIG`` exactly where a full disk fails them with ``ENOSPC``.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

import asyncart
from asyncart import aio
from tests.support.live_server import limit_file_size, live_server
from tests.support.transfers import use_small_transfers

MiB = 1 << 20


@pytest.fixture(autouse=True)
def small_packs(monkeypatch: pytest.MonkeyPatch) -> None:
    use_small_transfers(monkeypatch, 4 * MiB)


async def _log(url: str, name: str, data: bytes) -> aio.Artifact:
    Path(f"{name}.bin").write_bytes(data)
    async with await aio.init(job_type="t", url=url) as run:
        art = aio.Artifact(name, type="dataset")
        art.add_file(f"{name}.bin")
        await run.log_artifact(art)
    return art


async def test_a_full_store_refuses_the_push_clearly_and_keeps_serving_reads(
    tmp_path: Path,
) -> None:
    rnd = random.Random(3)
    small = rnd.randbytes(MiB)
    with live_server(tmp_path / "store", max_file_size=2 * MiB) as server:
        await _log(server.url, "small", small)
        with pytest.raises(asyncart.DiskFullError, match="store's disk is full"):
            await _log(server.url, "large", rnd.randbytes(12 * MiB))
        async with aio.Api(url=server.url) as api:
            art = await api.artifact("small:v0")
            await art.download(Path("out"))
            assert [c.name for c in await api.artifact_collections()] == ["small"]
        assert Path("out/small.bin").read_bytes() == small
        # Nothing half-written under a final name: fsck finds no problem.
        fsck = await anyio.to_thread.run_sync(_fsck, server.root)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr


def _fsck(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "asyncart",
            "server",
            "fsck",
            "--root",
            str(root),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("size", [12 * MiB, 600_000], ids=["reserved-up-front", "single-write"])
def test_a_pull_onto_a_full_disk_fails_clearly_without_a_final_file(
    tmp_path: Path, size: int
) -> None:
    data = random.Random(size).randbytes(size)
    with live_server(tmp_path / "store") as server:
        Path("model.bin").write_bytes(data)
        run = asyncart.init(job_type="t", url=server.url)
        art = asyncart.Artifact("model", type="model")
        art.add_file("model.bin")
        run.log_artifact(art)
        run.finish()
        pull = [
            sys.executable,
            "-m",
            "asyncart",
            "pull",
            "model:v0",
            "-o",
            "out",
            "--url",
            server.url,
        ]
        full = subprocess.run(
            pull,
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=lambda: limit_file_size(256 << 10),
        )
        assert full.returncode == 1
        assert full.stderr.startswith("asyncart: error: no space left to write"), full.stderr
        assert "free some space" in full.stderr and "Traceback" not in full.stderr
        assert not Path("out/model.bin").exists()
        again = subprocess.run([*pull, "--json"], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert Path("out/model.bin").read_bytes() == data
    assert json.loads(again.stdout)["bytes_downloaded"] <= size
