"""Retention policies from the SDK, on both stores and both faces (one core): set with
seconds, a ``timedelta`` or ``"30d"``, read back, cleared; bad values refused before
anything is sent."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

import asyncart
from asyncart import aio
from asyncart.core.retention import RetentionPolicy


def log(name: str) -> None:
    Path("f.txt").write_text(name)
    art = asyncart.Artifact(name, type="model")
    art.add_file("f.txt")
    with asyncart.init(job_type="seed") as run:
        run.log_artifact(art)
    art.wait()


def test_sync_face_sets_reads_and_clears(store: str) -> None:
    log("ckpt")
    collection = asyncart.Api().artifact_collection("model", "ckpt")
    assert collection.retention() is None
    set_ = collection.set_retention(keep_last=3, max_age="30d", keep_aliased=False)
    assert set_ == RetentionPolicy(keep_last=3, max_age=30 * 86400, keep_aliased=False)
    again = asyncart.Api().artifact_collection("model", "ckpt")
    assert again.retention() == set_
    assert again.set_retention(max_age=timedelta(hours=2)).max_age == 7200
    for bad in ({"keep_last": 0}, {"max_age": -5}, {"max_age": "soon"}, {}):
        with pytest.raises(asyncart.ConfigError):
            again.set_retention(**bad)  # type: ignore[arg-type]
    assert again.retention() == RetentionPolicy(max_age=7200)
    assert again.clear_retention() == RetentionPolicy(max_age=7200)
    assert again.retention() is None


async def test_async_face_is_the_same_core(store: str) -> None:
    log("ckpt-async")
    async with aio.Api() as api:
        collection = await api.artifact_collection("model", "ckpt-async")
        assert await collection.set_retention(keep_last=1) == RetentionPolicy(keep_last=1)
        assert await collection.retention() == RetentionPolicy(keep_last=1)
        assert await collection.clear_retention() == RetentionPolicy(keep_last=1)
