"""Manifests are stored under the BLAKE3 of their bytes, recorded on the version row.

A commit never writes to a name another version reads with other bytes, in any project
(issue 15: a commit with the same (path, file digest) pairs used to replace the manifest
another project's version read). gc and fsck follow each version's recorded manifest,
fsck flags an object that is not what its version committed, and a store from before
schema 5 moves its manifests at open. Every test runs on each metastore/blobstore pair:
SQLite + directory, PostgreSQL + directory, SQLite + S3 (SeaweedFS).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from asyncart.core.chunking import ChunkerSpec, chunk_bytes
from asyncart.core.manifest import Manifest, ManifestEntry
from asyncart.core.models import CommitRequest, VersionInfo
from asyncart.errors import StoreError
from asyncart.repo import fsck as checker
from asyncart.repo.fsck import fsck
from asyncart.repo.gc import collect_garbage
from asyncart.repo.keys import manifest_hash, manifest_object_key
from asyncart.repo.location import StoreLocation
from asyncart.repo.metastores import open_metastore
from asyncart.repo.metastores.sql import SqlMetaStore
from asyncart.repo.service import Repository
from tests.support.packs import h, ref_of
from tests.support.s3 import S3Bucket, s3_bucket, s3_server  # noqa: F401 - fixtures
from tests.support.stores import (
    NAME,
    back_to_schema_4,
    manifest_of,
    run_sql,
    stored_key,
    upload,
    version_manifest_key,
)
from tests.support.stores import data as d

PAIRS = ("sqlite+filesystem", "postgresql+filesystem", "sqlite+s3")
FILES = {"weights.bin": d("w", 5000)}


@dataclass
class Store:
    repo: Repository
    location: StoreLocation

    async def reopen(self) -> None:
        await self.repo.close()
        self.repo = await Repository.open(self.location)


@pytest.fixture(params=PAIRS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    db, blobs = str(request.param).split("+")
    location = StoreLocation.of(
        tmp_path / "store",
        db=request.getfixturevalue("postgres_url") if db == "postgresql" else None,
        blobs=request.getfixturevalue("s3_bucket").url if blobs == "s3" else None,
    )
    s = Store(await Repository.open(location), location)
    try:
        yield s
    finally:
        await s.repo.close()


def request_of(manifest: Manifest, project: str, name: str = NAME) -> CommitRequest:
    return CommitRequest(project=project, name=name, type="dataset", manifest=manifest)


async def commit(
    repo: Repository, files: dict[str, bytes], project: str, *, chunk: int = 1024,
    name: str = NAME,
) -> tuple[VersionInfo, Manifest]:
    """Upload ``files`` in ``chunk``-byte fixed chunks and commit them to ``project``."""
    spec = ChunkerSpec.fixed(chunk)
    entries, pieces = [], []
    for path, data in files.items():
        parts = chunk_bytes(data, spec)
        pieces += parts
        entries.append(ManifestEntry.for_file(path, len(data), h(data), map(ref_of, parts)))
    manifest = Manifest(entries=tuple(entries), chunker=spec)
    missing = set(await repo.missing_chunks([h(p) for p in pieces]))
    if missing:
        await upload(repo, [p for p in pieces if h(p) in missing])
    return await repo.commit(request_of(manifest, project, name)), manifest


def reference_to(manifest: Manifest) -> Manifest:
    """The same (path, file digest) pairs as ``manifest``, as references: no chunks."""
    return Manifest(
        entries=tuple(
            ManifestEntry(e.path, e.size, e.digest, ref="file:///dev/null")
            for e in manifest.entries
        ),
        chunker=manifest.chunker,
    )


async def assert_intact(repo: Repository, project: str, manifest: Manifest) -> None:
    """``project``'s v0 reads exactly ``manifest``, and every byte of it is readable."""
    _, blob = await repo.get_manifest_blob(project, NAME, "v0")
    assert blob == manifest.encode()
    located = await repo.locate_chunks(sorted(manifest.chunk_hashes()))
    assert set(located) == manifest.chunk_hashes()
    data = b"".join(
        [await repo.read_pack_range(located[c.hash].pack, located[c.hash].offset, c.size)
         for e in manifest.entries for c in e.chunks]
    )
    assert data == b"".join(FILES.values())


async def assert_survives_maintenance(repo: Repository, project: str, manifest: Manifest) -> None:
    report = await collect_garbage(repo, grace=0)  # everything unreferenced is "old"
    assert report.deleted_packs == 0, report.lines()
    checked = await fsck(repo)
    assert checked.clean, [f.line() for f in checked.problems]
    await assert_intact(repo, project, manifest)


# -- no commit changes what another version reads --------------------------------------


