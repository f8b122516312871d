"""Hashing many ranges of one S3 object from a single GET of the span they cover, each
range's BLAKE3 fed as its bytes stream by (fsck's check of a pack's chunks)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio.to_thread
import blake3

from asyncart.repo.blobstores.s3_common import MiB, error_code

#: How many bytes are gathered before they are hashed (off the event loop).
_HASH_BATCH = 8 * MiB


class RangeHashes:
    """The BLAKE3 digests of ``ranges`` (offset, length) of one object.

    :meth:`read` streams the span they cover; :meth:`digests` gives one digest a range,
    ``None`` for a range the object does not hold whole.
    """

    def __init__(self, ranges: Sequence[tuple[int, int]]) -> None:
        self.ranges = ranges
        self._wanted = sorted((o, n, i) for i, (o, n) in enumerate(ranges) if n > 0)
        self._hashers = {i: blake3.blake3() for _, _, i in self._wanted}
        self._fed = dict.fromkeys(self._hashers, 0)

    @property
    def any_bytes_wanted(self) -> bool:
        """Whether any range is not empty (else there is nothing to read)."""
        return bool(self._wanted)

    @property
    def none_found(self) -> bool:
        """Whether no range that wants bytes got them all (true when none wants any)."""
        return all(self._fed[i] != n for _, n, i in self._wanted)

    def digests(self) -> list[str | None]:
        """One hex digest a range, in the order given; ``None`` where bytes were missing."""
        out: list[str | None] = [None] * len(self.ranges)
        for i, (_, n) in enumerate(self.ranges):
            if n == 0:
                out[i] = blake3.blake3().hexdigest()
        for _, n, i in self._wanted:
            out[i] = self._hashers[i].hexdigest() if self._fed[i] == n else None
        return out

    def _feed(self, pos: int, data: bytes) -> None:
        stop = pos + len(data)
        for o, n, i in self._wanted:
            if o >= stop:
                break
            lo, hi = max(o, pos), min(o + n, stop)
            if lo < hi:
                self._hashers[i].update(memoryview(data)[lo - pos : hi - pos])
                self._fed[i] += hi - lo

    async def read(self, client: Any, bucket: str, s3_key: str) -> None:
        """GET the span of the wanted ranges from ``client`` and hash it as it arrives."""
        if not self._wanted:
            return
        start = self._wanted[0][0]
        end = max(o + n for o, n, _ in self._wanted)
        try:
            resp = await client.get_object(
                Bucket=bucket, Key=s3_key, Range=f"bytes={start}-{end - 1}"
            )
        except Exception as exc:
            if error_code(exc) in ("InvalidRange", "416"):
                return  # every range starts past the end
            raise
        pos = start
        batch: list[bytes] = []
        batch_size = 0
        async with resp["Body"] as body:
            while True:
                piece = await body.read(MiB)
                if piece:
                    batch.append(piece)
                    batch_size += len(piece)
                if batch and (batch_size >= _HASH_BATCH or not piece):
                    data = b"".join(batch)
                    await anyio.to_thread.run_sync(self._feed, pos, data)
                    pos += len(data)
                    batch, batch_size = [], 0
                if not piece:
                    break
