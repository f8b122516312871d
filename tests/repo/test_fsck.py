"""fsck on a real store (files + SQLite or PostgreSQL): damage found, named, repaired, healed."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from asyncart.errors import ConfigError
from asyncart.repo import fsck as checker
from asyncart.repo.fsck import fsck
from asyncart.repo.location import StoreLocation
from asyncart.repo.service import Repository, pack_key
from tests.support.stores import (
    HOUR,
    NAME,
    PROJECT,
    age_store,
    flip_byte,
    manifest_of,
    pack_files,
    push,
    upload,
    version_manifest_key,
)
from tests.support.stores import data as d

FILES = {"a.bin": d("a", 5000), "b.bin": d("b", 3000)}


async def test_a_healthy_store_is_clean_and_everything_is_hashed(repo: Repository) -> None:
    await push(repo, FILES)
    await push(repo, {"a.bin": d("a", 5000), "c.bin": d("c", 100)}, name="other")
    report = await fsck(repo)
    assert report.clean, [f.line() for f in report.findings]
    assert (report.packs, report.versions, report.manifests) == (2, 2, 2)
    assert report.chunks == report.chunks_hashed == 5 + 3 + 1
    assert report.bytes_hashed == report.pack_bytes == 8100
    assert report.summary().endswith(": clean")


async def test_a_flipped_byte_is_found_repaired_and_healed_by_a_push(
    repo: Repository, root: Path
) -> None:
    await push(repo, FILES)
    [pack] = pack_files(root)
    flip_byte(pack, 2500)  # inside the third 1 KiB chunk of a.bin
    damaged = list(manifest_of(FILES)[1])[2]

    found = await fsck(repo)
    assert found.kinds() == {checker.CHUNK_CORRUPT, checker.VERSION_INCOMPLETE}
    [corrupt] = [f for f in found.problems if f.kind == checker.CHUNK_CORRUPT]
    assert corrupt.subject == damaged
    assert corrupt.line().startswith(f"problem: chunk {damaged} (1024 bytes at offset 2048 of")
    [incomplete] = [f for f in found.problems if f.kind == checker.VERSION_INCOMPLETE]
    assert "proj/bike dataset:v0: 1 of its 8 chunk(s)" in incomplete.message

    repaired = await fsck(repo, repair=True)
    assert [f.kind for f in repaired.findings if f.repaired] == [checker.CHUNK_CORRUPT]
    assert repaired.kinds() == {checker.VERSION_INCOMPLETE}  # until its files are pushed
    assert (root / "blobs" / "quarantine" / "packs" / pack.name).read_bytes() == pack.read_bytes()
    assert await repo.missing_chunks(list(manifest_of(FILES)[1])) == [damaged]

    again = await push(repo, FILES)  # uploads just the damaged chunk; the same version
    assert (again.index, again.created) == (0, False)
    assert (await fsck(repo)).clean
    assert len(pack_files(root)) == 2


async def test_sampling_hashes_a_fraction_but_always_checks_sizes(
    repo: Repository, root: Path
) -> None:
    await push(repo, {"big": d("big", 200 * 1024)})
    none = await fsck(repo, sample=0.0)
    assert (none.chunks, none.chunks_hashed) == (200, 0)
    some = await fsck(repo, sample=0.25, rng=random.Random(7))
    assert 0 < some.chunks_hashed < 200
    [pack] = pack_files(root)
    os.truncate(pack, 150 * 1024 + 10)  # a short file: found even when nothing is hashed
    short = await fsck(repo, sample=0.0)
    assert short.kinds() == {checker.PACK_SIZE, checker.CHUNK_TRUNCATED, checker.VERSION_INCOMPLETE}
    assert sum(f.kind == checker.CHUNK_TRUNCATED for f in short.problems) == 50
    with pytest.raises(ConfigError, match=r"0\.\.1"):
        await fsck(repo, sample=1.5)


async def test_a_lost_pack_file_is_forgotten_so_a_push_re_uploads_it(
    repo: Repository, root: Path
) -> None:
    await push(repo, FILES)
    [pack] = pack_files(root)
    pack.unlink()
    found = await fsck(repo)
    assert found.kinds() == {checker.PACK_MISSING, checker.VERSION_INCOMPLETE}
    repaired = await fsck(repo, repair=True)
    assert repaired.kinds() == {checker.VERSION_INCOMPLETE}
    assert await repo.meta.list_packs() == []
    await push(repo, FILES)
    assert (await fsck(repo)).clean


async def test_crash_leftovers_are_problems_once_old_and_repair_removes_them(
    repo: Repository, location: StoreLocation, root: Path
) -> None:
    await push(repo, FILES)
    await repo.blobs.put_bytes(pack_key("e" * 64), b"stored, never indexed")
    (root / "blobs" / "tmp" / "crashed.tmp").write_bytes(b"half")
    young = await fsck(repo)
    assert young.clean
    assert [f.kind for f in young.findings] == [checker.IN_FLIGHT, checker.IN_FLIGHT]

    await age_store(location, 2 * HOUR)
    old = await fsck(repo)
    assert old.kinds() == {checker.PARTIAL, checker.ORPHAN_PACK}
    assert any("tmp/crashed.tmp" in f.message for f in old.problems)
    repaired = await fsck(repo, repair=True)
    assert repaired.clean and sum(f.repaired for f in repaired.findings) == 2
    assert await repo.blobs.list_partials() == []
    assert not await repo.blobs.exists(pack_key("e" * 64))


async def test_a_damaged_manifest_is_named(repo: Repository, root: Path) -> None:
    info = await push(repo, FILES)
    name = (await version_manifest_key(repo, info)).partition("/")[2]
    path = root / "blobs" / "manifests" / name[:2] / name
    path.write_bytes(path.read_bytes()[:10])  # a partial manifest under its final name
    found = await fsck(repo)
    [bad] = found.problems
    assert (bad.kind, bad.subject) == (checker.MANIFEST_BAD, name)
    assert "proj/bike dataset:v0" in bad.message and "push the same files again" in bad.line()
    await push(repo, FILES)  # the commit rewrites the manifest of the same version
    assert (await fsck(repo)).clean


async def test_garbage_is_noted_not_a_problem(repo: Repository) -> None:
    await push(repo, FILES)
    await repo.delete_version(PROJECT, NAME, "v0")
    await upload(repo, [d("loose", 500)])
    report = await fsck(repo)
    assert report.clean
    notes = [f.line() for f in report.findings]
    assert any(n.startswith("note: 2 pack(s)") and "server gc" in n for n in notes), notes
    assert any(n.startswith("note: 1 manifest object(s)") for n in notes), notes


async def test_trash_left_by_an_interrupted_gc(repo: Repository) -> None:
    await push(repo, FILES)
    [record] = await repo.meta.list_packs()
    assert await repo.blobs.hide(pack_key(record.id))
    found = await fsck(repo)
    assert found.kinds() == {checker.TRASH, checker.PACK_MISSING, checker.VERSION_INCOMPLETE}
    repaired = await fsck(repo, repair=True)
    assert repaired.clean, [f.line() for f in repaired.problems]
    assert await repo.blobs.exists(pack_key(record.id))


async def test_a_deleted_manifest_blob_of_a_version(repo: Repository) -> None:
    info = await push(repo, FILES)
    await repo.blobs.delete(await version_manifest_key(repo, info))
    [bad] = (await fsck(repo)).problems
    assert bad.kind == checker.MANIFEST_BAD and "it is missing" in bad.message
