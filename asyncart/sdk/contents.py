"""The entries of an artifact: ``manifest`` (``{path: entry}``), ``files()`` and
``get_entry()``, from the stored manifest once logged, else from the draft.

``ArtifactContents`` is that part of :class:`~asyncart.sdk.artifact.BaseArtifact`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, cast

from asyncart.core.manifest import Manifest
from asyncart.core.models import VersionInfo
from asyncart.core.paths import normalize_entry_path
from asyncart.errors import ConfigError, EntryNotFound
from asyncart.sdk.draft import DraftKept, entry_name, entry_ref, entry_size
from asyncart.sdk.entry import ArtifactManifest, BaseEntry

if TYPE_CHECKING:
    from asyncart.client.client import Client
    from asyncart.sdk.artifact import BaseArtifact


@dataclass(frozen=True)
class ArtifactFileInfo:
    """One entry as listed by :meth:`BaseArtifact.files`."""

    path: str
    size: int
    digest: str | None
    ref: str | None = None

    @property
    def name(self) -> str:
        """The same as ``path`` (the name W&B's file listings use)."""
        return self.path


class ArtifactContents:
    """The entries of a draft or a logged version (see the module doc)."""

    _manifest: Manifest | None
    _stored_view: ArtifactManifest | None
    _deleted: bool

    if TYPE_CHECKING:  # provided by BaseArtifact and DraftBuilder
        from asyncart.sdk.draft import Draft

        _draft: Draft
        _entry_class: ClassVar[type[BaseEntry]]

        @property
        def qualified_name(self) -> str: ...

        def _committed(self) -> VersionInfo | None: ...

        def _require_stored(self, action: str) -> tuple[VersionInfo, Manifest, Client]: ...

        def _draft_manifest(self) -> ArtifactManifest: ...

    @property
    def manifest(self) -> ArtifactManifest:
        """The entries (``manifest.entries``: ``{path: entry}``): stored, or the draft's now."""
        if self._committed() is None and not self._deleted:
            return self._draft_manifest()
        stored = self._require_stored("read the manifest of")[1]
        if self._stored_view is None or self._stored_view.stored is not stored:
            self._stored_view = ArtifactManifest(
                {
                    e.path: self._entry_class(
                        cast("BaseArtifact", self), e.path, e.size, digest=e.digest, ref=e.ref
                    )
                    for e in stored
                },
                stored,
            )
        return self._stored_view

    def files(self, names: list[str] | None = None, per_page: int = 50) -> list[ArtifactFileInfo]:
        """The entries (each with ``.name``/``.path``), all or those of ``names``.

        From the manifest once stored, else from the draft (whose digests are None:
        listing reads no file). ``per_page`` is accepted for W&B's callers: the
        listing comes from the manifest already at hand, in one piece.
        """
        if not isinstance(per_page, int) or isinstance(per_page, bool) or per_page < 1:
            raise ConfigError(f"per_page must be a positive integer, got {per_page!r}")
        if self._manifest is not None:
            listed = [ArtifactFileInfo(e.path, e.size, e.digest, e.ref) for e in self._manifest]
        else:
            listed = [
                ArtifactFileInfo(
                    p,
                    entry_size(e),
                    e.stored.digest if isinstance(e, DraftKept) else None,
                    entry_ref(e),
                )
                for p, e in sorted(self._draft.entries.items())
            ]
        if names is None:
            return listed
        wanted = {normalize_entry_path(entry_name(n)) for n in names}
        return [f for f in listed if f.path in wanted]

    def get_entry(self, name: str | os.PathLike[str]) -> BaseEntry:
        """The entry at ``name`` of this logged version.

        Raises:
            ConfigError: the artifact is a draft (W&B too needs it logged).
            EntryNotFound: (a ``KeyError``) it has no entry of that name.
        """
        self._require_stored("get an entry of")
        path = normalize_entry_path(entry_name(name))
        entry = self.manifest.get(path)
        if entry is None:
            raise EntryNotFound(
                f"artifact {self.qualified_name} has no entry {path!r}; "
                f"entries: {', '.join(list(self.manifest.entries)[:10]) or '(none)'}"
            )
        return entry
