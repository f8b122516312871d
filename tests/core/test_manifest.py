"""Manifests: the content digest, the JSON/gzip wire form, and what a manifest refuses."""

from __future__ import annotations

import gzip
import json
import random
from typing import Any

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncart.core.chunking import ChunkerSpec, chunk_bytes
from asyncart.core.manifest import (
    EMPTY_DIGEST,
    MANIFEST_FORMAT,
    ChunkRef,
    Manifest,
    ManifestEntry,
    check_hex_digest,
)
from asyncart.errors import ConfigError


def h(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def file_entry(path: str, data: bytes, spec: ChunkerSpec = ChunkerSpec.fixed(64)) -> ManifestEntry:
    chunks = [ChunkRef(h(c), len(c)) for c in chunk_bytes(data, spec)]
    return ManifestEntry.for_file(path, len(data), h(data), chunks)


def single_chunk_entry(path: str, data: bytes) -> ManifestEntry:
    return ManifestEntry.for_file(path, len(data), h(data), [ChunkRef(h(data), len(data))])


def ref_entry(path: str, uri: str = "s3://bucket/key.csv", size: int = 9) -> ManifestEntry:
    return ManifestEntry(path=path, size=size, digest=h(uri.encode()), ref=uri)


def empty_entry(path: str) -> ManifestEntry:
    return ManifestEntry.for_file(path, 0, EMPTY_DIGEST, [])


def sample_manifest() -> Manifest:
    rnd = random.Random(1)
    return Manifest(
        entries=(
            file_entry("data/big.bin", rnd.randbytes(1000)),
            single_chunk_entry("small.txt", b"tiny"),
            empty_entry("empty.txt"),
            ref_entry("refs/remote.csv"),
        ),
        chunker=ChunkerSpec.fixed(64),
    )


# -- the digest ----------------------------------------------------------------------


def test_digest_is_independent_of_entry_order() -> None:
    entries = list(sample_manifest().entries)
    a = Manifest(entries=tuple(entries))
    b = Manifest(entries=tuple(reversed(entries)))
    assert a.digest == b.digest
    assert [e.path for e in a] == sorted(e.path for e in entries)
    assert a == b


def test_digest_covers_only_paths_and_file_digests() -> None:
    data = random.Random(2).randbytes(500)
    cut_small = file_entry("f.bin", data, ChunkerSpec.fixed(64))
    cut_large = file_entry("f.bin", data, ChunkerSpec.fixed(128))
    assert cut_small.chunks != cut_large.chunks
    a = Manifest(entries=(cut_small,), chunker=ChunkerSpec.fixed(64))
    b = Manifest(entries=(cut_large,), chunker=ChunkerSpec.fixed(128))
    assert a.digest == b.digest


def test_digest_changes_with_path_or_content() -> None:
    base = Manifest(entries=(single_chunk_entry("a.txt", b"hello"),))
    renamed = Manifest(entries=(single_chunk_entry("b.txt", b"hello"),))
    edited = Manifest(entries=(single_chunk_entry("a.txt", b"hellO"),))
    added = Manifest(entries=(single_chunk_entry("a.txt", b"hello"), empty_entry("z")))
    digests = {base.digest, renamed.digest, edited.digest, added.digest}
    assert len(digests) == 4
    assert all(len(d) == 64 for d in digests)


def test_digest_is_not_confused_by_path_digest_boundaries() -> None:
    # (path, digest) pairs are separated, so moving text between the two cannot collide
    d = h(b"x")
    one = Manifest(entries=(ManifestEntry(path="ab", size=0, digest=d, chunks=()),))
    other = Manifest(entries=(ManifestEntry(path="a", size=0, digest=d, chunks=()),))
    assert one.digest != other.digest


def test_paths_are_normalised_in_entries_and_lookup() -> None:
    m = Manifest(entries=(single_chunk_entry("./dir//f.txt", b"abc"),))
    assert m.entries[0].path == "dir/f.txt"
    assert m.get("dir/f.txt") is m.entries[0]
    assert m.get("./dir/f.txt") is m.entries[0]
    assert m.get("dir/other") is None
    assert m.digest == Manifest(entries=(single_chunk_entry("dir/f.txt", b"abc"),)).digest


def test_size_len_and_chunk_hashes() -> None:
    m = sample_manifest()
    assert len(m) == 4
    assert m.size == 1000 + 4 + 0 + 9
    big = m.get("data/big.bin")
    assert big is not None
    expected = {c.hash for c in big.chunks} | {h(b"tiny")}
    assert m.chunk_hashes() == expected  # the reference and the empty file need no chunks


# -- JSON / wire round trip -----------------------------------------------------------


def test_json_round_trip() -> None:
    m = sample_manifest()
    as_json = m.to_json()
    assert as_json["format"] == MANIFEST_FORMAT
    assert as_json["hash"] == "blake3"
    assert as_json["chunker"] == ChunkerSpec.fixed(64).to_json()
    back = Manifest.from_json(json.loads(json.dumps(as_json)))
    assert back == m
    assert back.digest == m.digest
    assert back.chunker == m.chunker


def test_encode_decode_round_trip_is_gzip_and_deterministic() -> None:
    m = sample_manifest()
    blob = m.encode()
    assert blob[:2] == b"\x1f\x8b"
    assert blob == sample_manifest().encode()
    assert Manifest.decode(blob) == m
    # plain (uncompressed) JSON is accepted too
    assert Manifest.decode(gzip.decompress(blob)) == m


def test_single_chunk_files_are_compacted_and_restored() -> None:
    entry = single_chunk_entry("small.txt", b"tiny")
    as_json = entry.to_json()
    assert as_json == {"path": "small.txt", "size": 4, "digest": h(b"tiny")}
    back = ManifestEntry.from_json(as_json)
    assert back == entry
    assert back.chunks == (ChunkRef(h(b"tiny"), 4),)


def test_multi_chunk_files_list_their_chunks() -> None:
    entry = file_entry("f", bytes(range(200)))
    as_json = entry.to_json()
    assert as_json["chunks"] == [[c.hash, c.size] for c in entry.chunks]
    assert len(as_json["chunks"]) == 4  # 64 + 64 + 64 + 8
    assert ManifestEntry.from_json(as_json) == entry


def test_one_chunk_that_is_not_the_file_digest_is_kept() -> None:
    # a one-chunk file whose chunk hash differs from its digest cannot be compacted
    entry = ManifestEntry.for_file("f", 4, h(b"file"), [ChunkRef(h(b"other"), 4)])
    as_json = entry.to_json()
    assert as_json["chunks"] == [[h(b"other"), 4]]
    assert ManifestEntry.from_json(as_json) == entry


def test_empty_file_round_trip() -> None:
    entry = empty_entry("empty.txt")
    as_json = entry.to_json()
    assert as_json == {"path": "empty.txt", "size": 0, "digest": EMPTY_DIGEST}
    back = ManifestEntry.from_json(as_json)
    assert back == entry and back.chunks == ()


def test_reference_entry_round_trip() -> None:
    entry = ref_entry("refs/remote.csv", "file:///data/remote.csv", size=12345)
    as_json = entry.to_json()
    assert as_json["ref"] == "file:///data/remote.csv"
    assert "chunks" not in as_json
    back = ManifestEntry.from_json(as_json)
    assert back == entry
    assert back.chunks == ()


def test_empty_manifest_round_trip() -> None:
    m = Manifest(entries=())
    assert Manifest.decode(m.encode()) == m
    assert len(m) == 0 and m.size == 0 and m.chunk_hashes() == set()


file_datas = st.dictionaries(
    st.lists(st.sampled_from(["a", "b", "c", "d d", "é"]), min_size=1, max_size=3).map("/".join),
    st.binary(max_size=300),
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(files=file_datas)
def test_round_trip_property(files: dict[str, bytes]) -> None:
    entries = [file_entry(p, d) for p, d in files.items()]
    try:
        m = Manifest(entries=tuple(entries), chunker=ChunkerSpec.fixed(64))
    except ConfigError:
        # generated paths can collide (a file and a directory of the same name)
        paths = sorted(files)
        assert any(b.startswith(a + "/") for a in paths for b in paths)
        return
    back = Manifest.decode(m.encode())
    assert back == m
    assert back.digest == m.digest
    assert [e.to_json() for e in back] == [e.to_json() for e in m]


# -- refusals -------------------------------------------------------------------------


CHUNKER = ChunkerSpec.fixed(64).to_json()


def wire_bytes(**fields: Any) -> bytes:
    return json.dumps({"format": 1, "chunker": CHUNKER, "entries": [], **fields}).encode()


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"not json",
        b"\x1f\x8bnot really gzip",
        gzip.compress(b"not json", mtime=0),
        gzip.compress(wire_bytes(), mtime=0)[:-5],  # truncated gzip stream
        b"[1, 2, 3]",
        b"{}",
        b"null",
        wire_bytes(entries=None),
        wire_bytes(entries={}),
        wire_bytes(format=2),
        wire_bytes(format=None),
        wire_bytes(format="1"),
        wire_bytes(entries=[5]),
        wire_bytes(entries=[{"path": "a"}]),
        wire_bytes(hash="sha256"),
        wire_bytes(chunker={"kind": "cdc", "avg_size": "x", "min_size": 1, "max_size": 2}),
        wire_bytes(chunker="fixed"),
        b"\xff\xfe\x00garbage",
    ],
)
def test_decode_refuses_garbage_with_config_error(blob: bytes) -> None:
    with pytest.raises(ConfigError):
        Manifest.decode(blob)


