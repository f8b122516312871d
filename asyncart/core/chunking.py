"""Chunking policy: where a byte stream is cut into content-addressed chunks.

Two chunkers, both streaming (blocks in, chunks out, state carried across
block boundaries so the cut points do not depend on the read size):

* ``cdc`` — FastCDC (content-defined; edits that shift bytes still dedup),
  the default. The cut runs in native code that releases the GIL.
* ``fixed`` — fixed-size chunks.

The parameters are recorded in every manifest (:class:`ChunkerSpec`), so old
versions stay readable when the defaults change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal

from asyncart.errors import ConfigError

MAX_CHUNK_SIZE = 16 << 20


@dataclass(frozen=True)
class ChunkerSpec:
    """Which chunker cut a file, and with which parameters."""

    kind: Literal["cdc", "fixed"] = "cdc"
    avg_size: int = 256 << 10
    min_size: int = 64 << 10
    max_size: int = 1 << 20

    def __post_init__(self) -> None:
        if self.kind not in ("cdc", "fixed"):
            raise ConfigError(f"chunker kind {self.kind!r} is unknown; use 'cdc' or 'fixed'")
        if not (64 <= self.min_size <= self.avg_size <= self.max_size <= MAX_CHUNK_SIZE):
            raise ConfigError(
                "chunk sizes must satisfy 64 <= min_size <= avg_size <= max_size <= 16 MiB, got "
                f"min={self.min_size} avg={self.avg_size} max={self.max_size}"
            )

    @classmethod
    def fixed(cls, size: int) -> ChunkerSpec:
        return cls(kind="fixed", avg_size=size, min_size=size, max_size=size)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChunkerSpec:
        try:
            return cls(
                kind=data["kind"],
                avg_size=int(data["avg_size"]),
                min_size=int(data["min_size"]),
                max_size=int(data["max_size"]),
            )
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"chunker spec {data!r} is malformed: {exc}") from None


DEFAULT_CHUNKER = ChunkerSpec()


class StreamChunker:
    """Cuts a stream fed block by block; yields ``(offset, memoryview)`` chunks.

    The caller owns the blocks; a yielded view is valid until the next ``feed``.
    Bytes after the last cut of a block are carried over (copied, at most
    ``max_size``) and prefixed to the next block.
    """

    def __init__(self, spec: ChunkerSpec) -> None:
        self.spec = spec
        self._carry = b""
        self._offset = 0
        self._cdc: Any = None
        if spec.kind == "cdc":
            import pyfastcdc

            # pyfastcdc's effective average is avg + min ("cut-point skipping"), so
            # ask for avg - min to land the mean near ``avg_size``.
            self._cdc = pyfastcdc.FastCDC(
                max(256, spec.avg_size - spec.min_size),
                min_size=spec.min_size,
                max_size=spec.max_size,
            )

    def feed(self, block: bytes | memoryview, *, final: bool = False) -> Iterator[memoryview]:
        """Yield the chunks completed by ``block``; with ``final`` also the tail."""
        data: bytes | memoryview = block
        if self._carry:
            data = self._carry + bytes(block)
            self._carry = b""
        view = memoryview(data)
        pos = 0
        if self.spec.kind == "fixed":
            size = self.spec.avg_size
            while len(view) - pos >= size:
                yield view[pos : pos + size]
                pos += size
        else:
            # The cutter's choice for a chunk starting at s depends on whether at least
            # max_size bytes follow s; accept only such chunks unless the stream ended,
            # so cut points never depend on how the stream was split into blocks.
            horizon = len(view) - self.spec.max_size
            for chunk in self._cdc.cut_buf(view):
                if not final and chunk.offset > horizon:
                    break
                end = chunk.offset + chunk.length
                yield view[chunk.offset : end]
                pos = end
        rest = view[pos:]
        if final:
            if len(rest):
                yield rest
            self._carry = b""
        else:
            self._carry = bytes(rest)
        self._offset += pos


def chunk_bytes(data: bytes, spec: ChunkerSpec = DEFAULT_CHUNKER) -> list[bytes]:
    """Cut a whole in-memory buffer (helper for tests and small payloads)."""
    chunker = StreamChunker(spec)
    return [bytes(c) for c in chunker.feed(data, final=True)]
