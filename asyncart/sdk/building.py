"""Building a draft artifact: the ``add_*``/``new_file``/``remove`` methods of every artifact.

``DraftBuilder`` is the part of :class:`~asyncart.sdk.artifact.BaseArtifact` that
changes its :class:`~asyncart.sdk.draft.Draft` (no I/O beyond ``stat`` and the
``mutable`` snapshot) and shows the draft's entries as entry objects.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any, ClassVar, cast

from asyncart.core.entry_uris import is_artifact_uri
from asyncart.core.models import VersionInfo
from asyncart.errors import ConfigError
from asyncart.sdk.artifact_references import reference_to_entry, reference_to_uri
from asyncart.sdk.draft import (
    Draft,
    DraftEntry,
    DraftFile,
    DraftKept,
    DraftReference,
    entry_ref,
    entry_size,
)
from asyncart.sdk.entry import ArtifactManifest, BaseEntry
from asyncart.sdk.remote_references import remote_references

if TYPE_CHECKING:
    from asyncart.sdk.artifact import BaseArtifact


class DraftBuilder:
    """Adding to and removing from an artifact before it is logged."""

    _base_name: str
    _final: bool
    type: str
    _draft: Draft
    _info: VersionInfo | None
    _entry_class: ClassVar[builtins.type[BaseEntry]] = BaseEntry

    if TYPE_CHECKING:  # provided by BaseArtifact

        @property
        def is_logging(self) -> bool: ...

        @property
        def qualified_name(self) -> str: ...

    def _require_draft(self) -> Draft:
        if self.is_logging:
            raise ConfigError(
                f"artifact {self._base_name!r} is being logged and cannot change; "
                "create a new Artifact for further files"
            )
        if self._info is not None:
            raise ConfigError(
                f"artifact {self.qualified_name} is already stored and cannot change; "
                f"create a new Artifact({self._base_name!r}, type={self.type!r}) for a new "
                "version (or artifact.new_draft(): it starts with this version's entries)"
            )
        if self._final:
            raise ConfigError(
                f"artifact {self._base_name!r} was finalized and cannot change; "
                "create a new Artifact for further files"
            )
        return self._draft

    def add_file(
        self,
        local_path: str | os.PathLike[str],
        name: str | os.PathLike[str] | None = None,
        is_tmp: bool = False,
        skip_cache: bool = False,
        policy: str = "mutable",
        overwrite: bool = False,
    ) -> BaseEntry:
        """Add a local file (checked now: missing or unreadable files fail here); its entry.

        ``name`` (a string or any path object) defaults to the file's name. Adding a
        file with the same bytes under a name the draft has is a no-op; other bytes
        raise ConfigError unless ``overwrite=True``. ``is_tmp``: the name's stem
        becomes the start of the content's digest (the file is read now).
        ``skip_cache`` is kept on the entry for W&B's callers (asyncart keeps no
        upload cache to skip).

        ``policy='mutable'`` (default) snapshots the file now (a reflink where the
        file system can, else a copy into a staging directory under the cache
        directory): the version holds the bytes of this moment even if the file is
        overwritten, in place or by rename, before the upload ends.
        ``policy='immutable'`` promises the file will not change until the upload
        ends: no copy; if it changes anyway, the log fails with FileChangedError
        (raised by ``wait()``/``finish()``), never commits a torn version.
        """
        draft = self._require_draft()
        e = draft.add_file(
            local_path, name, policy, is_tmp=is_tmp, skip_cache=skip_cache, overwrite=overwrite
        )
        return self._draft_entry(e)

    def add_dir(
        self,
        local_path: str | os.PathLike[str],
        name: str | os.PathLike[str] | None = None,
        skip_cache: bool = False,
        policy: str = "mutable",
        merge: bool = False,
    ) -> list[BaseEntry]:
        """Add every file under a directory, recursively, optionally under ``name/``.

        ``policy`` as for :meth:`add_file`, for every file. A file the draft already
        has under the same path is kept if its bytes are the same; other bytes raise
        ConfigError (nothing is added) unless ``merge=True``, which replaces them.
        Returns the entries added or replaced.
        """
        draft = self._require_draft()
        added = draft.add_dir(local_path, name, policy, skip_cache=skip_cache, merge=merge)
        return [self._draft_entry(e) for e in added]

    def add_reference(
        self,
        uri: str | BaseEntry,
        name: str | os.PathLike[str] | None = None,
        checksum: bool = True,
        max_objects: int | None = None,
    ) -> list[BaseEntry]:
        """Record a ``file://``, ``http(s)://`` or ``s3://`` URI; its bytes are not
        uploaded. Returns the entries added.

        A directory becomes one entry per file below it (at most ``max_objects``,
        default 10,000,000), under ``name/`` if given. With ``checksum=True`` each
        file's size and digest are recorded (read at log time) and a download checks
        them; ``checksum=False`` records the URI only: the version changes only when
        the URI does, and a download copies whatever the file holds then.

        An ``http(s)://`` URL is one entry (named by the URL's last path component
        unless ``name`` is given), asked once, now, for its ETag and ``Content-Length``
        (as W&B records it); a download fetches it and refuses other bytes (another
        ETag). A URL answering without an ETag is recorded by URI only. An ``s3://``
        object is recorded by ETag, size and version id, a prefix as one entry per
        object below it (``client/s3_references.py``).

        An entry of another logged artifact (``other.get_entry('a.csv')``), or its URI
        (``asyncart-artifact://<project>/<name>:v<N>/<path>``, ``entry.ref_url()``;
        ``asyncart-artifact://<artifact id>/<path>``; ``wandb-artifact://`` too), is
        recorded as a reference to that version's entry (named by the entry's last
        path component unless ``name``): no bytes are copied, a download fetches and
        verifies the source's (``sdk/artifact_references.py``).
        """
        draft = self._require_draft()
        if isinstance(uri, BaseEntry):
            added = draft.put_references([reference_to_entry(uri, name)])
        elif is_artifact_uri(uri):
            added = draft.put_references([reference_to_uri(uri, name)])
        elif (remote := remote_references(uri, name, checksum, max_objects)) is not None:
            added = draft.put_references(remote)
        else:
            added = draft.add_reference(uri, name, checksum=checksum, max_objects=max_objects)
        return [self._draft_entry(e) for e in added]

    @contextmanager
    def new_file(
        self, name: str | os.PathLike[str], mode: str = "x", encoding: str | None = None
    ) -> Iterator[IO[Any]]:
        """Write a new file into the artifact: ``with art.new_file('a.txt') as f: f.write(...)``.

        The file is added when the block ends without an error. ``mode='x'`` (the
        default, or ``'xb'``) refuses a name the draft already has; ``'w'``/``'wb'``
        replaces its entry. Text is UTF-8 unless ``encoding`` says otherwise.
        """
        with self._require_draft().new_file(name, mode, encoding) as f:
            yield f

    def remove(self, item: str | os.PathLike[str] | BaseEntry) -> None:
        """Remove an entry (by name, path object or entry), or every entry under a directory.

        Raises:
            EntryNotFound: (a ``FileNotFoundError``) the draft has nothing of that name.
        """
        self._require_draft().remove(item.path if isinstance(item, BaseEntry) else item)

    def _draft_manifest(self) -> ArtifactManifest:
        with self._draft._lock:
            items = list(self._draft.entries.values())
        return ArtifactManifest({e.path: self._draft_entry(e) for e in items})

    def _draft_entry(self, entry: DraftEntry) -> BaseEntry:
        path, draft = entry.path, self._draft
        return self._entry_class(
            cast("BaseArtifact", self),
            path,
            entry_size(entry),
            digest=draft._digests.get(path),
            digest_of=lambda: draft.digest_of(path),
            ref=entry_ref(entry),
            local_path=None
            if isinstance(entry, DraftKept)
            or (isinstance(entry, DraftReference) and entry.digest)
            else str(entry.local),
            skip_cache=entry.skip_cache if isinstance(entry, DraftFile) else False,
        )
