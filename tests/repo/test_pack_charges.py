"""Pack uploads charged to their project (docs/quotas.md "Pack uploads"; schema 13), in
the repository, on SQLite and PostgreSQL: refused before a byte is stored, released by
the commit that references them (only for what it references) and by gc."""

from __future__ import annotations

import asyncio

import pytest

from asyncart.core.manifest import Manifest, ManifestEntry
from asyncart.errors import QuotaExceeded
from asyncart.repo.gc import collect_garbage
from asyncart.repo.location import StoreLocation
from asyncart.repo.metastores import PackChunk, migrations
from asyncart.repo.service import Repository, pack_key
from tests.repo.metastore_support import schema_versions
from tests.support.packs import h, pack_body, ref_of
from tests.support.stores import PROJECT, back_to_schema_12, commit_request, upload
from tests.support.stores import data as d


def manifest_with(*chunks: bytes) -> Manifest:
    """A manifest of one file per chunk."""
    return Manifest(
        entries=tuple(
            ManifestEntry.for_file(f"f{i}", len(c), h(c), (ref_of(c),))
            for i, c in enumerate(chunks)
        )
    )


async def test_a_schema_12_store_upgrades_to_charge_packs(location: StoreLocation) -> None:
    repo = await Repository.open(location)
    await repo.close()
    await back_to_schema_12(location.db)
    repo = await Repository.open(location)
    try:
        await upload(repo, [d("one", 1000)], project=PROJECT)
        assert await repo.meta.charged_bytes(PROJECT) == 1000
    finally:
        await repo.close()
    assert await schema_versions(location.db) == list(range(1, migrations.SCHEMA_VERSION + 1))
    assert migrations.SCHEMA_VERSION >= migrations.PACK_CHARGE_STEP == 13


async def test_an_upload_past_the_quota_is_refused_before_its_bytes_are_stored(
    repo: Repository,
) -> None:
    await repo.meta.set_quota(PROJECT, 5000)
    await upload(repo, [d("a", 2000)], project=PROJECT)
    await upload(repo, [d("b", 2000)], project=PROJECT)
    assert await repo.meta.charged_bytes(PROJECT) == 4000
    header, _ = pack_body([d("c", 2000)])
    with pytest.raises(QuotaExceeded, match="uploaded but not committed") as refused:
        await upload(repo, [d("c", 2000)], project=PROJECT)
    assert "this pack upload adds" in str(refused.value)
    assert not await repo.blobs.exists(pack_key(header.pack_id))
    assert await repo.meta.charged_bytes(PROJECT) == 4000
    await upload(repo, [d("a", 2000)], project=PROJECT)  # stored already: adds nothing
    await upload(repo, [d("c", 2000)], project="other")  # another project's room
    # The Content-Length check, before a byte is read: a 100 kB body holds >= 2.7 kB of
    # chunk data (one 36-byte entry per chunk of at least 1 byte); 1 kB is left.
    await repo.check_upload(PROJECT, 4000)  # >= 139 bytes of data: may fit
    with pytest.raises(QuotaExceeded):
        await repo.check_upload(PROJECT, 100_000)


async def test_a_commit_releases_only_what_it_references(repo: Repository) -> None:
    small, big = d("small", 1000), d("big", 3000)
    pack = await upload(repo, [small, big], project=PROJECT)
    assert await repo.meta.charged_bytes(PROJECT) == 4000
    await repo.commit(commit_request(manifest_with(small)))
    assert await repo.meta.charged_bytes(PROJECT) == 3000  # the rest of the pack: still
    await repo.commit(commit_request(manifest_with(small, big), name="both"))
    assert await repo.meta.charged_bytes(PROJECT) == 0
    await repo.meta.set_quota(PROJECT, 4000)  # usage 4000 now: a full project
    assert (await repo.meta.quota_usage(PROJECT)).stored_bytes == 4000
    with pytest.raises(QuotaExceeded):
        await upload(repo, [d("more", 10)], project=PROJECT)
    assert pack


async def test_gc_releases_the_charges_of_what_it_removes(repo: Repository) -> None:
    await repo.meta.set_quota(PROJECT, 3000)
    await upload(repo, [d("a", 2000)], project=PROJECT)  # never committed
    header, _ = pack_body([d("never", 500)])
    await repo.meta.reserve_pack(PROJECT, header.pack_id, 500)  # its body never came
    assert await repo.meta.charged_bytes(PROJECT) == 2500
    with pytest.raises(QuotaExceeded):
        await upload(repo, [d("b", 2000)], project=PROJECT)
    report = await collect_garbage(repo, grace=0)
    assert (report.deleted_packs, report.stale_charges) == (1, 1)
    assert await repo.meta.charged_bytes(PROJECT) == 0
    await upload(repo, [d("b", 2000)], project=PROJECT)


async def test_concurrent_uploads_cannot_both_pass(repo: Repository) -> None:
    await repo.meta.set_quota(PROJECT, 5000)
    results = await asyncio.gather(
        *(upload(repo, [d(f"p{i}", 2000)], project=PROJECT) for i in range(5)),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert len(refused) == 3, results
    assert await repo.meta.charged_bytes(PROJECT) == 4000


async def test_recording_a_pack_charges_it_when_no_reservation_did(repo: Repository) -> None:
    """A pack recorded without a reservation (a quota set meanwhile, or a direct upload
    completed for another project than it began for) is checked when it is recorded."""
    await repo.meta.set_quota(PROJECT, 1000)
    chunk = d("late", 2000)
    header, _ = pack_body([chunk])
    with pytest.raises(QuotaExceeded):
        await repo.meta.add_pack(
            header.pack_id, 2000, [PackChunk(h(chunk), 0, 2000)], project=PROJECT
        )
    assert await repo.meta.missing_chunks([h(chunk)]) == [h(chunk)]  # nothing recorded
    assert await repo.meta.charged_bytes(PROJECT) == 0
