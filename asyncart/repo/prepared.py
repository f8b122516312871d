"""A commit whose manifest is already validated, encoded and digested.

The server builds these in a worker process for large commit bodies, so no request
spends the event loop on a large manifest (``server/parsing.py``); the embedded store
builds them in-process with :meth:`PreparedManifest.of`. ``Repository.commit`` takes
either form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from asyncart.core import protocol as P
from asyncart.core.manifest import Manifest
from asyncart.errors import ConfigError, PayloadTooLarge


@dataclass(frozen=True)
class PreparedManifest:
    """What a commit needs of a manifest: its stored form and what describes it."""

    blob: bytes  #: ``Manifest.encode()``
    digest: str  #: the artifact digest (docs/protocol.md §4.3)
    size: int  #: bytes of all entries
    file_count: int
    hashes: tuple[str, ...]  #: the chunks its stored bytes need, sorted, unique

    @classmethod
    def of(cls, manifest: Manifest) -> PreparedManifest:
        """Prepare an in-memory manifest (the embedded store's path)."""
        return cls(
            blob=manifest.encode(),
            digest=manifest.digest,
            size=manifest.size,
            file_count=len(manifest),
            hashes=tuple(sorted(manifest.chunk_hashes())),
        )

    def encode(self) -> bytes:
        """The stored form (as :meth:`Manifest.encode`)."""
        return self.blob

    def __len__(self) -> int:
        return self.file_count


@dataclass(frozen=True)
class PreparedCommit:
    """A :class:`~asyncart.core.models.CommitRequest` with a prepared manifest."""

    project: str
    name: str
    type: str
    manifest: PreparedManifest
    aliases: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    description: str | None = None
    run_id: str | None = None


def check_metadata(value: Mapping[str, Any], what: str) -> None:
    """Refuse free-form metadata (a version's, a run's config) over
    ``MAX_METADATA_BYTES`` of compact JSON: every version stores its own copy."""
    try:
        encoded = msgspec.json.encode(value)
    except (TypeError, msgspec.EncodeError, OverflowError) as exc:
        raise ConfigError(f"{what} must be JSON-serializable: {exc}") from None
    if len(encoded) > P.MAX_METADATA_BYTES:
        raise PayloadTooLarge(
            f"{what} is {len(encoded)} bytes as JSON; the limit is {P.MAX_METADATA_BYTES} "
            "(MAX_METADATA_BYTES): keep large data in the artifact's files"
        )


def check_description(text: str | None) -> None:
    """Refuse a version description over ``MAX_DESCRIPTION_BYTES`` of UTF-8."""
    if text is not None and len(text.encode("utf-8", "surrogatepass")) > P.MAX_DESCRIPTION_BYTES:
        raise PayloadTooLarge(
            f"a version description is at most {P.MAX_DESCRIPTION_BYTES} bytes of UTF-8 "
            "(MAX_DESCRIPTION_BYTES); put longer text in metadata or a file"
        )
