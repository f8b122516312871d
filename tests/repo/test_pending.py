"""Distributed versions in the repository (``repo/distributed.py``, ``metastores/pending.py``)
on SQLite and PostgreSQL: parts merge into one pending version, conflicts are refused
whole, the finish commits once (a retried finish answers its version), a part sent
after the finish read the parts starts the next version, and gc keeps pending chunks.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from asyncart.core.chunking import ChunkerSpec, chunk_bytes
from asyncart.core.manifest import Manifest, ManifestEntry
from asyncart.core.models import CommitRequest
from asyncart.errors import ChunkMissing, ConfigError, DistributedConflict, TypeConflict
from asyncart.repo.gc import collect_garbage
from asyncart.repo.location import StoreLocation
from asyncart.repo.service import Repository
from tests.support.packs import h, pack_body, ref_of
from tests.support.stores import back_to_schema_6

SPEC = ChunkerSpec.fixed(1024)


async def one(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def stored(repo: Repository, files: dict[str, bytes]) -> Manifest:
    """Upload the chunks of ``files`` (one pack); their manifest."""
    entries, unique = [], {}
    for path, data in files.items():
        chunks = chunk_bytes(data, SPEC)
        unique.update({h(c): c for c in chunks})
        entries.append(ManifestEntry.for_file(path, len(data), h(data), map(ref_of, chunks)))
    _, body = pack_body(list(unique.values()))
    await repo.put_pack(one(body))
    return Manifest(entries=tuple(entries), chunker=SPEC)


def req(manifest: Manifest, run_id: str | None = None, **kw: object) -> CommitRequest:
    fields: dict[str, Any] = {"project": "p", "name": "ddp", "type": "dataset", **kw}
    return CommitRequest(manifest=manifest, run_id=run_id, **fields)


async def test_parts_merge_and_finish_commits_once(repo: Repository) -> None:
    runs = [await repo.create_run("p", "ddp", group="g") for _ in range(3)]
    first = await repo.upsert_pending(
        req(await stored(repo, {"a": b"a" * 3000}), runs[0].id, aliases=("best",)), "job"
    )
    assert (first.parts, first.file_count, first.state) == (1, 1, "PENDING")
    second = await repo.upsert_pending(
        req(await stored(repo, {"b": b"b" * 10}), runs[1].id, metadata={"k": 1}), "job"
    )
    assert (second.parts, second.file_count, second.size) == (2, 2, 3010)
    assert second.runs == (runs[0].id, runs[1].id)
    assert await repo.list_collections("p") == []
    token = secrets.token_hex(16)
    info = await repo.finish_pending(
        req(await stored(repo, {"c": b"c"}), runs[2].id), "job", token=token
    )
    assert (info.version, info.file_count, info.created) == ("v0", 3, True)
    assert info.aliases == ("latest", "best") and info.metadata == {"k": 1}
    assert info.created_by == runs[2].id
    producers = await repo.version_producers("p", "ddp", "v0")
    assert producers[0].id == runs[2].id
    assert {r.id for r in producers} == {r.id for r in runs}
    again = await repo.finish_pending(req(Manifest(())), "job", token=token)
    assert (again.version, again.digest) == ("v0", info.digest)
    assert [v.version for v in await repo.list_versions("p", "ddp")] == ["v0"]
    with pytest.raises(ConfigError, match="nothing to finish"):
        await repo.finish_pending(req(Manifest(())), "job", token=secrets.token_hex(16))


async def test_a_conflicting_part_is_refused_whole(repo: Repository) -> None:
    await repo.upsert_pending(req(await stored(repo, {"shared": b"one"})), "job")
    clash = await stored(repo, {"shared": b"two", "mine": b"mine"})
    with pytest.raises(DistributedConflict, match="shared"):
        await repo.upsert_pending(req(clash), "job")
    same = await repo.upsert_pending(req(await stored(repo, {"shared": b"one"})), "job")
    assert same.file_count == 1  # "mine" went with the refused part
    info = await repo.finish_pending(req(Manifest(())), "job")
    _, blob = await repo.get_manifest_blob("p", "ddp", info.version)
    assert [e.path for e in Manifest.decode(blob)] == ["shared"]


async def test_ids_and_names_keep_pending_versions_apart(repo: Repository) -> None:
    await repo.upsert_pending(req(await stored(repo, {"a": b"a"})), "job-1")
    await repo.upsert_pending(req(await stored(repo, {"a": b"other"})), "job-2")
    await repo.upsert_pending(req(await stored(repo, {"a": b"x"}), name="else"), "job-1")
    info = await repo.finish_pending(req(Manifest(())), "job-2")
    _, blob = await repo.get_manifest_blob("p", "ddp", info.version)
    assert Manifest.decode(blob).entries[0].digest == h(b"other")


async def test_a_part_must_hold_its_chunks_and_type(repo: Repository) -> None:
    manifest = Manifest((ManifestEntry.for_file("x", 5, h(b"never"), [ref_of(b"never")]),))
    with pytest.raises(ChunkMissing):
        await repo.upsert_pending(req(manifest), "job")
    await repo.upsert_pending(req(await stored(repo, {"a": b"a"})), "job")
    with pytest.raises(TypeConflict):
        await repo.upsert_pending(req(await stored(repo, {"b": b"b"}), type="model"), "job")
    with pytest.raises(ConfigError, match="distributed_id"):
        await repo.upsert_pending(req(await stored(repo, {"b": b"b"})), " padded")


async def test_gc_keeps_pending_chunks_and_drops_them_after_the_finish(
    repo: Repository,
) -> None:
    await repo.upsert_pending(req(await stored(repo, {"a": b"pending bytes"})), "job")
    assert (await collect_garbage(repo, grace=0)).deleted_packs == 0
    info = await repo.finish_pending(req(Manifest(())), "job")
    await repo.delete_version("p", "ddp", info.version)
    assert (await collect_garbage(repo, grace=0)).deleted_packs == 1


async def test_a_schema_6_store_upgrades_keeping_its_runs(location: StoreLocation) -> None:
    """Migration 7 adds the run labels (empty for older runs) and the pending tables."""
    repo = await Repository.open(location)
    try:
        run = await repo.create_run("p", "train", "old run", {"lr": 1})
    finally:
        await repo.close()
    await back_to_schema_6(location.db)
    repo = await Repository.open(location)
    try:
        again = await repo.get_run(run.id)
        assert (again.name, again.config, again.group, again.tags, again.notes) == (
            "old run",
            {"lr": 1},
            None,
            (),
            None,
        )
        labelled = await repo.create_run("p", "train", group="g", tags=["a"], notes="n")
        assert (labelled.group, labelled.tags, labelled.notes) == ("g", ("a",), "n")
        await repo.upsert_pending(req(await stored(repo, {"a": b"a"})), "job")
    finally:
        await repo.close()
