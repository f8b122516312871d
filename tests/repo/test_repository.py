"""Repository over a real store (files + SQLite or PostgreSQL): packs, commits, aliases, lookups."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from asyncart.core.chunking import ChunkerSpec, chunk_bytes
from asyncart.core.manifest import EMPTY_DIGEST, Manifest, ManifestEntry
from asyncart.core.models import CommitRequest
from asyncart.errors import (
    AliasNotFound,
    ArtifactNotFound,
    ChunkMissing,
    ConfigError,
    ConflictError,
    IntegrityError,
    InvalidNameError,
    VersionNotFound,
)
from asyncart.repo.location import StoreLocation
from asyncart.repo.service import Repository, pack_key
from tests.support.packs import h, pack_body, ref_of
from tests.support.stores import stored_key

SPEC = ChunkerSpec.fixed(1024)


async def pieces(body: bytes, sizes: Iterable[int] = (7, 100, 4096)) -> AsyncIterator[bytes]:
    """Stream ``body`` in uneven pieces, so reads cross piece boundaries."""
    pos = 0
    sizes = list(sizes)
    i = 0
    while pos < len(body):
        n = sizes[i % len(sizes)]
        yield body[pos : pos + n]
        pos += n
        i += 1


def tmp_files(repo: Repository) -> list[Path]:
    return list((repo.blobs.root / "tmp").iterdir())  # type: ignore[attr-defined]


async def store_files(repo: Repository, files: dict[str, bytes]) -> Manifest:
    """Upload the chunks of ``files`` as one pack and return their manifest."""
    entries = []
    unique: dict[str, bytes] = {}
    for path, data in files.items():
        chunks = chunk_bytes(data, SPEC)
        for c in chunks:
            unique[h(c)] = c
        entries.append(ManifestEntry.for_file(path, len(data), h(data), map(ref_of, chunks)))
    if unique:
        _, body = pack_body(list(unique.values()))
        await repo.put_pack(pieces(body))
    return Manifest(entries=tuple(entries), chunker=SPEC)


def request(manifest: Manifest, *, name: str = "bike dataset", type: str = "dataset",
            aliases: tuple[str, ...] = (), **kw: object) -> CommitRequest:
    return CommitRequest(project="proj", name=name, type=type, manifest=manifest,
                         aliases=aliases, **kw)  # type: ignore[arg-type]


# -- packs ------------------------------------------------------------------------------


async def test_put_pack_indexes_chunks_at_readable_offsets(repo: Repository) -> None:
    rnd = random.Random(1)
    chunks = [rnd.randbytes(n) for n in (1, 100, 5000, 70_000, 3)]
    header, body = pack_body(chunks)
    hashes = [h(c) for c in chunks]
    assert await repo.missing_chunks(hashes) == hashes

    receipt = await repo.put_pack(pieces(body))

    assert receipt.pack == header.pack_id
    assert (receipt.chunks, receipt.new_chunks, receipt.size) == (5, 5, sum(map(len, chunks)))
    assert await repo.missing_chunks(hashes) == []
    assert await repo.blobs.exists(pack_key(header.pack_id))
    locations = await repo.locate_chunks(hashes)
    assert set(locations) == set(hashes)
    for chunk in chunks:
        loc = locations[h(chunk)]
        assert loc.pack == header.pack_id and loc.length == len(chunk)
        assert await repo.read_pack_range(loc.pack, loc.offset, loc.length) == chunk
    pack_path = repo.pack_path(header.pack_id)
    assert pack_path is not None and pack_path.read_bytes() == b"".join(chunks)
    assert tmp_files(repo) == []


async def test_put_pack_in_one_piece_and_again_is_idempotent(repo: Repository) -> None:
    chunks = [b"one", b"two"]
    header, body = pack_body(chunks)

    async def whole() -> AsyncIterator[bytes]:
        yield body

    first = await repo.put_pack(whole())
    second = await repo.put_pack(pieces(body, [1]))
    assert first.pack == second.pack == header.pack_id
    assert (first.new_chunks, second.new_chunks) == (2, 0)
    assert await repo.missing_chunks([h(c) for c in chunks]) == []


async def test_chunks_already_held_keep_their_location(repo: Repository) -> None:
    _, body1 = pack_body([b"shared", b"first only"])
    _, body2 = pack_body([b"second only", b"shared"])
    r1 = await repo.put_pack(pieces(body1))
    r2 = await repo.put_pack(pieces(body2))
    assert r2.new_chunks == 1
    loc = (await repo.locate_chunks([h(b"shared")]))[h(b"shared")]
    assert loc.pack == r1.pack
    assert await repo.read_pack_range(loc.pack, loc.offset, loc.length) == b"shared"
    second = (await repo.locate_chunks([h(b"second only")]))[h(b"second only")]
    assert (second.pack, second.offset) == (r2.pack, 0)


async def test_missing_and_locate_leave_out_unknown_hashes(repo: Repository) -> None:
    await repo.put_pack(pieces(pack_body([b"held"])[1]))
    unknown = h(b"never uploaded")
    assert await repo.missing_chunks([h(b"held"), unknown, unknown]) == [unknown]
    assert set(await repo.locate_chunks([h(b"held"), unknown])) == {h(b"held")}


@pytest.mark.parametrize("bad_index", [0, 2])
async def test_corrupted_chunk_raises_integrity_error_and_stores_nothing(
    repo: Repository, bad_index: int
) -> None:
    chunks = [b"alpha" * 10, b"beta" * 10, b"gamma" * 10]
    header, _ = pack_body(chunks)
    corrupted = list(chunks)
    corrupted[bad_index] = b"X" + corrupted[bad_index][1:]  # same size, different bytes
    body = header.encode() + b"".join(corrupted)

    with pytest.raises(IntegrityError, match=h(chunks[bad_index])):
        await repo.put_pack(pieces(body))

    assert not await repo.blobs.exists(pack_key(header.pack_id))
    hashes = [h(c) for c in chunks]
    assert await repo.missing_chunks(hashes) == hashes
    assert await repo.locate_chunks(hashes) == {}
    assert tmp_files(repo) == []


async def test_corruption_after_a_verified_block_leaves_no_temp_file(repo: Repository) -> None:
    # the first chunk fills a whole verify block (4 MiB) and reaches the temp file first
    rnd = random.Random(3)
    chunks = [rnd.randbytes(4 << 20), rnd.randbytes(1000)]
    header, _ = pack_body(chunks)
    body = header.encode() + chunks[0] + bytes(1000)
    with pytest.raises(IntegrityError):
        await repo.put_pack(pieces(body, [1 << 20]))
    assert not await repo.blobs.exists(pack_key(header.pack_id))
    assert await repo.missing_chunks([h(c) for c in chunks]) == [h(c) for c in chunks]
    assert tmp_files(repo) == []


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda b: b[:-1], id="one-byte-short"),
        pytest.param(lambda b: b[: len(b) // 2], id="half"),
        pytest.param(lambda b: b[:20], id="inside-header"),
        pytest.param(lambda b: b[:3], id="inside-prefix"),
        pytest.param(lambda b: b"", id="empty"),
        pytest.param(lambda b: b + b"!", id="one-byte-long"),
        pytest.param(lambda b: b + b"extra" * 1000, id="much-longer"),
        pytest.param(lambda b: b"NOPE" + b[4:], id="bad-magic"),
    ],
)
async def test_truncated_or_overlong_body_raises_config_error(repo: Repository, mangle) -> None:  # type: ignore[no-untyped-def]
    chunks = [b"first chunk", b"second chunk"]
    header, body = pack_body(chunks)
    with pytest.raises(ConfigError):
        await repo.put_pack(pieces(mangle(body)))
    assert not await repo.blobs.exists(pack_key(header.pack_id))
    assert await repo.missing_chunks([h(c) for c in chunks]) == [h(c) for c in chunks]
    assert tmp_files(repo) == []


async def test_query_size_limit(repo: Repository) -> None:
    with pytest.raises(ConfigError, match="limit"):
        await repo.missing_chunks(["0" * 64] * 100_001)


# -- commits ----------------------------------------------------------------------------


async def test_commit_creates_versions_and_stores_the_manifest(repo: Repository) -> None:
    manifest = await store_files(repo, {"a.txt": b"hello", "dir/b.bin": bytes(3000)})
    info = await repo.commit(request(manifest, aliases=("production",), metadata={"rows": 3},
                                     description="first"))
    assert info.created
    assert (info.project, info.name, info.type, info.index) == (
        "proj", "bike dataset", "dataset", 0
    )
    assert info.version == "v0"
    assert info.digest == manifest.digest
    assert (info.size, info.file_count) == (3005, 2)
    assert info.aliases == ("latest", "production")
    assert info.metadata == {"rows": 3} and info.description == "first"
    assert await repo.blobs.exists(stored_key(manifest))

    got, blob = await repo.get_manifest_blob("proj", "bike dataset", "production")
    assert got.index == 0 and not got.created
    assert Manifest.decode(blob) == manifest


async def test_commit_with_a_chunk_not_held_creates_no_version(repo: Repository) -> None:
    held = await store_files(repo, {"held.txt": b"held bytes"})
    missing = b"never uploaded" * 100
    entry = ManifestEntry.for_file("missing.bin", len(missing), h(missing),
                                   map(ref_of, chunk_bytes(missing, SPEC)))
    manifest = Manifest(entries=(*held.entries, entry), chunker=SPEC)

    with pytest.raises(ChunkMissing, match="2 chunk"):
        await repo.commit(request(manifest))

    with pytest.raises(ArtifactNotFound):
        await repo.list_versions("proj", "bike dataset")
    assert await repo.list_collections("proj") == []
    assert not await repo.blobs.exists(stored_key(manifest))


async def test_chunk_missing_does_not_touch_an_existing_collection(repo: Repository) -> None:
    first = await store_files(repo, {"a": b"a"})
    await repo.commit(request(first))
    bogus = ManifestEntry.for_file("b", 1, h(b"b"), [ref_of(b"b")])
    with pytest.raises(ChunkMissing):
        await repo.commit(request(Manifest(entries=(bogus,)), aliases=("best",)))
    versions = await repo.list_versions("proj", "bike dataset")
    assert [(v.index, v.aliases) for v in versions] == [(0, ("latest",))]


async def test_references_and_empty_files_need_no_chunks(repo: Repository) -> None:
    manifest = Manifest(entries=(
        ManifestEntry(path="remote.csv", size=10, digest=h(b"uri"), ref="s3://bucket/remote.csv"),
        ManifestEntry.for_file("empty", 0, EMPTY_DIGEST, []),
    ))
    info = await repo.commit(request(manifest))
    assert info.created and info.file_count == 2 and info.size == 10


async def test_recommitting_the_same_content_reuses_the_version_and_moves_aliases(
    repo: Repository,
) -> None:
    m_a = await store_files(repo, {"f": b"content A"})
    m_b = await store_files(repo, {"f": b"content B", "g/h": b"more B"})

    v0 = await repo.commit(request(m_a, aliases=("production",)))
    v1 = await repo.commit(request(m_b, aliases=("candidate",)))
    assert (v0.index, v0.created, v1.index, v1.created) == (0, True, 1, True)
    assert (await repo.get_version("proj", "bike dataset", "latest")).index == 1

    # metadata and description are not part of the digest: still the same version
    again = await repo.commit(request(m_a, aliases=("candidate",), metadata={"other": True},
                                      description="ignored"))
    assert again.index == 0
    assert again.created is False
    assert again.digest == v0.digest
    assert set(again.aliases) == {"latest", "production", "candidate"}

    versions = await repo.list_versions("proj", "bike dataset")
    assert [v.index for v in versions] == [0, 1]
    assert versions[1].aliases == ()
    for alias in ("latest", "candidate", "production"):
        assert (await repo.get_version("proj", "bike dataset", alias)).index == 0

    # the same entries in another order are the same content too
    reordered = Manifest(entries=tuple(reversed(m_b.entries)), chunker=ChunkerSpec.fixed(64))
    assert [e.path for e in reversed(m_b.entries)] == ["g/h", "f"]
    assert (await repo.commit(request(reordered))).index == 1


async def test_duplicate_aliases_in_one_request_are_collapsed(repo: Repository) -> None:
    m = await store_files(repo, {"f": b"x"})
    info = await repo.commit(request(m, aliases=("best", "best", "latest")))
    assert info.aliases == ("latest", "best")


async def test_type_conflict_raises_and_creates_nothing(repo: Repository) -> None:
    m1 = await store_files(repo, {"f": b"one"})
    m2 = await store_files(repo, {"f": b"two"})
    await repo.commit(request(m1, type="dataset"))
    with pytest.raises(ConflictError, match="'dataset'") as info:
        await repo.commit(request(m2, type="model"))
    assert "'model'" in str(info.value)
    assert [v.index for v in await repo.list_versions("proj", "bike dataset")] == [0]
    # the same name in another project is another collection
    other = await repo.commit(CommitRequest(project="other proj", name="bike dataset",
                                            type="model", manifest=m2))
    assert other.created and other.index == 0


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "a/b"},
        {"name": ""},
        {"type": "da:ta"},
        {"aliases": ("v3",)},
        {"aliases": (" padded",)},
    ],
)
async def test_invalid_names_are_refused_before_anything_is_stored(
    repo: Repository, bad: dict[str, object]
) -> None:
    m = await store_files(repo, {"f": b"x"})
    with pytest.raises(InvalidNameError):
        await repo.commit(request(m, **bad))  # type: ignore[arg-type]
    assert await repo.list_projects() == []
    assert not await repo.blobs.exists(stored_key(m))


async def test_invalid_project_name_is_refused(repo: Repository) -> None:
    m = await store_files(repo, {"f": b"x"})
    with pytest.raises(InvalidNameError, match="project name"):
        await repo.commit(CommitRequest(project="a:b", name="n", type="t", manifest=m))


# -- lookups and use ----------------------------------------------------------------------


async def test_use_version_checks_the_type(repo: Repository) -> None:
    m = await store_files(repo, {"f": b"x"})
    await repo.commit(request(m, type="dataset"))
    run = await repo.create_run("proj", "train")

    with pytest.raises(ConflictError, match="'dataset'"):
        await repo.use_version(run.id, "proj", "bike dataset", "latest", type="model")
    assert await repo.run_inputs(run.id) == []

    used = await repo.use_version(run.id, "proj", "bike dataset", "latest", type="dataset")
    assert used.index == 0
    assert [v.index for v in await repo.run_inputs(run.id)] == [0]
    assert (await repo.use_version(None, "proj", "bike dataset", "v0")).type == "dataset"


async def test_version_ref_errors_list_what_exists(repo: Repository) -> None:
    for i, alias in enumerate(("production", "candidate")):
        m = await store_files(repo, {"f": f"content {i}".encode()})
        await repo.commit(request(m, aliases=(alias,)))
    m = await store_files(repo, {"g": b"other"})
    await repo.commit(request(m, name="zebra set"))

    with pytest.raises(VersionNotFound) as v_err:
        await repo.get_version("proj", "bike dataset", "v7")
    assert "v7" in str(v_err.value)
    assert "v0, v1" in str(v_err.value)

    with pytest.raises(AliasNotFound) as a_err:
        await repo.get_version("proj", "bike dataset", "staging")
    message = str(a_err.value)
    assert "'staging'" in message
    for expected in ("latest (v1)", "candidate (v1)", "production (v0)"):
        assert expected in message

    with pytest.raises(ArtifactNotFound) as n_err:
        await repo.get_version("proj", "bike datasets", "latest")
    assert "bike dataset, zebra set" in str(n_err.value)

    with pytest.raises(ArtifactNotFound, match=r"\(none\)"):
        await repo.get_version("empty project", "anything", "v0")

    with pytest.raises(VersionNotFound):
        await repo.use_version(None, "proj", "bike dataset", "v2", type="dataset")
    with pytest.raises(VersionNotFound):
        await repo.version_consumers("proj", "bike dataset", "v9")


async def test_listings(repo: Repository) -> None:
    m = await store_files(repo, {"f": b"x"})
    await repo.commit(request(m, name="b set"))
    await repo.commit(request(m, name="a set", type="model"))
    await repo.commit(CommitRequest(project="other", name="c", type="t", manifest=m))
    assert sorted(await repo.list_projects()) == ["other", "proj"]
    cols = await repo.list_collections("proj")
    assert sorted((c.name, c.type, c.version_count) for c in cols) == [
        ("a set", "model", 1), ("b set", "dataset", 1)
    ]


async def test_state_survives_reopening(location: StoreLocation) -> None:
    first = await Repository.open(location)
    try:
        m = await store_files(first, {"f": b"persisted"})
        await first.commit(request(m, aliases=("keep",)))
    finally:
        await first.close()
    second = await Repository.open(location)
    try:
        info, blob = await second.get_manifest_blob("proj", "bike dataset", "keep")
        assert info.index == 0 and Manifest.decode(blob) == m
        assert await second.missing_chunks(list(m.chunk_hashes())) == []
    finally:
        await second.close()
