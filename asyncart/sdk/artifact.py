"""Artifacts: the W&B-style object users build, log, use and download.

``BaseArtifact`` holds everything: the draft builder (no I/O beyond ``stat``)
and the async implementations (``_log`` etc.; downloading: ``downloading.py``).
``AsyncArtifact`` exposes those coroutines; ``Artifact`` (sync) runs each through
the portal in one line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, cast

import anyio.to_thread

from asyncart.client.client import Client
from asyncart.client.progress import Progress, TransferStats
from asyncart.client.publish import Publication, Reference
from asyncart.client.upload import SourceFile
from asyncart.core.manifest import Manifest
from asyncart.core.models import RunInfo, VersionInfo
from asyncart.core.names import validate_alias, validate_name
from asyncart.core.paths import normalize_entry_path
from asyncart.errors import ConfigError, EntryNotFound
from asyncart.sdk import portal
from asyncart.sdk.building import DraftBuilder
from asyncart.sdk.downloading import AsyncDownloads, DownloadCore, SyncDownloads
from asyncart.sdk.draft import Draft, DraftFile, DraftReference, entry_name
from asyncart.sdk.entry import ArtifactEntry, ArtifactManifest, AsyncArtifactEntry, BaseEntry
from asyncart.sdk.pending import PendingUpload


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


class BaseArtifact(DraftBuilder, DownloadCore):
    """Shared state and logic of sync and async artifacts (building: ``DraftBuilder``)."""

    def __init__(
        self,
        name: str,
        type: str,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.name = validate_name(name)
        self.type = validate_name(type, what="artifact type")
        self.description = description
        if metadata is not None and not isinstance(metadata, dict):
            raise ConfigError("metadata must be a dict")
        self.metadata: dict[str, Any] = dict(metadata or {})
        self._draft = Draft()
        self._info: VersionInfo | None = None
        self._manifest: Manifest | None = None
        self._stored_view: ArtifactManifest | None = None
        self._client: Client | None = None
        self._deleted = False
        self._pending: PendingUpload | None = None
        self._last_transfer: TransferStats | None = None

    # -- state ---------------------------------------------------------------

    @property
    def is_draft(self) -> bool:
        """True until the version is committed (also while it is being logged)."""
        return self._info is None

    @property
    def last_transfer(self) -> TransferStats | None:
        """Totals of the last log or download (waits for a log in flight)."""
        self._committed()
        return self._last_transfer

    @last_transfer.setter
    def last_transfer(self, stats: TransferStats | None) -> None:
        self._last_transfer = stats

    @property
    def is_logging(self) -> bool:
        """True while ``log_artifact`` for this artifact has not settled."""
        return self._pending is not None and not self._pending.done

    def _committed(self) -> VersionInfo | None:
        """The version info, after waiting for a log in flight (its error is re-raised)."""
        if self._pending is not None:
            self._pending.wait()
        return self._info

    def _require_stored(self, action: str) -> tuple[VersionInfo, Manifest, Client]:
        self._committed()
        if self._deleted:
            raise ConfigError(
                f"cannot {action} artifact {self.qualified_name}: it was deleted from the store"
            )
        if self._info is None or self._manifest is None or self._client is None:
            raise ConfigError(
                f"cannot {action} artifact {self.name!r}: it has not been logged or used yet; "
                "call run.log_artifact(artifact) or run.use_artifact(...) first"
            )
        return self._info, self._manifest, self._client

    @property
    def version(self) -> str | None:
        """``'v3'`` once logged or used; None for a draft."""
        info = self._committed()
        return info.version if info else None

    @property
    def digest(self) -> str:
        """The content digest: the version's once logged; a draft's from its entries.

        A draft reads each file whose digest it does not know yet, once (adding
        only stats files).
        """
        info = self._committed()
        return info.digest if info else self._draft_manifest().digest()

    @property
    def aliases(self) -> list[str]:
        info = self._committed()
        return list(info.aliases) if info else []

    @property
    def size(self) -> int:
        if self._info:
            return self._info.size
        return sum(e.identity.size for e in self._draft.entries.values())

    @property
    def project(self) -> str | None:
        info = self._committed()
        return info.project if info else None

    @property
    def qualified_name(self) -> str:
        """``project/name:v3`` once stored, else the bare name (waits for a log in flight)."""
        info = self._committed()
        return info.qualified_name if info else self.name

    @property
    def created_at(self) -> float | None:
        info = self._committed()
        return info.created_at if info else None

    @property
    def is_new_version(self) -> bool | None:
        """Whether the log that stored this artifact made a new version: False when the
        store already held the same content and the log returned that version (also for
        an artifact fetched or used rather than logged); None for a draft. Waits for a
        log in flight."""
        info = self._committed()
        return info.created if info else None

    @property
    def manifest(self) -> ArtifactManifest:
        """The entries (``manifest.entries``: ``{path: entry}``): stored, or the draft's now."""
        if self._committed() is None and not self._deleted:
            return self._draft_manifest()
        stored = self._require_stored("read the manifest of")[1]
        if self._stored_view is None or self._stored_view.stored is not stored:
            self._stored_view = ArtifactManifest(
                {
                    e.path: self._entry_class(self, e.path, e.size, digest=e.digest, ref=e.ref)
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
                    p, e.identity.size, None, e.uri if isinstance(e, DraftReference) else None
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

    def __repr__(self) -> str:
        shown = self._info.qualified_name if self._info else self.name  # never waits
        state = " (logging)" if self.is_logging else ""
        return f"<{type(self).__name__} {shown} type={self.type!r}{state}>"

    # -- async core ----------------------------------------------------------------

    async def _log(
        self,
        client: Client,
        project: str,
        run_id: str | None,
        aliases: list[str] | None,
        progress: Progress | None = None,
        *,
        background: bool = False,
    ) -> None:
        """Upload what the store lacks and commit the version (or find the existing one).

        ``background``: the caller goes on meanwhile (see ``Client.publish``).
        """
        if self._info is not None:
            self._require_draft()  # raises: already stored
        draft = self._draft
        alias_list = [validate_alias(a) for a in (aliases or [])]
        if not draft.entries:
            raise ConfigError(f"artifact {self.name!r} is empty; add files before logging it")
        files = [e for e in draft.entries.values() if isinstance(e, DraftFile)]
        refs = [e for e in draft.entries.values() if isinstance(e, DraftReference)]
        pub = Publication(
            project=project,
            name=self.name,
            type=self.type,
            files=tuple(SourceFile(f.path, f.local, f.identity) for f in files),
            references=tuple(
                Reference(r.path, r.uri, r.local, r.identity, r.checksum, r.digest) for r in refs
            ),
            aliases=tuple(alias_list),
            metadata=self.metadata,
            description=self.description,
            run_id=run_id,
        )
        stats = TransferStats()
        async with client.use() as remote:
            info, manifest = await client.publish(
                remote, pub, stats, progress, background=background
            )
        self._bind(client, info, manifest)
        self.last_transfer = stats
        await anyio.to_thread.run_sync(draft.cleanup)  # removes the staged copies

    def _bind(self, client: Client, info: VersionInfo, manifest: Manifest) -> None:
        self._client, self._info, self._manifest = client, info, manifest
        self._stored_view = None
        self.metadata = dict(info.metadata)
        self.description = info.description

    async def _logged_by(self) -> RunInfo | None:
        info, _, client = self._require_stored("query lineage of")
        async with client.use() as remote:
            runs = await remote.version_producers(info.project, info.name, info.version)
        return runs[0] if runs else None

    async def _used_by(self) -> list[RunInfo]:
        info, _, client = self._require_stored("query lineage of")
        async with client.use() as remote:
            return await remote.version_consumers(info.project, info.name, info.version)

    async def _delete(self, delete_aliases: bool) -> None:
        info, _, client = self._require_stored("delete")
        async with client.use() as remote:
            await remote.delete_version(info.project, info.name, info.version, delete_aliases)
        self._deleted = True


class Artifact(BaseArtifact, SyncDownloads):
    """A versioned artifact (sync API); see ``asyncart.aio.Artifact`` for the async one."""

    _entry_class = ArtifactEntry

    def get_entry(self, name: str | os.PathLike[str]) -> ArtifactEntry:
        """The entry at ``name`` of this logged version: ``.download()`` fetches it alone.

        Raises:
            ConfigError: the artifact is a draft (W&B too needs it logged).
            EntryNotFound: (a ``KeyError``) it has no entry of that name.
        """
        return cast(ArtifactEntry, super().get_entry(name))

    def get_path(self, name: str | os.PathLike[str]) -> ArtifactEntry:
        """The same as :meth:`get_entry` (W&B's older name, which it keeps as an alias)."""
        return self.get_entry(name)

    def logged_by(self) -> RunInfo | None:
        """The run that created this version."""
        return portal.call(self._logged_by)

    def used_by(self) -> list[RunInfo]:
        """Runs that used this version as input."""
        return portal.call(self._used_by)

    def delete(self, delete_aliases: bool = False) -> None:
        """Delete this version from the store (its unshared chunks go at the next gc).

        A version holding aliases other than ``latest`` is refused (ConflictError) unless
        ``delete_aliases=True``; ``latest`` moves to the newest remaining version.
        """
        portal.call(self._delete, delete_aliases)

    def wait(self, timeout: float | None = None) -> Artifact:
        """Block until the version is committed; re-raise the upload's error if it failed.

        Raises:
            TimeoutError: not committed within ``timeout`` seconds (the upload goes on).
        """
        if self._pending is not None:
            self._pending.wait(timeout)
        self._require_stored("wait for")
        return self

    def cancel(self) -> bool:
        """Stop this artifact's pending ``run.log_artifact``; return once the upload stopped.

        True if it stopped before the version was committed: nothing is stored, the
        artifact is a draft again (log it again, or let it go; ``finish()`` reports no
        error for it). False if there was nothing to stop: the log had already
        committed or failed (``wait()`` says which), or the artifact was never logged.
        """
        return self._pending is not None and self._pending.cancel()


class AsyncArtifact(BaseArtifact, AsyncDownloads):
    """A versioned artifact whose I/O methods are coroutines."""

    _entry_class = AsyncArtifactEntry

    def get_entry(self, name: str | os.PathLike[str]) -> AsyncArtifactEntry:
        """The entry at ``name`` of this logged version: ``await entry.download()``.

        Raises:
            ConfigError: the artifact is a draft.
            EntryNotFound: (a ``KeyError``) it has no entry of that name.
        """
        return cast(AsyncArtifactEntry, super().get_entry(name))

    def get_path(self, name: str | os.PathLike[str]) -> AsyncArtifactEntry:
        """The same as :meth:`get_entry`."""
        return self.get_entry(name)

    async def logged_by(self) -> RunInfo | None:
        return await self._logged_by()

    async def used_by(self) -> list[RunInfo]:
        return await self._used_by()

    async def delete(self, delete_aliases: bool = False) -> None:
        """Delete this version from the store (its unshared chunks go at the next gc).

        A version holding aliases other than ``latest`` is refused (ConflictError) unless
        ``delete_aliases=True``; ``latest`` moves to the newest remaining version.
        """
        await self._delete(delete_aliases)
