"""Garbage collection on a real store (files + SQLite or PostgreSQL), with its races with pushes.

Time is never waited for: ``age_store`` makes the store older, as if that much time
had passed (see tests/support/stores.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from asyncart.errors import ArtifactNotFound, ChunkMissing, ConflictError, StoreError, StoreRetry
from asyncart.repo.fsck import fsck
from asyncart.repo.gc import collect_garbage
from asyncart.repo.housekeeping import remove_pack
from asyncart.repo.location import StoreLocation
from asyncart.repo.metastores import NewVersion, PackChunk
from asyncart.repo.service import Repository, pack_key
from tests.support.packs import pack_body
from tests.support.stores import (
    HOUR,
    NAME,
    PROJECT,
    age_store,
    commit_request,
    manifest_of,
    one_piece,
    pack_files,
    push,
    stored_key,
    upload,
    version_manifest_key,
)
from tests.support.stores import data as d


async def assert_complete(repo: Repository) -> None:
    """Every version's chunks are indexed and verify (fsck finds no problem)."""
    report = await fsck(repo, grace=HOUR)
    assert report.clean, [f.line() for f in report.problems]


# -- what is deleted --------------------------------------------------------------------


async def test_a_deleted_versions_unshared_chunks_go_at_the_next_gc(
    repo: Repository, location: StoreLocation, root: Path
) -> None:
    await push(repo, {"shared": d("s", 3000), "a": d("a", 2000)})
    await push(repo, {"shared": d("s", 3000), "b": d("b", 2000)})  # one new pack: b's chunks
    await push(repo, {"c": d("c", 1500)})
    assert len(pack_files(root)) == 3
    await repo.delete_version(PROJECT, NAME, "v1")
    await repo.delete_version(PROJECT, NAME, "v2")
    await age_store(location, 2 * HOUR)

    report = await collect_garbage(repo, grace=HOUR)

    # v1's own pack and v2's pack are gone; v0's pack holds "shared" and stays whole.
    assert (report.deleted_packs, report.deleted_bytes) == (2, 2000 + 1500)
    assert (report.live_packs, report.partly_dead_packs, report.reclaimable_bytes) == (1, 0, 0)
    assert report.deleted_manifests == 2
    assert len(pack_files(root)) == 1
    b, c = manifest_of({"b": d("b", 2000)})[1], manifest_of({"c": d("c", 1500)})[1]
    assert set(await repo.missing_chunks([*b, *c])) == {*b, *c}
    await assert_complete(repo)


async def test_a_partly_dead_pack_is_kept_whole_and_reported(
    repo: Repository, location: StoreLocation
) -> None:
    await push(repo, {"keep": d("k", 1024), "drop": d("d", 1024)}, name="one")
    await push(repo, {"keep": d("k", 1024)}, name="two")
    await repo.delete_collection(PROJECT, "one")
    await age_store(location, 2 * HOUR)

    report = await collect_garbage(repo, grace=HOUR)

    assert (report.deleted_packs, report.live_packs, report.partly_dead_packs) == (0, 1, 1)
    assert report.reclaimable_bytes == 1024
    await assert_complete(repo)


async def test_young_unreferenced_packs_are_kept(repo: Repository, root: Path) -> None:
    await push(repo, {"f": d("x", 5000)})
    await repo.delete_version(PROJECT, NAME, "v0")
    report = await collect_garbage(repo)  # default grace: a day
    assert (report.deleted_packs, report.young_packs, report.young_bytes) == (0, 1, 5000)
    assert len(pack_files(root)) == 1


async def test_dry_run_deletes_nothing(
    repo: Repository, location: StoreLocation, root: Path
) -> None:
    await push(repo, {"f": d("x", 5000)})
    await repo.delete_version(PROJECT, NAME, "v0")
    await age_store(location, 2 * HOUR)
    report = await collect_garbage(repo, grace=HOUR, dry_run=True)
    assert (report.deleted_packs, report.deleted_bytes, report.deleted_manifests) == (1, 5000, 1)
    assert len(pack_files(root)) == 1
    assert (await collect_garbage(repo, grace=HOUR)).deleted_packs == 1
    assert pack_files(root) == []