@pytest.mark.parametrize("theirs", ["references", "other chunks"])
async def test_a_commit_elsewhere_with_the_same_pairs_leaves_her_manifest(
    store: Store, theirs: str
) -> None:
    repo = store.repo
    alice, manifest = await commit(repo, FILES, "a")
    if theirs == "references":
        bob = await repo.commit(request_of(reference_to(manifest), "b"))
    else:
        bob, _ = await commit(repo, FILES, "b", chunk=512)
    assert bob.created and bob.digest == alice.digest  # the same artifact digest
    await assert_intact(repo, "a", manifest)
    await assert_survives_maintenance(repo, "a", manifest)
    _, his = await repo.get_manifest_blob("b", NAME, "v0")
    assert his != manifest.encode() and Manifest.decode(his).digest == manifest.digest


async def test_a_reused_version_keeps_its_own_manifest(store: Store) -> None:
    repo = store.repo
    first, manifest = await commit(repo, FILES, "a")
    again, rechunked = await commit(repo, FILES, "a", chunk=512)
    assert (again.index, again.created) == (first.index, False)
    await assert_intact(repo, "a", manifest)
    report = await collect_garbage(repo, grace=0)
    # The second commit's manifest and the pack of its chunks are nobody's.
    assert (report.deleted_manifests, report.deleted_packs) == (1, 1)
    assert not await repo.blobs.exists(stored_key(rechunked))
    assert (await fsck(repo)).clean
    await assert_intact(repo, "a", manifest)


async def test_pushing_again_replaces_a_lost_manifest(store: Store) -> None:
    repo = store.repo
    info, _ = await commit(repo, FILES, "a")
    await repo.blobs.delete(await version_manifest_key(repo, info))
    assert (await fsck(repo)).kinds() == {checker.MANIFEST_BAD}
    again, rechunked = await commit(repo, FILES, "a", chunk=512)
    assert not again.created
    _, blob = await repo.get_manifest_blob("a", NAME, "v0")
    assert blob == rechunked.encode()
    assert (await fsck(repo)).clean


async def test_versions_sharing_a_manifest_object_keep_it_until_the_last_goes(
    store: Store,
) -> None:
    repo = store.repo
    manifest = manifest_of(FILES)[0]
    one, _ = await commit(repo, FILES, "a")
    two, _ = await commit(repo, FILES, "b")  # the very same bytes: one object
    assert await version_manifest_key(repo, one) == await version_manifest_key(repo, two)
    await repo.delete_version("a", NAME, "v0")
    assert (await collect_garbage(repo, grace=0)).deleted_manifests == 0
    await assert_intact(repo, "b", manifest)
    await repo.delete_version("b", NAME, "v0")
    report = await collect_garbage(repo, grace=0)
    assert (report.deleted_manifests, report.deleted_packs) == (1, 1)
    assert await repo.blobs.list_objects("manifests") == []


# -- fsck: a version's manifest is the one its commit stored ------------------------------


async def test_fsck_flags_a_swapped_manifest_object_and_gc_stops(store: Store) -> None:
    repo = store.repo
    info, manifest = await commit(repo, FILES, "a")
    forged = reference_to(manifest)  # same digest, size and file count; no chunks
    key = await version_manifest_key(repo, info)
    await repo.blobs.put_bytes(key, forged.encode())
    report = await fsck(repo)
    [bad] = report.problems
    assert (bad.kind, bad.subject) == (checker.MANIFEST_MISMATCH, key.partition("/")[2])
    assert "a/bike dataset:v0" in bad.message and "not the ones committed" in bad.message
    with pytest.raises(StoreError, match="not the manifest its commit stored"):
        await collect_garbage(repo, grace=0)
    assert len(await repo.blobs.list_objects("packs")) == 1  # nothing was deleted
    await repo.blobs.put_bytes(key, manifest.encode())  # restored
    await assert_survives_maintenance(repo, "a", manifest)


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE versions SET manifest_hash = :other",  # another version's manifest
        "UPDATE versions SET size = size + 1 WHERE manifest_hash = :mine",
        "UPDATE versions SET file_count = 2 WHERE manifest_hash = :mine",
        "UPDATE versions SET digest = :other WHERE manifest_hash = :mine",
    ],
)
async def test_fsck_flags_a_version_whose_manifest_describes_other_content(
    store: Store, tamper: str
) -> None:
    repo = store.repo
    _, mine = await commit(repo, FILES, "a")
    await repo.delete_version("a", NAME, "v0")
    _, other = await commit(repo, {"other.bin": d("o", 3000)}, "a")
    await commit(repo, FILES, "a", name="kept")  # the version fsck checks
    names = {
        "mine": stored_key(mine).partition("/")[2],
        "other": stored_key(other).partition("/")[2],
    }
    await run_sql(store.location.db, tamper + " AND collection_id = (SELECT id FROM "
                  "collections WHERE name = 'kept')" if "WHERE" in tamper else
                  tamper + " WHERE collection_id = (SELECT id FROM collections WHERE "
                  "name = 'kept')", names)
    report = await fsck(repo)
    assert report.kinds() == {checker.MANIFEST_MISMATCH}, [f.line() for f in report.problems]
    [bad] = report.problems
    assert "a/kept:v0" in bad.message and "describes content" in bad.message


