"""The blobstore port: named immutable objects (packs, manifests), written atomically.

Keys look like ``packs/<hex>`` or ``manifests/<hex>``. An object either exists
whole under its key or not at all; implementations write to a temporary name
and publish with an atomic rename (or the object store's equivalent).
Implementations raise :class:`~asyncart.errors.BlobStoreError` for I/O
failures and :class:`~asyncart.errors.NotFoundError` for absent keys.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

from asyncart.errors import ConfigError

_KEY_RE = re.compile(r"^(packs|manifests)/[0-9a-f]{64}$")


def check_key(key: str) -> str:
    """Only well-formed keys reach a backend: no path tricks, whatever the caller sent."""
    if not _KEY_RE.fullmatch(key):  # fullmatch: "$" alone would accept a trailing newline
        raise ConfigError(f"blob key {key!r} is not of the form packs/<hex> or manifests/<hex>")
    return key


class BlobStore(ABC):
    """Content storage for one store."""

    @abstractmethod
    async def put_stream(self, key: str, parts: AsyncIterable[bytes | memoryview]) -> int:
        """Store the concatenated ``parts`` under ``key`` atomically and durably; return the size.

        If ``parts`` raises, nothing is stored and the exception propagates.
        Putting an existing key replaces it with (what must be) identical bytes.
        """

    async def put_bytes(self, key: str, data: bytes) -> int:
        """Store a small object."""

        async def one() -> AsyncIterator[bytes]:
            yield data

        return await self.put_stream(key, one())

    @abstractmethod
    async def get_bytes(self, key: str) -> bytes:
        """Read a whole (small) object."""

    @abstractmethod
    async def read_range(self, key: str, offset: int, length: int) -> bytes:
        """Read ``length`` bytes at ``offset``; raises BlobStoreError if the object is shorter."""

    @abstractmethod
    async def exists(self, key: str) -> bool:
        """Whether ``key`` is stored."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove ``key`` (no error if absent)."""

    def local_path(self, key: str) -> Path | None:
        """A filesystem path holding the object, for zero-copy serving; None if not local."""
        return None

    async def close(self) -> None:  # noqa: B027 - optional hook, a no-op unless overridden
        """Release resources."""