async def test_leftovers_go_once_older_than_the_grace(
    repo: Repository, location: StoreLocation, root: Path
) -> None:
    # An unindexed pack file (a crash between store and index) and an unfinished write.
    _, body = pack_body([b"orphan chunk"])
    header_len = len(body) - len(b"orphan chunk")
    orphan_key = pack_key("e" * 64)
    await repo.blobs.put_bytes(orphan_key, body[header_len:])
    (root / "blobs" / "tmp" / "x.tmp").write_bytes(b"half a pack")
    young = await collect_garbage(repo, grace=HOUR)
    assert (young.deleted_orphan_files, young.deleted_partials) == (0, 0)

    await age_store(location, 2 * HOUR)
    report = await collect_garbage(repo, grace=HOUR)
    assert (report.deleted_orphan_files, report.deleted_partials) == (1, 1)
    assert report.deleted_partial_bytes == len(b"half a pack")
    assert not await repo.blobs.exists(orphan_key)
    assert await repo.blobs.list_partials() == []


async def test_gc_deletes_nothing_when_a_manifest_is_unreadable(
    repo: Repository, location: StoreLocation, root: Path
) -> None:
    info = await push(repo, {"f": d("x", 3000)})
    await push(repo, {"f": d("y", 3000)})
    await repo.delete_version(PROJECT, NAME, "v1")
    await repo.blobs.delete(await version_manifest_key(repo, info))
    await age_store(location, 2 * HOUR)
    with pytest.raises(StoreError, match=r"before deleting anything.*dataset:v0.*missing"):
        await collect_garbage(repo, grace=HOUR)
    assert len(pack_files(root)) == 2


async def test_one_maintenance_at_a_time(repo: Repository) -> None:
    with repo.blobs.maintenance_lock(), pytest.raises(ConflictError, match="another gc"):
        await collect_garbage(repo)


# -- races with pushes in flight ----------------------------------------------------------


async def old_dead_pack(
    repo: Repository, location: StoreLocation, files: dict[str, bytes]
) -> list[str]:
    """Push ``files``, delete the version, and age the store: a pack gc may delete."""
    await push(repo, files)
    await repo.delete_version(PROJECT, NAME, "latest")
    await age_store(location, 2 * HOUR)
    return list(manifest_of(files)[1])


async def test_a_missing_answer_protects_the_chunks_it_reported_present(
    repo: Repository, location: StoreLocation
) -> None:
    """The race: the client is told X is present, gc runs, then the client commits X."""
    files = {"f": d("x", 4000)}
    hashes = await old_dead_pack(repo, location, files)

    assert await repo.missing_chunks(hashes) == []  # the client will not upload them
    report = await collect_garbage(repo, grace=HOUR)  # gc between 'missing' and the commit
    assert (report.deleted_packs, report.young_packs) == (0, 1)

    info = await repo.commit(commit_request(manifest_of(files)[0]))
    assert (info.index, info.created) == (1, True)
    await assert_complete(repo)


async def test_a_push_slower_than_the_grace_fails_its_commit_cleanly_and_a_repush_heals(
    repo: Repository, location: StoreLocation, root: Path
) -> None:
    files = {"f": d("x", 4000)}
    hashes = await old_dead_pack(repo, location, files)
    assert await repo.missing_chunks(hashes) == []
    await age_store(location, 2 * HOUR)  # the push took longer than the grace period
    assert (await collect_garbage(repo, grace=HOUR)).deleted_packs == 1

    with pytest.raises(ChunkMissing, match=r"4 chunk.*pushing again"):
        await repo.commit(commit_request(manifest_of(files)[0]))
    with pytest.raises(ArtifactNotFound):  # nothing was recorded
        await repo.list_versions(PROJECT, NAME)

    again = await push(repo, files)  # the re-push uploads what is missing and commits once
    assert (again.index, again.created) == (1, True)
    assert [v.index for v in await repo.list_versions(PROJECT, NAME)] == [1]
    await assert_complete(repo)


async def test_gc_between_the_commit_check_and_its_transaction_cannot_break_a_version(
    repo: Repository, location: StoreLocation
) -> None:
    """The commit re-checks its chunks inside its own transaction."""
    files = {"f": d("x", 4000)}
    hashes = await old_dead_pack(repo, location, files)
    manifest = manifest_of(files)[0]
    assert await repo.meta.missing_chunks(hashes) == []  # the commit's first check passes
    assert (await collect_garbage(repo, grace=HOUR)).deleted_packs == 1  # gc strikes here
    new = NewVersion(PROJECT, NAME, "dataset", manifest.digest, manifest.size, len(manifest),
                     chunks=tuple(hashes))
    with pytest.raises(ChunkMissing):
        await repo.meta.commit_version(new)
    with pytest.raises(ArtifactNotFound):
        await repo.list_versions(PROJECT, NAME)


