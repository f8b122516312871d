"""The push scanner: one read pass gives the file digest and its chunks, whatever the size."""

from __future__ import annotations

import os
from pathlib import Path

import blake3
import pytest

from asyncart.client.scan import (
    block_buffer_size,
    file_hasher,
    hash_file,
    open_scan,
    read_block,
    stat_source,
)
from asyncart.core.chunking import DEFAULT_CHUNKER, chunk_bytes

_BLOCK = 4 << 20


def _scan(path: Path) -> tuple[str | None, list[tuple[str, int]]]:
    scan = open_scan(path, stat_source(path), DEFAULT_CHUNKER)
    buffer = bytearray(block_buffer_size(DEFAULT_CHUNKER, _BLOCK))
    while not scan.done:
        read_block(scan, buffer, _BLOCK)
    return scan.digest, [(c.hash, c.size) for c in scan.chunks]


@pytest.mark.parametrize("size", [0, 1, (1 << 20) + 7, (16 << 20) + 4097, 40 << 20])
def test_a_scan_gives_the_plain_blake3_digest_and_the_chunks_of_the_bytes(
    tmp_path: Path, size: int
) -> None:
    """Files of 16 MiB or more are hashed on every core: the digest must not change."""
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    digest, chunks = _scan(path)
    assert digest == blake3.blake3(data).hexdigest() == hash_file(path)
    expected = [(blake3.blake3(c).hexdigest(), len(c)) for c in chunk_bytes(data)]
    assert chunks == expected


def test_the_many_core_hasher_of_a_large_file_agrees_with_the_plain_one() -> None:
    data = os.urandom((16 << 20) + 12345)
    small, large = file_hasher(4096), file_hasher(len(data))
    for start in range(0, len(data), 5 << 20):  # updates of uneven sizes, as blocks are
        small.update(data[start : start + (5 << 20)])
        large.update(data[start : start + (5 << 20)])
    assert small.hexdigest() == large.hexdigest() == blake3.blake3(data).hexdigest()
