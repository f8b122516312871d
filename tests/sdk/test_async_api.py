"""The async API inside an asyncio program: the same core, composable with gather."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

import asyncart
from asyncart import aio
from asyncart.client.progress import TransferStats
from asyncart.sdk import portal


async def test_log_several_artifacts_concurrently_and_read_back(store: str) -> None:
    for i in range(3):
        Path(f"f{i}.bin").write_bytes(os.urandom(200_000 + i))
    async with await aio.init(job_type="train", config={"lr": 0.1}) as run:
        assert run.config == {"lr": 0.1}
        arts = []
        for i in range(3):
            art = aio.Artifact(f"part-{i}", type="dataset", metadata={"i": i})
            art.add_file(f"f{i}.bin")
            arts.append(art)
        logged = await asyncio.gather(*(run.log_artifact(a, aliases=["fresh"]) for a in arts))
        assert [a.version for a in logged] == ["v0", "v0", "v0"]
        assert all(a.aliases == ["latest", "fresh"] for a in logged)
        used = await run.use_artifact("part-1:fresh", type="dataset")
        assert used.metadata == {"i": 1}
        out = await used.download("out")
        assert Path(out, "f1.bin").read_bytes() == Path("f1.bin").read_bytes()
        await used.verify("out")
        Path(out, "f1.bin").write_bytes(b"tampered")
        with pytest.raises(asyncart.IntegrityError, match=r"f1\.bin"):
            await used.verify("out")
    assert run.info.status == "finished"
    async with aio.Api() as api:
        cols = await api.artifact_collections()
        assert sorted(c.name for c in cols) == ["part-0", "part-1", "part-2"]
        art = await api.artifact("part-2")
        assert (await art.logged_by()) is not None
        assert [r.id for r in await art.used_by()] == []


async def test_failed_block_marks_run_failed(store: str) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with await aio.init(job_type="train") as run:
            raise RuntimeError("boom")
    assert run.info.status == "failed"


async def test_sync_api_inside_a_running_event_loop_does_not_deadlock() -> None:
    """The sync facade runs on its own loop thread, so calling it from async code works."""
    Path("a.txt").write_bytes(b"a")
    run = asyncart.init(job_type="t")
    art = asyncart.Artifact("x", type="dataset")
    art.add_file("a.txt")
    run.log_artifact(art)
    run.finish()
    assert art.version == "v0"


def test_sync_call_from_the_portal_thread_raises_instead_of_deadlocking() -> None:
    portal.portal()
    errors: list[BaseException] = []

    async def inside() -> None:
        try:
            asyncart.init(job_type="t")
        except RuntimeError as exc:
            errors.append(exc)

    portal.call(inside)
    assert errors and "asyncart.aio" in str(errors[0])
    assert threading.current_thread() is not portal._thread


async def test_download_reports_progress_and_a_log_says_whether_it_made_a_version(
    store: str,
) -> None:
    """The public calls the CLI's push and pull use: ``is_new_version``, ``download(progress=)``."""
    Path("a.bin").write_bytes(os.urandom(100_000))
    async with await aio.init(job_type="train") as run:
        first = aio.Artifact("data", type="dataset")
        assert first.is_new_version is None  # a draft
        first.add_file("a.bin")
        assert (await run.log_artifact(first)).is_new_version is True
        again = aio.Artifact("data", type="dataset")
        again.add_file("a.bin")
        assert (await run.log_artifact(again)).is_new_version is False  # same content: v0
        assert again.version == "v0"
    async with aio.Api() as api:
        fetched = await api.artifact("data:v0")
        assert fetched.is_new_version is False
        heard = TransferStats()
        await fetched.download("out", progress=heard)
    assert heard.total_bytes == heard.done_bytes == 100_000
    assert fetched.last_transfer is not None
    assert fetched.last_transfer.bytes_downloaded == 100_000
