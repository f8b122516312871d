"""Chunking: streamed cuts equal one-shot cuts whatever the block split; CDC dedups edits."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncart.core.chunking import (
    DEFAULT_CHUNKER,
    MAX_CHUNK_SIZE,
    ChunkerSpec,
    StreamChunker,
    chunk_bytes,
)
from asyncart.errors import ConfigError

SMALL_CDC = ChunkerSpec(kind="cdc", min_size=64, avg_size=256, max_size=1024)


def stream_chunks(spec: ChunkerSpec, data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """Feed ``data`` split at ``cuts`` (sorted offsets) and collect the chunks as bytes."""
    chunker = StreamChunker(spec)
    out: list[bytes] = []
    bounds = [0, *sorted(set(cuts)), len(data)]
    blocks = [data[a:b] for a, b in itertools.pairwise(bounds)]
    for i, block in enumerate(blocks):
        # copy each view at once: it is only valid until the next feed
        out.extend(bytes(c) for c in chunker.feed(block, final=i == len(blocks) - 1))
    return out


def check_sizes(spec: ChunkerSpec, chunks: list[bytes]) -> None:
    assert all(chunks), "no empty chunks"
    for chunk in chunks[:-1]:
        assert spec.min_size <= len(chunk) <= spec.max_size
        if spec.kind == "fixed":
            assert len(chunk) == spec.avg_size
    if chunks:
        assert len(chunks[-1]) <= spec.max_size


@st.composite
def data_and_cuts(draw: st.DrawFn, max_size: int = 12_000) -> tuple[bytes, list[int]]:
    # mostly random bytes (cut points occur), sometimes long runs (cut only at max_size)
    data = draw(
        st.one_of(
            st.binary(max_size=max_size),
            st.builds(
                lambda seed, n: random.Random(seed).randbytes(n),
                st.integers(0, 2**32),
                st.integers(0, max_size),
            ),
            st.builds(lambda b, n: bytes([b]) * n, st.integers(0, 255), st.integers(0, max_size)),
        )
    )
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=12))
    return data, cuts


cdc_specs = st.builds(
    lambda mn, extra, mx: ChunkerSpec(
        kind="cdc", min_size=mn, avg_size=max(2 * mn, mn + extra), max_size=max(mx, 2 * mn + extra)
    ),
    st.integers(32, 256).map(lambda half: 2 * half),
    st.integers(256, 1024),
    st.integers(1024, 4096),
)
fixed_specs = st.integers(64, 700).map(ChunkerSpec.fixed)


@settings(max_examples=150, deadline=None)
@given(spec=st.one_of(st.just(SMALL_CDC), cdc_specs, fixed_specs), dc=data_and_cuts())
def test_streamed_chunks_equal_one_shot_chunks(
    spec: ChunkerSpec, dc: tuple[bytes, list[int]]
) -> None:
    data, cuts = dc
    one_shot = chunk_bytes(data, spec)
    streamed = stream_chunks(spec, data, cuts)
    assert streamed == one_shot
    assert b"".join(one_shot) == data
    check_sizes(spec, one_shot)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(64, 700), dc=data_and_cuts())
def test_fixed_chunks_are_exact_slices(size: int, dc: tuple[bytes, list[int]]) -> None:
    data, cuts = dc
    expected = [data[i : i + size] for i in range(0, len(data), size)]
    assert stream_chunks(ChunkerSpec.fixed(size), data, cuts) == expected


@settings(max_examples=40, deadline=None)
@given(dc=data_and_cuts(), block=st.integers(1, 3000))
def test_feeding_memoryviews_and_tiny_blocks(dc: tuple[bytes, list[int]], block: int) -> None:
    data, _ = dc
    chunker = StreamChunker(SMALL_CDC)
    out: list[bytes] = []
    view = memoryview(data)
    for start in range(0, len(data), block):
        out.extend(bytes(c) for c in chunker.feed(view[start : start + block]))
    out.extend(bytes(c) for c in chunker.feed(b"", final=True))
    assert out == chunk_bytes(data, SMALL_CDC)


def test_empty_input_gives_no_chunks() -> None:
    for spec in (DEFAULT_CHUNKER, SMALL_CDC, ChunkerSpec.fixed(64)):
        assert chunk_bytes(b"", spec) == []
        assert stream_chunks(spec, b"", []) == []


@pytest.mark.parametrize("block", [1 << 20, 65_537, 4096 * 3 + 1])
def test_default_spec_streaming_matches_one_shot_on_megabytes(block: int) -> None:
    data = random.Random(7).randbytes(3 << 20)
    cuts = list(range(block, len(data), block))
    one_shot = chunk_bytes(data)
    assert stream_chunks(DEFAULT_CHUNKER, data, cuts) == one_shot
    assert b"".join(one_shot) == data
    check_sizes(DEFAULT_CHUNKER, one_shot)
    assert len(one_shot) > 3  # it really cut (average 256 KiB)


def test_incompressible_runs_cut_at_max_size() -> None:
    data = b"\0" * (5 * SMALL_CDC.max_size + 17)
    chunks = chunk_bytes(data, SMALL_CDC)
    assert [len(c) for c in chunks] == [SMALL_CDC.max_size] * 5 + [17]


def _hashes(chunks: list[bytes]) -> list[str]:
    return [blake3.blake3(c).hexdigest() for c in chunks]


def test_small_insertion_leaves_most_cdc_chunks_shared() -> None:
    original = random.Random(42).randbytes(4 << 20)
    edited = original[:1000] + random.Random(43).randbytes(100) + original[1000:]
    before = _hashes(chunk_bytes(original))
    after = set(_hashes(chunk_bytes(edited)))
    shared = sum(h in after for h in before)
    assert len(before) >= 8
    assert shared / len(before) >= 0.8, f"{shared} of {len(before)} chunks shared"


def test_small_insertion_shifts_every_fixed_chunk() -> None:
    # the contrast that motivates CDC: fixed-size chunks all move
    spec = ChunkerSpec.fixed(256 << 10)
    original = random.Random(42).randbytes(4 << 20)
    edited = original[:1000] + b"x" * 100 + original[1000:]
    before = _hashes(chunk_bytes(original, spec))
    after = set(_hashes(chunk_bytes(edited, spec)))
    assert not any(h in after for h in before)


# -- ChunkerSpec ------------------------------------------------------------------------


def test_default_spec() -> None:
    assert ChunkerSpec() == DEFAULT_CHUNKER
    assert DEFAULT_CHUNKER.kind == "cdc"
    assert DEFAULT_CHUNKER.min_size <= DEFAULT_CHUNKER.avg_size <= DEFAULT_CHUNKER.max_size


def test_fixed_spec() -> None:
    spec = ChunkerSpec.fixed(1 << 20)
    assert (spec.kind, spec.min_size, spec.avg_size, spec.max_size) == (
        "fixed", 1 << 20, 1 << 20, 1 << 20
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "rabin"},
        {"kind": ""},
        {"kind": "fixed", "min_size": 63, "avg_size": 63, "max_size": 63},
        {"min_size": 0, "avg_size": 256, "max_size": 1024},
        {"min_size": 512, "avg_size": 256, "max_size": 1024},  # min > avg
        {"min_size": 64, "avg_size": 2048, "max_size": 1024},  # avg > max
        {"min_size": 64, "avg_size": 256, "max_size": MAX_CHUNK_SIZE + 1},
        {"kind": "fixed", "min_size": MAX_CHUNK_SIZE + 1, "avg_size": MAX_CHUNK_SIZE + 1,
         "max_size": MAX_CHUNK_SIZE + 1},
        # in order, but outside what the FastCDC cutter accepts:
        {"min_size": 64, "avg_size": 64, "max_size": 64},  # max < 1 KiB
        {"min_size": 291, "avg_size": 1024, "max_size": 4096},  # odd cdc minimum
        {"min_size": 64, "avg_size": 100, "max_size": 400},  # max < 1 KiB
        {"min_size": 64 << 10, "avg_size": 100 << 10, "max_size": 1 << 20},  # avg - min < min
        {"min_size": 2 << 20, "avg_size": 8 << 20, "max_size": 16 << 20},  # min > 1 MiB
        {"min_size": 64 << 10, "avg_size": 8 << 20, "max_size": 16 << 20},  # avg - min > 4 MiB
    ],
)
def test_invalid_specs_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        ChunkerSpec(**kwargs)  # type: ignore[arg-type]


def test_fixed_size_out_of_range_is_refused() -> None:
    with pytest.raises(ConfigError):
        ChunkerSpec.fixed(10)
    with pytest.raises(ConfigError):
        ChunkerSpec.fixed(MAX_CHUNK_SIZE + 1)
    assert ChunkerSpec.fixed(MAX_CHUNK_SIZE).max_size == MAX_CHUNK_SIZE


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(["cdc", "fixed"]),
    mn=st.one_of(st.integers(0, 4096), st.integers(0, 20 << 20)),
    avg=st.one_of(st.integers(0, 4096), st.integers(0, 20 << 20)),
    mx=st.one_of(st.integers(0, 4096), st.integers(0, 20 << 20)),
)
def test_every_accepted_spec_can_chunk(kind: str, mn: int, avg: int, mx: int) -> None:
    """A spec either is refused with ConfigError up front or works: no late cutter errors."""
    try:
        spec = ChunkerSpec(kind=kind, min_size=mn, avg_size=avg, max_size=mx)  # type: ignore[arg-type]
    except ConfigError:
        return
    data = random.Random(mn ^ avg ^ mx).randbytes(5000)
    assert b"".join(chunk_bytes(data, spec)) == data


def test_spec_json_round_trip() -> None:
    for spec in (DEFAULT_CHUNKER, SMALL_CDC, ChunkerSpec.fixed(4096)):
        assert ChunkerSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"kind": "cdc"},
        {"kind": "cdc", "avg_size": 256, "min_size": 64},
        {"kind": "cdc", "avg_size": "lots", "min_size": 64, "max_size": 1024},
        {"kind": "cdc", "avg_size": None, "min_size": 64, "max_size": 1024},
        {"kind": "cdc", "avg_size": 1, "min_size": 64, "max_size": 1024},
        {"kind": "zip", "avg_size": 256, "min_size": 64, "max_size": 1024},
        "cdc",
        [],
    ],
)
def test_malformed_spec_json_raises_config_error(data: object) -> None:
    with pytest.raises(ConfigError):
        ChunkerSpec.from_json(data)  # type: ignore[arg-type]