# -- stores from before schema 5 ---------------------------------------------------------


async def legacy_store(store: Store) -> dict[str, bytes]:
    """Versions of two contents (one in two projects) as schema 4 stored them; returns the
    legacy manifest objects by digest."""
    await commit(store.repo, FILES, "a")
    await commit(store.repo, FILES, "c")
    await commit(store.repo, {"other.bin": d("o", 3000)}, "a", name="other")
    await back_to_schema_4(store.repo, store.location)
    legacy: dict[str, bytes] = {}
    blobs = store.location.open_blobstore()
    try:
        for blob in await blobs.list_objects("manifests"):
            legacy[blob.key.partition("/")[2]] = await blobs.get_bytes(blob.key)
    finally:
        await blobs.close()
    assert len(legacy) == 2 and all(Manifest.decode(b).digest == k for k, b in legacy.items())
    return legacy


async def assert_reads(repo: Repository, legacy: dict[str, bytes]) -> None:
    for project, name in (("a", NAME), ("c", NAME), ("a", "other")):
        info, blob = await repo.get_manifest_blob(project, name, "v0")
        assert blob == legacy[info.digest]


async def test_a_schema_4_store_moves_its_manifests_to_their_hash_at_open(
    store: Store,
) -> None:
    legacy = await legacy_store(store)
    store.repo = await Repository.open(store.location)
    repo = store.repo
    versions = await repo.meta.all_versions()
    assert {v.manifest_hash for v in versions} == {manifest_hash(b) for b in legacy.values()}
    assert all(v.manifest_hash == manifest_hash(legacy[v.digest]) for v in versions)
    await assert_reads(repo, legacy)
    assert await repo.meta.legacy_manifest_digests() == []
    checked = await fsck(repo)
    assert checked.clean, [f.line() for f in checked.problems]
    assert checked.manifests == 4  # two legacy objects (garbage now) and their copies
    report = await collect_garbage(repo, grace=0)
    assert (report.deleted_manifests, report.deleted_packs) == (2, 0)
    for digest in legacy:
        assert not await repo.blobs.exists(manifest_object_key(digest))
    await store.reopen()  # nothing left to move
    await assert_reads(store.repo, legacy)
    assert (await fsck(store.repo)).clean


async def test_a_backfill_interrupted_anywhere_leaves_every_version_readable(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between copying an object and recording its hash, and after recording."""
    legacy = await legacy_store(store)
    real = SqlMetaStore.record_manifest_hash
    calls: list[str] = []

    async def crash_on_the_second(self: SqlMetaStore, digest: str, *a: Any, **kw: Any) -> int:
        calls.append(digest)
        if len(calls) == 2:  # the second object is copied, not recorded
            raise KeyboardInterrupt
        return await real(self, digest, *a, **kw)

    with monkeypatch.context() as patched, pytest.raises(KeyboardInterrupt):
        patched.setattr(SqlMetaStore, "record_manifest_hash", crash_on_the_second)
        await Repository.open(store.location)
    # As the crash left it: one content moved, one copied but still read by its old name.
    meta = open_metastore(store.location.db)
    await meta.open()
    half = Repository(store.location.open_blobstore(), meta)
    try:
        assert len(await meta.legacy_manifest_digests()) == 1
        await assert_reads(half, legacy)
    finally:
        await half.close()
    store.repo = await Repository.open(store.location)  # resumes
    assert await store.repo.meta.legacy_manifest_digests() == []
    await assert_reads(store.repo, legacy)
    assert (await fsck(store.repo)).clean


async def test_a_legacy_version_whose_object_is_gone_keeps_its_old_name(store: Store) -> None:
    legacy = await legacy_store(store)
    other = next(k for k, b in legacy.items() if "other.bin" in str(Manifest.decode(b)))
    blobs = store.location.open_blobstore()
    await blobs.delete(manifest_object_key(other))
    await blobs.close()
    store.repo = await Repository.open(store.location)
    assert await store.repo.meta.legacy_manifest_digests() == [other]
    report = await fsck(store.repo)
    [bad] = report.problems
    assert (bad.kind, bad.subject) == (checker.MANIFEST_BAD, other)
    assert "it is missing" in bad.message
