"""Manifests: what an artifact version holds, and the digest that identifies its content.

A manifest maps normalised entry paths to ``(size, file digest, chunks)`` or to
a reference URI. The artifact digest covers the sorted ``(path, file digest)``
pairs behind a domain-separation header; metadata, description and aliases are
not part of it, so re-logging the same content finds the same version.

Wire form (JSON)::

    {"format": 1, "hash": "blake3", "chunker": {...},
     "entries": [{"path": "a.bin", "size": 5, "digest": "<hex>",
                  "chunks": [["<hex>", 3], ["<hex>", 2]]},
                 {"path": "small.txt", "size": 4, "digest": "<hex>"},
                 {"path": "ref.csv", "size": 9, "digest": "<hex>", "ref": "file:///..."}]}

``chunks`` is omitted when the file is one chunk (its hash is the file digest)
or empty.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import blake3

from asyncart.core.chunking import DEFAULT_CHUNKER, MAX_CHUNK_SIZE, ChunkerSpec
from asyncart.core.paths import TwinIndex, is_utf8_encodable, normalize_entry_path
from asyncart.errors import ConfigError

MANIFEST_FORMAT = 1
HASH_ALGORITHM = "blake3"
DIGEST_HEX_LENGTH = 64
_DIGEST_DOMAIN = b"asyncart.artifact-digest.v1\n"
_URI_DIGEST_DOMAIN = b"asyncart.uri-reference.v1\n"
EMPTY_DIGEST = blake3.blake3(b"").hexdigest()
MAX_ENTRIES = 1_000_000  # entries in one manifest
MAX_SIZE = (1 << 62) - 1  # bytes of one entry, and of all entries of a manifest together
MAX_DECODED = 512 << 20  # bytes of a manifest's JSON, decompressed (protocol.MAX_MANIFEST_BODY)
_GUNZIP_STEP = 4 << 20


def check_hex_digest(value: object, *, what: str = "digest") -> str:
    """Validate a lowercase 64-character blake3 hex digest."""
    if (
        not isinstance(value, str)
        or len(value) != DIGEST_HEX_LENGTH
        or value.strip("0123456789abcdef")
    ):
        raise ConfigError(f"{what} {value!r} is not a 64-character lowercase hex blake3 digest")
    return value


def artifact_digest(pairs: Iterable[tuple[str, str]]) -> str:
    """The artifact digest of ``(entry path, file digest)`` pairs, sorted by path here."""
    h = blake3.blake3(_DIGEST_DOMAIN)
    for path, digest in sorted(pairs):
        h.update(path.encode() + b"\0" + digest.encode() + b"\n")
    return h.hexdigest()


def uri_digest(uri: str) -> str:
    """The digest recorded for a reference added with ``checksum=False``: of its URI only.

    It marks the entry as unchecked (its bytes were never read), so a download copies
    whatever the URI holds then, and the artifact digest changes only with the URI.
    """
    return blake3.blake3(_URI_DIGEST_DOMAIN + uri.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class ChunkRef:
    """One content-addressed chunk of a file."""

    hash: str
    size: int


@dataclass(frozen=True)
class ManifestEntry:
    """One file of an artifact (or a reference to one)."""

    path: str
    size: int
    digest: str
    chunks: tuple[ChunkRef, ...] = ()
    ref: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", normalize_entry_path(self.path))
        check_hex_digest(self.digest, what=f"digest of {self.path!r}")
        if not isinstance(self.size, int) or not 0 <= self.size <= MAX_SIZE:
            raise ConfigError(
                f"size of {self.path!r} must be an integer within 0..{MAX_SIZE}, got {self.size!r}"
            )
        if self.ref is not None and not is_utf8_encodable(self.ref):
            raise ConfigError(f"ref of {self.path!r} is not valid Unicode")
        if self.ref is None and any(not 0 < c.size <= MAX_CHUNK_SIZE for c in self.chunks):
            raise ConfigError(
                f"chunks of {self.path!r} must each be 1..{MAX_CHUNK_SIZE} bytes "
                "(a file of one chunk is at most 16 MiB)"
            )
        if self.ref is None and sum(c.size for c in self.chunks) != self.size:
            raise ConfigError(f"chunks of {self.path!r} do not add up to its size {self.size}")

    @property
    def checksummed(self) -> bool:
        """False for a reference recorded by URI only (``add_reference(checksum=False)``)."""
        return self.ref is None or self.digest != uri_digest(self.ref)

    @classmethod
    def for_file(
        cls, path: str, size: int, digest: str, chunks: Iterable[ChunkRef]
    ) -> ManifestEntry:
        return cls(path=path, size=size, digest=digest, chunks=tuple(chunks))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "size": self.size, "digest": self.digest}
        if self.ref is not None:
            out["ref"] = self.ref
        elif not (len(self.chunks) == 1 and self.chunks[0].hash == self.digest) and self.chunks:
            out["chunks"] = [[c.hash, c.size] for c in self.chunks]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ManifestEntry:
        try:
            path, size, digest = data["path"], data["size"], data["digest"]
            ref = data.get("ref")
            if ref is not None and not isinstance(ref, str):
                raise ConfigError(f"ref of {path!r} must be a string")
            raw_chunks = data.get("chunks")
            if raw_chunks is None:
                chunks: tuple[ChunkRef, ...] = (
                    (ChunkRef(digest, size),) if ref is None and size > 0 else ()
                )
            else:
                chunks = tuple(
                    ChunkRef(check_hex_digest(h, what="chunk hash"), _nonneg_int(s))
                    for h, s in raw_chunks
                )
            return cls(path=path, size=_nonneg_int(size), digest=digest, chunks=chunks, ref=ref)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"manifest entry {data!r:.200} is malformed: {exc}") from None


def _file_above(path: str, files: dict[str, ManifestEntry]) -> str | None:
    """The entry of ``files`` that is a directory of ``path``, if any."""
    end = path.rfind("/")
    while end > 0:
        if path[:end] in files:
            return path[:end]
        end = path.rfind("/", 0, end)
    return None


def _nonneg_int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"expected a non-negative integer, got {value!r}")
    return value


@dataclass(frozen=True)
class Manifest:
    """The content of an artifact version: entries sorted by path, plus how they were cut."""

    entries: tuple[ManifestEntry, ...]
    chunker: ChunkerSpec = DEFAULT_CHUNKER
    hash_algorithm: str = HASH_ALGORITHM
    _by_path: dict[str, ManifestEntry] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        entries = tuple(sorted(self.entries, key=lambda e: e.path))
        object.__setattr__(self, "entries", entries)
        if sum(e.size for e in entries) > MAX_SIZE:
            raise ConfigError(f"the entries of a manifest may total at most {MAX_SIZE} bytes")
        if self.hash_algorithm != HASH_ALGORITHM:
            raise ConfigError(f"hash algorithm {self.hash_algorithm!r} is not supported")
        by_path = self._by_path
        twins = TwinIndex()
        for entry in entries:
            path = entry.path
            # Sorted, a file comes before every path below it (its name is their prefix).
            clash = path if path in by_path else _file_above(path, by_path)
            if clash is not None:
                raise ConfigError(
                    f"entry paths {clash!r} and {path!r} collide "
                    "(the same path twice, or a file where a directory is needed)"
                )
            twins.check(path)
            twins.add(path)
            by_path[path] = entry

    def __iter__(self) -> Iterator[ManifestEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, path: str) -> ManifestEntry | None:
        return self._by_path.get(normalize_entry_path(path))

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries)

    @property
    def digest(self) -> str:
        """The artifact digest: over sorted (path, file digest) pairs only."""
        return artifact_digest((e.path, e.digest) for e in self.entries)

    def chunk_hashes(self) -> set[str]:
        """Every chunk the stored bytes of this manifest need (references excluded)."""
        return {c.hash for e in self.entries if e.ref is None for c in e.chunks}

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "hash": self.hash_algorithm,
            "chunker": self.chunker.to_json(),
            "entries": [e.to_json() for e in self.entries],
        }

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
            raise ConfigError("manifest must be an object with an 'entries' list")
        if len(data["entries"]) > MAX_ENTRIES:
            raise ConfigError(
                f"manifest has {len(data['entries'])} entries; the limit is {MAX_ENTRIES}: "
                "split the artifact into several"
            )
        if data.get("format") != MANIFEST_FORMAT:
            raise ConfigError(
                f"manifest format {data.get('format')!r} is not supported "
                f"(this asyncart reads format {MANIFEST_FORMAT}); upgrade asyncart"
            )
        return cls(
            entries=tuple(ManifestEntry.from_json(e) for e in data["entries"]),
            chunker=ChunkerSpec.from_json(data.get("chunker") or {}),
            hash_algorithm=data.get("hash", HASH_ALGORITHM),
        )

    def encode(self) -> bytes:
        """Compact gzip-compressed JSON, the form stored and sent."""
        raw = json.dumps(self.to_json(), separators=(",", ":")).encode()
        return gzip.compress(raw, compresslevel=5, mtime=0)

    @classmethod
    def decode(cls, blob: bytes | bytearray, limit: int = MAX_DECODED) -> Manifest:
        """The manifest in ``blob`` (gzip-compressed JSON, or plain JSON).

        Raises:
            ConfigError: it is not a manifest, or decompresses to more than ``limit`` bytes.
        """
        try:
            raw = gunzip_bounded(blob, limit) if blob[:2] == b"\x1f\x8b" else blob
            if len(raw) > limit:
                raise ManifestTooLarge(_too_large(limit))
            return cls.from_json(json.loads(raw))
        except (OSError, EOFError, ValueError, zlib.error) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"manifest could not be decoded: {exc}") from None


class ManifestTooLarge(ConfigError):
    """A manifest that decompresses to more than the limit (a compression bomb)."""


def _too_large(limit: int) -> str:
    return (
        f"manifest decompresses to more than {limit >> 20} MiB, the most a manifest may hold "
        "(a compression bomb, or a broken store)"
    )


def gunzip_bounded(blob: bytes | bytearray, limit: int) -> bytes:
    """Decompress gzip ``blob`` (one member or several), or ConfigError past ``limit`` bytes.

    The size is learnt first by decompressing into a small window that is thrown away,
    so a compression bomb costs time up to ``limit`` but never that much memory.
    """
    total = 0
    for piece in _gunzip_pieces(blob, limit):
        total += len(piece)
        if total > limit:
            raise ManifestTooLarge(_too_large(limit))
    return b"".join(_gunzip_pieces(blob, limit))


def _gunzip_pieces(blob: bytes | bytearray, limit: int) -> Iterator[bytes]:
    data = memoryview(blob)
    while data:
        d = zlib.decompressobj(wbits=31)  # gzip framing
        pending: bytes | memoryview = data
        while not d.eof:
            out = d.decompress(pending, _GUNZIP_STEP)
            pending = d.unconsumed_tail
            if not out and not pending:
                raise ConfigError("manifest could not be decoded: the gzip stream is truncated")
            yield out
        data = memoryview(d.unused_data)
        while data and data[0] == 0:  # gzip permits zero padding after the last member
            data = data[1:]
