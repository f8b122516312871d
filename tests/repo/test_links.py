"""Links in a real store (files + SQLite or PostgreSQL): metastores/links.py's rules.

A link is a version of a collection of links that reads its source's manifest; gc keeps
what a link reads, a source's deletion takes its links, and the link's project becomes
a holder of the source's chunks (docs/protocol.md §6.4).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from asyncart.core.models import CommitRequest, VersionInfo
from asyncart.errors import (
    ArtifactNotFound,
    ConfigError,
    ConflictError,
    NotFoundError,
    TypeConflict,
    VersionNotFound,
)
from asyncart.repo.gc import collect_garbage
from asyncart.repo.location import StoreLocation
from asyncart.repo.metastores.base import ChunkScope
from asyncart.repo.service import Repository
from tests.repo.test_manifest_addressing import commit as commit_chunked
from tests.support.stores import (
    NAME,
    PROJECT,
    age_store,
    back_to_schema_7,
    data,
    manifest_of,
    pack_files,
    push,
    run_sql,
    upload,
    version_manifest_key,
)

HOUR = 3600.0
TARGET = ("registry", "best")


async def test_a_link_reads_its_sources_manifest_and_has_its_own_index_and_aliases(
    repo: Repository,
) -> None:
    source = await push(repo, {"f": data("f", 3000)}, aliases=("prod",))
    linked = await repo.link_version(PROJECT, NAME, "prod", TARGET, ["gold"])
    assert (linked.project, linked.name, linked.version, linked.created) == (
        "registry",
        "best",
        "v0",
        True,
    )
    assert linked.aliases == ("latest", "gold")
    assert linked.source is not None and linked.source.qualified_name == source.qualified_name
    assert (linked.digest, linked.size, linked.file_count) == (
        source.digest,
        source.size,
        source.file_count,
    )
    assert await version_manifest_key(repo, linked) == await version_manifest_key(repo, source)
    assert (await repo.get_version(PROJECT, NAME, "v0")).aliases == ("latest", "prod")
    assert [v.qualified_name for v in await repo.list_links(PROJECT, NAME, "v0")] == [
        "registry/best:v0"
    ]


async def test_linking_again_returns_the_link_and_latest_is_the_newest_link(
    repo: Repository,
) -> None:
    await push(repo, {"f": data("a", 1000)})
    await push(repo, {"f": data("b", 1000)})
    first = await repo.link_version(PROJECT, NAME, "v0", TARGET, [])
    second = await repo.link_version(PROJECT, NAME, "v1", TARGET, [])
    again = await repo.link_version(PROJECT, NAME, "v0", TARGET, ["back"])
    assert (first.index, second.index, again.index, again.created) == (0, 1, 0, False)
    assert again.aliases == ("latest", "back")  # a link moves latest as a commit does
    assert [v.index for v in await repo.list_versions(*TARGET)] == [0, 1]


async def test_a_links_project_holds_the_sources_chunks(repo: Repository) -> None:
    await push(repo, {"f": data("f", 3000)})
    hashes = list(manifest_of({"f": data("f", 3000)})[1])
    reader = ChunkScope(projects=frozenset({"registry"}), uploader="someone")
    assert set(await repo.missing_chunks(hashes, scope=reader)) == set(hashes)
    await repo.link_version(PROJECT, NAME, "v0", TARGET, [])
    assert await repo.missing_chunks(hashes, scope=reader) == []


async def test_deleting_a_source_deletes_its_links(repo: Repository) -> None:
    await push(repo, {"f": data("a", 1000)})
    await push(repo, {"f": data("b", 1000)})
    await repo.link_version(PROJECT, NAME, "v0", TARGET, [])
    await repo.link_version(PROJECT, NAME, "v1", TARGET, [])
    await repo.link_version(PROJECT, NAME, "v1", ("other", "coll"), [])
    await repo.delete_version(PROJECT, NAME, "v1")
    assert [(v.index, v.aliases) for v in await repo.list_versions(*TARGET)] == [(0, ("latest",))]
    assert await repo.list_collections("other") == []
    await repo.delete_collection(PROJECT, NAME)
    assert await repo.list_collections("registry") == []


async def test_unlink_removes_the_link_only_and_refuses_a_logged_version(
    repo: Repository,
) -> None:
    await push(repo, {"f": data("a", 1000)})
    await repo.link_version(PROJECT, NAME, "v0", TARGET, [])
    with pytest.raises(ConfigError, match="not a linked artifact"):
        await repo.unlink_version(PROJECT, NAME, "v0")
    gone = await repo.unlink_version(*TARGET, "latest")
    assert gone.index == 0
    with pytest.raises(ArtifactNotFound, match="no artifact 'best'"):
        await repo.get_version(*TARGET, "v0")
    assert (await repo.get_version(PROJECT, NAME, "v0")).index == 0
    again = await repo.link_version(PROJECT, NAME, "v0", TARGET, [])
    assert again.index == 1  # numbers are never reused
    with pytest.raises(VersionNotFound):
        await repo.get_version(*TARGET, "v0")


async def test_links_and_logged_versions_keep_to_their_own_collections(repo: Repository) -> None:
    await push(repo, {"f": data("a", 1000)})
    await push(repo, {"f": data("b", 1000)}, name="other")
    with pytest.raises(ConflictError, match="not links"):
        await repo.link_version(PROJECT, NAME, "v0", (PROJECT, "other"), [])
    with pytest.raises(ConfigError, match="its own collection"):
        await repo.link_version(PROJECT, NAME, "v0", (PROJECT, NAME), [])
    await repo.link_version(PROJECT, NAME, "v0", (PROJECT, "portfolio"), [])
    with pytest.raises(ConflictError, match="collection of links"):
        await push(repo, {"f": data("c", 1000)}, name="portfolio")


async def test_a_link_of_another_type_is_refused(repo: Repository) -> None:
    await push(repo, {"f": data("a", 1000)})
    await repo.link_version(PROJECT, NAME, "v0", TARGET, [])
    manifest, chunks = manifest_of({"g": data("g", 1000)})
    await upload(repo, chunks.values())
    await repo.commit(CommitRequest(PROJECT, "a-model", "model", manifest))
    with pytest.raises(TypeConflict, match="links versions of type"):
        await repo.link_version(PROJECT, "a-model", "v0", TARGET, [])


async def test_gc_keeps_what_a_link_reads_and_frees_it_with_its_source(
    repo: Repository, location: StoreLocation, root: Path
) -> None:
    await push(repo, {"f": data("f", 5000)})
    await repo.link_version(PROJECT, NAME, "v0", TARGET, [])
    await age_store(location, 2 * HOUR)
    report = await collect_garbage(repo, grace=HOUR)
    assert (report.deleted_packs, report.deleted_manifests) == (0, 0)
    info, blob = await repo.get_manifest_blob(*TARGET, "v0")
    assert info.source is not None and blob and len(pack_files(root)) == 1

    await repo.delete_version(PROJECT, NAME, "v0")
    await age_store(location, 2 * HOUR)
    report = await collect_garbage(repo, grace=HOUR)
    assert (report.deleted_packs, report.deleted_manifests) == (1, 1)
    assert pack_files(root) == []


async def test_a_link_made_while_its_source_is_deleted_never_outlives_it(
    repo: Repository,
) -> None:
    """Concurrent link and delete (PostgreSQL may run them at once): whichever comes
    first, the deletion succeeds and no link is left (it went with its source, or found
    no source)."""
    for round_ in range(4):
        name = f"raced-{round_}"
        await push(repo, {"f": data(name, 1000)}, name=name)
        outcomes = await asyncio.gather(
            repo.link_version(PROJECT, name, "v0", ("raced", name), []),
            repo.delete_version(PROJECT, name, "v0"),
            return_exceptions=True,
        )
        assert not isinstance(outcomes[1], BaseException), outcomes
        assert isinstance(outcomes[0], (VersionInfo, NotFoundError)), outcomes
        assert await repo.list_collections("raced") == []


async def test_pushing_again_repairs_a_lost_manifest_for_the_links_too(repo: Repository) -> None:
    """A lost manifest object replaced by a new push of the same files (fsck's repair,
    ``test_manifest_addressing.py``) is the one the version's links read too."""
    files = {"f": data("lost", 3000)}
    await commit_chunked(repo, files, PROJECT)
    await repo.link_version(PROJECT, NAME, "v0", TARGET, [])
    await repo.blobs.delete(await version_manifest_key(repo, await repo.get_version(*TARGET, "v0")))
    again, rechunked = await commit_chunked(repo, files, PROJECT, chunk=512)
    assert not again.created
    _, blob = await repo.get_manifest_blob(*TARGET, "v0")
    assert blob == rechunked.encode()


async def test_a_schema_7_store_migrates_to_links(location: StoreLocation) -> None:
    """Migration 8 adds ``versions.source_id``: versions logged before it are no links,
    and can be linked."""
    repo = await Repository.open(location)
    try:
        await push(repo, {"f": data("old", 1000)})
    finally:
        await repo.close()
    await back_to_schema_7(location.db)
    assert [
        r.version
        for r in await run_sql(location.db, "SELECT MAX(version) AS version FROM schema_version")
    ] == [7]
    repo = await Repository.open(location)
    try:
        old = await repo.get_version(PROJECT, NAME, "v0")
        assert old.source is None
        linked = await repo.link_version(PROJECT, NAME, "v0", TARGET, [])
        assert linked.source is not None and linked.source.index == 0
    finally:
        await repo.close()
