"""Deleting versions and artifacts in a real store (files + SQLite or PostgreSQL): docs/gc.md."""

from __future__ import annotations

from dataclasses import replace

import pytest

from asyncart.errors import (
    AliasNotFound,
    ArtifactNotFound,
    ConflictError,
    VersionNotFound,
)
from asyncart.repo.service import Repository
from tests.support.stores import NAME, PROJECT, commit_request, manifest_of, push, upload


async def indexes(repo: Repository, name: str = NAME) -> list[tuple[int, tuple[str, ...]]]:
    return [(v.index, v.aliases) for v in await repo.list_versions(PROJECT, name)]


async def test_deleting_the_latest_version_moves_latest_to_the_newest_remaining(
    repo: Repository,
) -> None:
    for n in range(3):
        await push(repo, {"f": b"content %d" % n})
    deleted = await repo.delete_version(PROJECT, NAME, "latest")
    assert (deleted.index, deleted.aliases) == (2, ("latest",))
    assert await indexes(repo) == [(0, ()), (1, ("latest",))]
    with pytest.raises(VersionNotFound, match="v0, v1"):
        await repo.get_version(PROJECT, NAME, "v2")


async def test_deleting_an_older_version_leaves_latest_alone(repo: Repository) -> None:
    for n in range(3):
        await push(repo, {"f": b"content %d" % n})
    await repo.delete_version(PROJECT, NAME, "v1")
    assert await indexes(repo) == [(0, ()), (2, ("latest",))]


async def test_latest_moves_to_the_highest_index_even_if_it_was_elsewhere(
    repo: Repository,
) -> None:
    for n in range(3):
        await push(repo, {"f": b"content %d" % n})
    await push(repo, {"f": b"content 0"})  # re-logging v0's content moves latest back to v0
    assert await indexes(repo) == [(0, ("latest",)), (1, ()), (2, ())]
    await repo.delete_version(PROJECT, NAME, "v0")
    assert await indexes(repo) == [(1, ()), (2, ("latest",))]


async def test_version_numbers_are_never_reused(repo: Repository) -> None:
    await push(repo, {"f": b"zero"})
    await push(repo, {"f": b"one"})
    await repo.delete_version(PROJECT, NAME, "v1")
    await repo.delete_version(PROJECT, NAME, "v0")
    with pytest.raises(ArtifactNotFound):  # no versions left: the artifact is gone
        await repo.list_versions(PROJECT, NAME)
    assert await repo.list_collections(PROJECT) == []

    again = await push(repo, {"f": b"one"})  # even the same content gets a new number
    assert (again.index, again.created, again.aliases) == (2, True, ("latest",))
    assert await indexes(repo) == [(2, ("latest",))]


async def test_a_version_with_aliases_is_refused_unless_they_go_too(repo: Repository) -> None:
    await push(repo, {"f": b"zero"}, aliases=("production", "best"))
    await push(repo, {"f": b"one"})
    with pytest.raises(ConflictError, match=r"best \(v0\), production \(v0\).*delete_aliases"):
        await repo.delete_version(PROJECT, NAME, "v0")
    with pytest.raises(ConflictError, match="production"):
        await repo.delete_version(PROJECT, NAME, "production")
    assert await indexes(repo) == [(0, ("best", "production")), (1, ("latest",))]

    deleted = await repo.delete_version(PROJECT, NAME, "production", delete_aliases=True)
    assert (deleted.index, deleted.aliases) == (0, ("best", "production"))
    assert await indexes(repo) == [(1, ("latest",))]
    with pytest.raises(AliasNotFound, match="latest"):
        await repo.get_version(PROJECT, NAME, "best")


async def test_deleting_a_version_drops_its_lineage(repo: Repository) -> None:
    run = await repo.create_run(PROJECT, "train")
    await push(repo, {"f": b"zero"})
    await repo.use_version(run.id, PROJECT, NAME, "v0")
    await repo.delete_version(PROJECT, NAME, "v0")
    assert await repo.run_inputs(run.id) == []


async def test_delete_collection_removes_every_version(repo: Repository) -> None:
    await push(repo, {"f": b"zero"}, aliases=("best",))
    await push(repo, {"f": b"one"})
    await push(repo, {"g": b"other"}, name="other")
    with pytest.raises(ConflictError, match=r"best \(v0\)"):
        await repo.delete_collection(PROJECT, NAME)
    assert len(await repo.list_versions(PROJECT, NAME)) == 2

    deleted = await repo.delete_collection(PROJECT, NAME, delete_aliases=True)
    assert [v.index for v in deleted] == [0, 1]
    with pytest.raises(ArtifactNotFound, match="artifacts: other"):  # lists what remains
        await repo.get_version(PROJECT, NAME, "latest")
    assert [c.name for c in await repo.list_collections(PROJECT)] == ["other"]
    with pytest.raises(ArtifactNotFound):
        await repo.delete_collection(PROJECT, NAME)

    # The name is free again, with any type, and continues the numbering.
    assert (await push(repo, {"f": b"new"})).index == 2


async def test_an_emptied_collection_takes_a_new_type(repo: Repository) -> None:
    await push(repo, {"f": b"zero"})
    await repo.delete_collection(PROJECT, NAME)
    manifest, chunks = manifest_of({"m": b"model"})
    await upload(repo, chunks.values())
    info = await repo.commit(replace(commit_request(manifest), type="model"))
    assert (info.type, info.index) == ("model", 1)


async def test_deleting_what_does_not_exist_names_it(repo: Repository) -> None:
    await push(repo, {"f": b"zero"})
    with pytest.raises(VersionNotFound, match="v7"):
        await repo.delete_version(PROJECT, NAME, "v7")
    with pytest.raises(ArtifactNotFound, match="nothing"):
        await repo.delete_version(PROJECT, "nothing", "v0")
    with pytest.raises(AliasNotFound, match="gold"):
        await repo.delete_version(PROJECT, NAME, "gold")
