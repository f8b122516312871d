"""The CPU work of a request body, as pure functions a worker process can run.

Each takes the raw (decoded) body bytes and returns a compact, cheaply unpickled
result: the event loop only reads bodies and writes answers (``server/parsing.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from asyncart.core.chunking import ChunkerSpec
from asyncart.core.manifest import (
    MANIFEST_FORMAT,
    ChunkRef,
    Manifest,
    ManifestEntry,
    check_hex_digest,
)
from asyncart.errors import ConfigError
from asyncart.repo.prepared import PreparedManifest, check_description, check_metadata
from asyncart.server.schemas import CommitBody, HashQuery, ManifestWire, decode_body

_HEX = re.compile(r"[0-9a-f]*")
T = TypeVar("T")


def manifest_of(wire: ManifestWire) -> Manifest:
    """The manifest a commit body describes, validated (docs/protocol.md §4).

    Raises:
        ConfigError: an unsupported format or hash, a bad entry, colliding paths.
    """
    if wire.format != MANIFEST_FORMAT:
        raise ConfigError(
            f"manifest format {wire.format!r} is not supported "
            f"(this asyncart reads format {MANIFEST_FORMAT}); upgrade asyncart"
        )
    entries = []
    for e in wire.entries:
        if e.chunks is not None:
            chunks = tuple(ChunkRef(check_hex_digest(h, what="chunk hash"), s) for h, s in e.chunks)
        elif e.ref is None and e.size > 0:
            chunks = (ChunkRef(e.digest, e.size),)  # one chunk: its hash is the file digest
        else:
            chunks = ()
        entries.append(
            ManifestEntry(path=e.path, size=e.size, digest=e.digest, chunks=chunks, ref=e.ref)
        )
    return Manifest(
        entries=tuple(entries),
        chunker=ChunkerSpec.from_json(wire.chunker or {}),
        hash_algorithm=wire.hash,
    )


@dataclass(frozen=True)
class CompactCommit:
    """A prepared commit body; ``hashes`` is the sorted chunk hashes concatenated (one
    string unpickles in a copy; the caller splits it off the event loop)."""

    type: str
    aliases: tuple[str, ...]
    metadata: dict[str, Any]
    description: str | None
    run_id: str | None
    blob: bytes
    digest: str
    size: int
    file_count: int
    hashes: str

    def manifest(self, hashes: tuple[str, ...]) -> PreparedManifest:
        """The prepared manifest, given :attr:`hashes` split into a tuple."""
        return PreparedManifest(self.blob, self.digest, self.size, self.file_count, hashes)


def prepare_commit(raw: bytes) -> CompactCommit:
    """Decode, validate and prepare a commit body (the metadata and description limits
    included, so a refused body costs no more work)."""
    body = decode_body(raw, CommitBody)
    metadata = body.metadata or {}
    check_metadata(metadata, "version metadata")
    check_description(body.description)
    manifest = PreparedManifest.of(manifest_of(body.manifest))
    return CompactCommit(
        type=body.type,
        aliases=tuple(body.aliases or ()),
        metadata=metadata,
        description=body.description,
        run_id=body.run_id,
        blob=manifest.blob,
        digest=manifest.digest,
        size=manifest.size,
        file_count=manifest.file_count,
        hashes="".join(manifest.hashes),
    )


def query_hashes(raw: bytes) -> str:
    """The hashes of a missing/locate body, validated, concatenated (64 characters each)."""
    joined = "".join(decode_body(raw, HashQuery).hashes)
    if len(joined) % 64 or not _HEX.fullmatch(joined):
        raise ConfigError("'hashes' must be a list of 64-character lowercase hex chunk hashes")
    return joined


def from_file(work: Callable[[bytes], T], path: str) -> T:
    """``work`` on the body spooled to ``path`` (in a worker process)."""
    with open(path, "rb") as f:
        raw = f.read()
    return work(raw)


def split_hashes(joined: str) -> tuple[str, ...]:
    """:func:`query_hashes` / :attr:`CompactCommit.hashes` back into hashes."""
    return tuple(joined[i : i + 64] for i in range(0, len(joined), 64))
