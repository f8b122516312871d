"""The blobstore port: named immutable objects (packs, manifests), written atomically.

Keys look like ``packs/<hex>`` or ``manifests/<hex>``. An object either exists
whole under its key or not at all; implementations write to a temporary name
and publish with an atomic rename (or the object store's equivalent).
Implementations raise :class:`~asyncart.errors.BlobStoreError` for I/O
failures and :class:`~asyncart.errors.NotFoundError` for absent keys.

Store maintenance (``repo/gc.py``, ``repo/fsck.py``) also lists objects and
unfinished writes, verifies byte ranges, and removes objects in two steps:
:meth:`BlobStore.hide` takes an object off its key into a trash area, and
:meth:`BlobStore.purge` or :meth:`BlobStore.unhide` finish or undo that once the
metastore has decided (docs/gc.md explains why removal needs two steps).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

from asyncart.errors import ConfigError

_KEY_RE = re.compile(r"(?:packs|manifests)/[0-9a-f]{64}|incoming/[0-9a-f]{64}-[0-9a-f]{16,64}")
KINDS = ("packs", "manifests")
#: Where direct (presigned) uploads land before the server verifies them and copies them
#: to ``packs/``: ``incoming/<pack id>-<token>``.
INCOMING = "incoming"


@dataclass(frozen=True)
class BlobInfo:
    """An object (or an unfinished write) as listed: its key (or name), size and mtime."""

    key: str
    size: int
    mtime: float


def check_key(key: str) -> str:
    """Only well-formed keys reach a backend: no path tricks, whatever the caller sent."""
    if not _KEY_RE.fullmatch(key):  # fullmatch: "$" alone would accept a trailing newline
        raise ConfigError(
            f"blob key {key!r} is not of the form packs/<hex>, manifests/<hex> or "
            "incoming/<hex>-<token>"
        )
    return key


def is_borrowed(part: bytes | memoryview) -> bool:
    """Whether a ``put_stream`` part is borrowed: valid only until the next part is asked for.

    A writable memoryview (a receive buffer about to be refilled) is; ``bytes`` and
    read-only views (whose owner keeps them unchanged until the put returns) are not.
    """
    return isinstance(part, memoryview) and not part.readonly


class BlobStore(ABC):
    """Content storage for one store."""

    @abstractmethod
    async def put_stream(self, key: str, parts: AsyncIterable[bytes | memoryview]) -> int:
        """Store the concatenated ``parts`` under ``key`` atomically and durably; return the size.

        If ``parts`` raises, nothing is stored and the exception propagates.
        Putting an existing key replaces it with (what must be) identical bytes.
        A part that is a writable memoryview is borrowed (:func:`is_borrowed`): its
        bytes may change once the next part is asked for, so an implementation that
        keeps a part longer copies such a part first.
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

    async def read_stream(self, key: str) -> AsyncIterator[bytes]:
        """The object's bytes in pieces (NotFoundError if absent); stores that can, stream."""
        yield await self.get_bytes(key)

    @abstractmethod
    async def copy(self, src: str, dst: str) -> None:
        """Store a copy of ``src`` under ``dst`` (replacing it), atomically as a put is.

        Raises NotFoundError if ``src`` is absent.
        """

    @abstractmethod
    async def exists(self, key: str) -> bool:
        """Whether ``key`` is stored."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove ``key`` (no error if absent)."""

    def local_path(self, key: str) -> Path | None:
        """A filesystem path holding the object, for zero-copy serving; None if not local."""
        return None

    # -- direct transfer (presigned URLs) --------------------------------------------------

    @property
    def can_presign(self) -> bool:
        """Whether :meth:`presign_get` / :meth:`presign_put` hand out URLs."""
        return False

    async def presign_get(self, key: str, expires: float) -> str | None:
        """A URL that reads ``key`` without credentials for ``expires`` seconds; None if
        this store cannot sign URLs."""
        check_key(key)
        return None

    async def presign_put(
        self,
        key: str,
        expires: float,
        *,
        content_md5: str | None = None,
        content_length: int | None = None,
    ) -> str | None:
        """A URL that stores ``key`` without credentials for ``expires`` seconds (with the
        signed ``Content-MD5`` / size, if given); None if this store cannot sign URLs."""
        check_key(key)
        return None

    # -- maintenance -------------------------------------------------------------

    @abstractmethod
    async def list_objects(self, kind: str) -> list[BlobInfo]:
        """Every stored object of ``kind`` (``packs`` or ``manifests``)."""

    @abstractmethod
    async def stat(self, key: str) -> BlobInfo | None:
        """Size and mtime of ``key``; None if absent."""

    @abstractmethod
    async def list_partials(self) -> list[BlobInfo]:
        """Unfinished writes (temporary objects, direct uploads not completed): in flight,
        or left by a crash."""

    @abstractmethod
    async def remove_partial(self, name: str) -> None:
        """Delete one unfinished write (no error if absent)."""

    @abstractmethod
    async def hash_ranges(self, key: str, ranges: Sequence[tuple[int, int]]) -> list[str | None]:
        """blake3 hex of each ``(offset, length)`` range; None for a range past the end.

        Raises NotFoundError if the object is absent.
        """

    @abstractmethod
    async def hide(self, key: str) -> bool:
        """Move ``key`` off its name into the trash; False if it was not stored."""

    @abstractmethod
    async def unhide(self, key: str) -> None:
        """Put a hidden object back under its key (replacing any object stored since)."""

    @abstractmethod
    async def purge(self, key: str) -> None:
        """Delete the hidden copy of ``key`` (no error if absent)."""

    @abstractmethod
    async def list_hidden(self) -> list[BlobInfo]:
        """Objects left in the trash (a gc or fsck stopped between hide and purge)."""

    @abstractmethod
    async def quarantine(self, key: str) -> str:
        """Keep a copy of a damaged object for inspection; returns where it is."""

    @abstractmethod
    def maintenance_lock(self) -> AbstractAsyncContextManager[None]:
        """Held by gc and fsck (``async with``) so only one maintains the store at a time,
        from any process on any machine that shares the store.

        Raises ConflictError at once if another process holds it (and, for a lock held
        as a lease, from the ``async with`` body if the lease is lost meanwhile).
        """

    async def close(self) -> None:  # noqa: B027 - optional hook, a no-op unless overridden
        """Release resources."""