def test_unsupported_format_says_to_upgrade() -> None:
    with pytest.raises(ConfigError, match="upgrade"):
        Manifest.decode(wire_bytes(format=99))


def test_minimal_wire_form_decodes() -> None:
    assert Manifest.decode(wire_bytes()) == Manifest(entries=(), chunker=ChunkerSpec.fixed(64))


def test_from_json_refuses_malformed_chunker_with_config_error() -> None:
    """The server calls from_json directly: every malformation must be a ConfigError (400)."""
    for chunker in (
        {"kind": "cdc", "avg_size": "lots", "min_size": 64, "max_size": 1024},
        {"kind": "cdc"},
        "cdc",
        {"kind": "cdc", "avg_size": 64, "min_size": 64, "max_size": 64},
    ):
        with pytest.raises(ConfigError):
            Manifest.from_json({"format": 1, "entries": [], "chunker": chunker})


GOOD = h(b"x")


@pytest.mark.parametrize(
    "entry",
    [
        {"path": "../evil", "size": 1, "digest": GOOD},
        {"path": "/abs", "size": 1, "digest": GOOD},
        {"path": "", "size": 1, "digest": GOOD},
        {"path": 5, "size": 1, "digest": GOOD},
        {"path": "a", "size": -1, "digest": GOOD},
        {"path": "a", "size": "1", "digest": GOOD},
        {"path": "a", "size": 1.0, "digest": GOOD},
        {"path": "a", "size": True, "digest": GOOD},
        {"path": "a", "size": 1, "digest": GOOD.upper()},
        {"path": "a", "size": 1, "digest": GOOD[:-1]},
        {"path": "a", "size": 1, "digest": None},
        {"path": "a", "size": 1},
        {"size": 1, "digest": GOOD},
        {"path": "a", "size": 2, "digest": GOOD, "chunks": [[GOOD, 1]]},  # 1 != 2
        {"path": "a", "size": 2, "digest": GOOD, "chunks": [[GOOD, 1], [GOOD, 2]]},  # 3 != 2
        {"path": "a", "size": 2, "digest": GOOD, "chunks": [[GOOD]]},
        {"path": "a", "size": 2, "digest": GOOD, "chunks": [["zz", 2]]},
        {"path": "a", "size": 2, "digest": GOOD, "chunks": [[GOOD, -2]]},
        {"path": "a", "size": 2, "digest": GOOD, "chunks": 7},
        {"path": "a", "size": 2, "digest": GOOD, "ref": 7},
    ],
)
def test_entry_from_json_refusals(entry: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ManifestEntry.from_json(entry)
    with pytest.raises(ConfigError):
        Manifest.from_json({"format": 1, "chunker": CHUNKER, "entries": [entry]})


def test_chunks_not_adding_up_to_size_are_refused() -> None:
    with pytest.raises(ConfigError, match="do not add up"):
        ManifestEntry.for_file("f", 10, GOOD, [ChunkRef(GOOD, 4), ChunkRef(GOOD, 5)])
    with pytest.raises(ConfigError, match="do not add up"):
        ManifestEntry.for_file("f", 10, GOOD, [])
    # a reference has no chunks whatever its size
    assert ManifestEntry(path="r", size=10, digest=GOOD, ref="s3://b/k").chunks == ()


@pytest.mark.parametrize(
    "paths",
    [
        ("a", "a/b"),
        ("a/b", "a"),
        ("x/y", "x/y/z/w"),
        ("same", "same"),
        ("same", "./same"),
        ("d/f", "d//f"),
    ],
)
def test_colliding_paths_are_refused(paths: tuple[str, str]) -> None:
    entries = tuple(single_chunk_entry(p, b"data") for p in paths)
    with pytest.raises(ConfigError, match="collide"):
        Manifest(entries=entries)
    with pytest.raises(ConfigError, match="collide"):
        Manifest.decode(wire_bytes(entries=[e.to_json() for e in entries]))


def test_similar_but_distinct_paths_are_fine() -> None:
    m = Manifest(
        entries=tuple(single_chunk_entry(p, b"d") for p in ("a", "a.b", "a-b", "ab/c", "b/a"))
    )
    assert len(m) == 5


def test_unsupported_hash_algorithm_is_refused() -> None:
    with pytest.raises(ConfigError, match="not supported"):
        Manifest(entries=(), hash_algorithm="sha256")


@pytest.mark.parametrize(
    "value", [GOOD.upper(), "g" * 64, GOOD + "0", "", None, 12, " " + GOOD[1:]]
)
def test_check_hex_digest_refusals(value: object) -> None:
    with pytest.raises(ConfigError):
        check_hex_digest(value)


def test_check_hex_digest_accepts_lowercase_hex() -> None:
    assert check_hex_digest(GOOD) == GOOD
    assert check_hex_digest(EMPTY_DIGEST) == EMPTY_DIGEST