async def test_a_commit_touches_its_packs_so_a_gc_that_missed_it_keeps_them(
    repo: Repository, location: StoreLocation
) -> None:
    """gc read the versions before the commit; the commit's touch still saves the pack."""
    files = {"f": d("x", 4000)}
    hashes = await old_dead_pack(repo, location, files)
    [seen] = (await repo.meta.snapshot()).packs  # gc's snapshot: the pack is dead and old
    cutoff = seen.touched_at + 1  # even a cutoff later than the commit's clock
    await repo.commit(commit_request(manifest_of(files)[0]))  # commits after the snapshot
    assert not await remove_pack(
        repo, seen.id, touched_before=cutoff, seen_touched_at=seen.touched_at
    )
    assert await repo.missing_chunks(hashes) == []
    await assert_complete(repo)


async def test_an_upload_racing_the_removal_of_the_same_pack(
    repo: Repository, location: StoreLocation
) -> None:
    """Pack ids name content, so a client may upload the very pack gc is removing."""
    chunks = [d("r", 1500), d("s", 700)]
    header, body = pack_body(chunks)
    key = pack_key(header.pack_id)
    rows = [PackChunk(ref.hash, off, ref.size)
            for ref, off in zip(header.chunks, header.offsets(), strict=True)]
    await upload(repo, chunks)
    await age_store(location, 2 * HOUR)
    seen = (await repo.meta.list_packs())[0].touched_at

    # 1. The upload is recorded before gc decides: gc keeps the pack and puts it back.
    assert await repo.blobs.hide(key)
    await repo.put_pack(one_piece(body))
    assert not await repo.meta.drop_pack(
        header.pack_id, touched_before=seen + 1, seen_touched_at=seen
    )
    await repo.blobs.unhide(key)
    assert await repo.blobs.exists(key)
    assert await repo.missing_chunks([r.hash for r in rows]) == []

    # 2. gc hid the file the upload had just stored, and decided first: the upload's
    #    record step finds its file gone and asks to be retried; nothing dangles.
    await age_store(location, 2 * HOUR)
    seen = (await repo.meta.list_packs())[0].touched_at
    await repo.blobs.put_bytes(key, b"".join(chunks))  # the upload's store step
    assert await repo.blobs.hide(key)  # gc takes it off its name
    assert await repo.meta.drop_pack(
        header.pack_id, touched_before=seen + 1, seen_touched_at=seen
    )
    await repo.blobs.purge(key)
    with pytest.raises(StoreRetry, match="upload it again"):
        await repo.meta.add_pack(header.pack_id, len(b"".join(chunks)), rows,
                                 stored=lambda: repo.blobs.exists(key))
    assert await repo.locate_chunks([r.hash for r in rows]) == {}

    # 3. The retried upload stores and records it again.
    await repo.put_pack(one_piece(body))
    assert set(await repo.locate_chunks([r.hash for r in rows])) == {r.hash for r in rows}


async def test_a_commit_whose_manifest_gc_removed_is_retried(
    repo: Repository, root: Path
) -> None:
    files = {"f": d("x", 2000)}
    await push(repo, files)
    await repo.delete_version(PROJECT, NAME, "v0")
    manifest = manifest_of(files)[0]
    key = stored_key(manifest)
    assert await repo.blobs.hide(key)  # gc is removing the (unreferenced) manifest
    new = NewVersion(PROJECT, NAME, "dataset", manifest.digest, manifest.size, len(manifest),
                     chunks=tuple(manifest.chunk_hashes()),
                     manifest_hash=key.partition("/")[2])
    with pytest.raises(StoreRetry, match="commit again"):
        await repo.meta.commit_version(new, manifest_stored=lambda: repo.blobs.exists(key))
    assert await repo.meta.manifest_unreferenced(key.partition("/")[2])
    await repo.blobs.purge(key)
    info = await repo.commit(commit_request(manifest))  # the retried commit rewrites it
    assert info.index == 1
    await assert_complete(repo)


async def test_an_interrupted_gc_is_finished_by_the_next(repo: Repository, root: Path) -> None:
    kept = await push(repo, {"f": d("k", 3000)})
    await upload(repo, [b"garbage" * 100])
    packs = {p.size: p for p in await repo.meta.list_packs()}
    # A gc killed between hiding and deciding: one pack still recorded, one not.
    assert await repo.blobs.hide(pack_key(packs[3000].id))
    assert await repo.blobs.hide(pack_key(packs[700].id))
    assert await repo.meta.drop_pack(
        packs[700].id, touched_before=float("inf"), seen_touched_at=packs[700].touched_at
    )

    report = await collect_garbage(repo)
    assert (report.trash_restored, report.trash_purged) == (1, 1)
    assert await repo.blobs.list_hidden() == []
    assert await repo.blobs.exists(pack_key(packs[3000].id))
    assert kept.index == 0
    await assert_complete(repo)
