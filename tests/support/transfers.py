"""Transfer settings for tests that count packs, chunks, ranges or requests."""

from __future__ import annotations

import pytest

#: The chunk size of these tests: a few MiB make many chunks and several packs.
SMALL_CHUNK = 64 << 10


def use_small_transfers(
    monkeypatch: pytest.MonkeyPatch, pack_size: int, *, one_at_a_time: bool = False
) -> None:
    """Packs of ``pack_size`` bytes cut into :data:`SMALL_CHUNK` chunks; with
    ``one_at_a_time``, one pack or range in flight, so a transfer's requests come in the
    same order every run."""
    monkeypatch.setenv("ASYNCART_PACK_SIZE", str(pack_size))
    monkeypatch.setenv("ASYNCART_CHUNK_SIZE", str(SMALL_CHUNK))
    if one_at_a_time:
        monkeypatch.setenv("ASYNCART_CONCURRENCY", "1")
        monkeypatch.setenv("ASYNCART_MAX_CONCURRENCY", "1")
