"""Entries of an artifact, and its manifest as W&B users reach it.

``artifact.get_entry('a.csv')`` returns an entry (``path``, ``digest``, ``size``,
``ref``; ``download()`` for one file); ``artifact.manifest.entries`` maps each
path to its entry. A draft's entries learn their digest when first asked (the
file is read then, once); a logged version's come from its stored manifest.

``BaseEntry`` holds all of it; ``ArtifactEntry.download`` runs the coroutine
through the portal, ``AsyncArtifactEntry.download`` awaits it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from asyncart.core.entry_uris import SCHEME, artifact_uri
from asyncart.core.manifest import Manifest, artifact_digest
from asyncart.core.paths import is_ancestor_path, normalize_entry_path
from asyncart.errors import ConfigError
from asyncart.sdk import portal

if TYPE_CHECKING:
    from asyncart.sdk.artifact import BaseArtifact

#: The scheme of :meth:`BaseEntry.ref_url`: ``asyncart-artifact://<project>/<name>:<v>/<path>``.
ARTIFACT_SCHEME = SCHEME


class BaseEntry:
    """One file of an artifact, or a reference to one.

    ``path``: its POSIX path inside the artifact; ``size`` in bytes; ``ref``: the
    URI of a reference (None for a file whose bytes the store holds); ``digest``:
    the blake3 hex digest of its bytes (of its URI, for a reference added with
    ``checksum=False``); ``local_path``: the file a draft entry will upload.
    """

    def __init__(
        self,
        artifact: BaseArtifact,
        path: str,
        size: int,
        *,
        digest: str | None = None,
        digest_of: Callable[[], str] | None = None,
        ref: str | None = None,
        local_path: str | None = None,
        skip_cache: bool = False,
    ) -> None:
        self._artifact = artifact
        self.path = path
        self.size = size
        self.ref = ref
        self.local_path = local_path
        self.skip_cache = skip_cache
        self._digest = digest
        self._digest_of = digest_of

    @property
    def digest(self) -> str:
        """The entry's digest (a draft's file is read the first time this is asked)."""
        if self._digest is None:
            assert self._digest_of is not None
            self._digest = self._digest_of()
        return self._digest

    @property
    def name(self) -> str:
        """The same as ``path`` (W&B's older name for it)."""
        return self.path

    def parent_artifact(self) -> BaseArtifact:
        """The artifact this entry belongs to."""
        return self._artifact

    def ref_target(self) -> str:
        """The URI this reference entry points at.

        Raises:
            ConfigError: (a ``ValueError``) the entry is a file, not a reference.
        """
        if self.ref is None:
            raise ConfigError(f"entry {self.path!r} is not a reference; only references have one")
        return self.ref

    def ref_url(self) -> str:
        """A URL naming this entry of this logged version (for another artifact to cite).

        Raises:
            ConfigError: the artifact has not been logged, so it has no version yet.
        """
        info = self._artifact._committed()
        if info is None:
            raise ConfigError(
                f"entry {self.path!r} belongs to an artifact that has not been logged; log it first"
            )
        return artifact_uri(info.project, info.name, info.version, self.path)

    async def _download(
        self, root: str | os.PathLike[str] | None, skip_cache: bool | None = None
    ) -> str:
        return await self._artifact._download_file(self.path, root, skip_cache=bool(skip_cache))

    def _key(self) -> tuple[str, int, str | None, str]:
        return (self.path, self.size, self.ref, self.digest)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BaseEntry):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self.path, self.size, self.ref))

    def __repr__(self) -> str:
        ref = f", ref={self.ref!r}" if self.ref is not None else ""
        digest = f", digest={self._digest!r}" if self._digest is not None else ""
        return f"{type(self).__name__}(path={self.path!r}, size={self.size}{digest}{ref})"


class ArtifactEntry(BaseEntry):
    """An entry of a sync :class:`~asyncart.Artifact`."""

    def download(
        self, root: str | os.PathLike[str] | None = None, skip_cache: bool | None = None
    ) -> str:
        """Download this file alone (verified) under ``root``; return its absolute path.

        ``root`` defaults to the artifact's own directory (``./artifacts/<name>:<v>``).
        ``skip_cache=True``: neither read nor fill the download cache (``ASYNCART_CACHE_DIR``).
        """
        return portal.call(self._download, root, skip_cache)


class AsyncArtifactEntry(BaseEntry):
    """An entry of an :class:`asyncart.aio.Artifact`; ``download`` is a coroutine."""

    async def download(
        self, root: str | os.PathLike[str] | None = None, skip_cache: bool | None = None
    ) -> str:
        """Download this file alone (verified) under ``root``; return its absolute path."""
        return await self._download(root, skip_cache)


class ArtifactManifest:
    """What an artifact holds: ``entries`` maps each path to its entry, sorted by path.

    A logged version's manifest is what was stored (``stored``); a draft's is a
    snapshot of its entries when it was asked for.
    """

    def __init__(self, entries: dict[str, BaseEntry], stored: Manifest | None = None) -> None:
        self.entries = dict(sorted(entries.items()))
        self.stored = stored

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[BaseEntry]:
        return iter(self.entries.values())

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self.get(path) is not None

    def get(self, path: str) -> BaseEntry | None:
        """The entry at ``path``, or None."""
        return self.entries.get(normalize_entry_path(path))

    def get_entry_by_path(self, path: str) -> BaseEntry | None:
        """The entry at ``path``, or None (W&B's name for :meth:`get`)."""
        return self.get(path)

    def get_entries_in_directory(self, directory: str) -> list[BaseEntry]:
        """The entries below ``directory``."""
        top = normalize_entry_path(directory)
        return [e for p, e in self.entries.items() if is_ancestor_path(top, p)]

    def digest(self) -> str:
        """The artifact digest of these entries: the version's digest once logged."""
        if self.stored is not None:
            return self.stored.digest
        return artifact_digest((p, e.digest) for p, e in self.entries.items())

    def size(self) -> int:
        """The bytes of every entry together."""
        return sum(e.size for e in self.entries.values())

    def to_json(self) -> dict[str, Any]:
        """The stored manifest's JSON form; a draft's entries as ``{path, size, ref?}``."""
        if self.stored is not None:
            return self.stored.to_json()
        return {
            "entries": [
                {"path": e.path, "size": e.size, **({"ref": e.ref} if e.ref else {})}
                for e in self.entries.values()
            ]
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ArtifactManifest):
            return NotImplemented
        if self.stored is not None and other.stored is not None:
            return self.stored == other.stored
        return self.entries == other.entries

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by content

    def __repr__(self) -> str:
        state = "" if self.stored is not None else " (draft)"
        return f"<ArtifactManifest {len(self.entries)} entries{state}>"
