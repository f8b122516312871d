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
        if self.kind == "cdc":
            # The bounds of the FastCDC cutter (pyfastcdc), which is given _cdc_cut_average().
            cut_avg = _cdc_cut_average(self)
            if not (
                self.min_size <= 1 << 20
                and self.max_size >= 1024
                and self.min_size <= cut_avg <= 4 << 20
            ):
                raise ConfigError(
                    "cdc chunk sizes must satisfy min_size <= 1 MiB, max_size >= 1024 and "
                    "min_size <= max(256, avg_size - min_size) <= 4 MiB, got "
                    f"min={self.min_size} avg={self.avg_size} max={self.max_size}"
                )
            if self.min_size % 2:
                # The cutter steps two bytes at a time from an even offset, so an odd
                # minimum would let it cut one byte short of it.
                raise ConfigError(f"cdc min_size must be even, got {self.min_size}")

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
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"chunker spec {data!r:.200} is malformed: {exc}") from None


def _cdc_cut_average(spec: ChunkerSpec) -> int:
    # pyfastcdc's effective average is avg + min ("cut-point skipping"), so
    # ask for avg - min to land the mean near ``avg_size``.
    return max(256, spec.avg_size - spec.min_size)


DEFAULT_CHUNKER = ChunkerSpec()


class Cutter:
    """Finds cut points in a buffer; the caller keeps the uncut tail for the next call.

    Cut points never depend on how a stream is split into buffers: a CDC chunk
    starting at ``s`` is only accepted when at least ``max_size`` bytes follow
    ``s`` (or the stream ended), which is all the cutter ever looks at.
    """

    def __init__(self, spec: ChunkerSpec) -> None:
        self.spec = spec
        self._cdc: Any = None
        if spec.kind == "cdc":
            import pyfastcdc

            self._cdc = pyfastcdc.FastCDC(
                _cdc_cut_average(spec), min_size=spec.min_size, max_size=spec.max_size
            )

    def cut(self, view: memoryview, final: bool) -> tuple[list[memoryview], int]:
        """Return the complete chunks of ``view`` and how many bytes they cover.

        With ``final`` the tail is a chunk too and everything is consumed.
        """
        chunks: list[memoryview] = []
        pos = 0
        if self.spec.kind == "fixed":
            size = self.spec.avg_size
            while len(view) - pos >= size:
                chunks.append(view[pos : pos + size])
                pos += size
        else:
            horizon = len(view) - self.spec.max_size
            for chunk in self._cdc.cut_buf(view):
                if not final and chunk.offset > horizon:
                    break
                end = chunk.offset + chunk.length
                chunks.append(view[chunk.offset : end])
                pos = end
        if final and pos < len(view):
            chunks.append(view[pos:])
            pos = len(view)
        return chunks, pos


class StreamChunker:
    """Cuts a stream fed block by block (copies the tail between blocks; for simple uses)."""

    def __init__(self, spec: ChunkerSpec) -> None:
        self.spec = spec
        self._cutter = Cutter(spec)
        self._carry = b""

    def feed(self, block: bytes | memoryview, *, final: bool = False) -> Iterator[memoryview]:
        """Yield the chunks completed by ``block``; with ``final`` also the tail.

        A yielded view is valid until the next ``feed``.
        """
        data = self._carry + bytes(block) if self._carry else block
        view = memoryview(data)
        chunks, consumed = self._cutter.cut(view, final)
        self._carry = bytes(view[consumed:])
        yield from chunks


def chunk_bytes(data: bytes, spec: ChunkerSpec = DEFAULT_CHUNKER) -> list[bytes]:
    """Cut a whole in-memory buffer (helper for tests and small payloads)."""
    chunker = StreamChunker(spec)
    return [bytes(c) for c in chunker.feed(data, final=True)]
