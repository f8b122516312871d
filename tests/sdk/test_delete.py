"""Deleting through the SDK, sync and async, on the embedded store and a server subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest

import asyncart
from asyncart import aio
from asyncart.errors import ArtifactNotFound, ConfigError, ConflictError, VersionNotFound


def log(content: bytes, aliases: list[str] | None = None) -> asyncart.Artifact:
    Path("weights.bin").write_bytes(content)
    run = asyncart.init(job_type="train")
    artifact = asyncart.Artifact("bike model", type="model")
    artifact.add_file("weights.bin")
    run.log_artifact(artifact, aliases=aliases)
    run.finish()
    return artifact


def versions(api: asyncart.Api) -> list[tuple[str, list[str]]]:
    return [(v.version, list(v.aliases)) for v in api.artifact_versions("bike model")]


def test_sync_delete(store: str) -> None:
    log(b"zero", aliases=["production"])
    log(b"one")
    api = asyncart.Api()
    old = api.artifact("bike model:v0")
    with pytest.raises(ConflictError, match="production"):
        old.delete()
    old.delete(delete_aliases=True)
    assert versions(api) == [("v1", ["latest"])]
    with pytest.raises(ConfigError, match="deleted"):
        old.download("out")
    with pytest.raises(VersionNotFound):
        api.artifact("bike model:v0")

    api.artifact("bike model:latest").delete()
    with pytest.raises(ArtifactNotFound):
        api.artifact("bike model")
    assert log(b"two").version == "v2"  # never v0 again
    assert [v.version for v in api.delete_artifact("bike model")] == ["v2"]
    assert api.artifact_collections() == []


async def test_async_delete(store: str) -> None:
    Path("weights.bin").write_bytes(b"zero")
    async with await aio.init(job_type="train") as run:
        for content in (b"zero", b"one"):
            Path("weights.bin").write_bytes(content)
            artifact = aio.Artifact("bike model", type="model")
            artifact.add_file("weights.bin")
            await run.log_artifact(artifact)
    async with aio.Api() as api:
        newest = await api.artifact("bike model")
        await newest.delete()
        remaining = await api.artifact_versions("bike model")
        assert [(v.version, v.aliases) for v in remaining] == [("v0", ("latest",))]
        deleted = await api.delete_artifact("bike model")
        assert [v.version for v in deleted] == ["v0"]
        assert await api.artifact_collections() == []


def test_delete_one_version_by_reference(store: str) -> None:
    """``Api.delete_version`` (what ``asyncart delete NAME:REF`` calls): no manifest fetched,
    the version returned as it was."""
    log(b"zero", aliases=["production"])
    log(b"one")
    api = asyncart.Api()
    with pytest.raises(ConflictError, match="production"):
        api.delete_version("bike model:production")
    deleted = api.delete_version("bike model:production", delete_aliases=True)
    assert (deleted.version, list(deleted.aliases)) == ("v0", ["production"])
    assert versions(api) == [("v1", ["latest"])]
    with pytest.raises(VersionNotFound):
        api.delete_version("bike model:v0")


async def test_async_delete_one_version_by_reference(store: str) -> None:
    log(b"zero")
    async with aio.Api() as api:
        deleted = await api.delete_version(f"{api.default_project}/bike model:v0")
        assert deleted.version == "v0"
        assert await api.artifact_collections() == []
