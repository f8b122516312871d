"""Quotas in the repository (docs/quotas.md): schema 12 upgrade, the commit-time check."""

from __future__ import annotations

import pytest

from asyncart.errors import QuotaExceeded
from asyncart.repo.location import StoreLocation
from asyncart.repo.metastores import migrations
from asyncart.repo.service import Repository
from tests.repo.metastore_support import schema_versions
from tests.support.stores import PROJECT, back_to_schema_11, push
from tests.support.stores import data as d


async def test_a_schema_11_store_upgrades_and_takes_a_quota(location: StoreLocation) -> None:
    repo = await Repository.open(location)
    try:
        await push(repo, {"f": d("one", 2000)})
    finally:
        await repo.close()
    await back_to_schema_11(location.db)
    assert (await schema_versions(location.db))[-1] == 11
    repo = await Repository.open(location)
    try:
        assert (await repo.meta.quota_usage(PROJECT)).quota_bytes is None
        await repo.meta.set_quota(PROJECT, 3000)
        usage = await repo.meta.quota_usage(PROJECT)
        assert usage.quota_bytes == 3000 and 2000 <= usage.stored_bytes < 3000
    finally:
        await repo.close()
    assert await schema_versions(location.db) == list(range(1, migrations.SCHEMA_VERSION + 1))
    assert migrations.SCHEMA_VERSION >= migrations.QUOTA_STEP


async def test_the_commit_refuses_new_bytes_past_the_quota(repo: Repository) -> None:
    await repo.meta.set_quota(PROJECT, 3000)
    await push(repo, {"f": d("one", 2000)})
    with pytest.raises(QuotaExceeded, match="over its quota"):
        await push(repo, {"f": d("two", 2000)}, name="other")
    await push(repo, {"f": d("one", 2000)}, name="same-bytes")  # dedups: adds nothing
    with pytest.raises(QuotaExceeded):
        await repo.meta.quota_usage(PROJECT, new_bytes=2000)  # the pre-flight's question
    assert await repo.meta.clear_quota(PROJECT)
    await push(repo, {"f": d("two", 2000)}, name="other")
