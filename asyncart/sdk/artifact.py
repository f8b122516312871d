"""Artifacts: the W&B-style object users build, log, use, change and download.

``BaseArtifact`` holds everything: the draft builder (``building.py``: no I/O beyond
``stat``), identity and state (``identity.py``), the settable values ``save()``
persists (``changes.py``), downloading (``downloading.py``) and the async
implementations (``_log`` etc.).
``AsyncArtifact`` exposes those coroutines; ``Artifact`` (sync) runs each through the
portal in one line.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Any, cast

import anyio.to_thread

from asyncart.client.client import Client
from asyncart.client.progress import Progress, TransferStats
from asyncart.client.publish import Publication
from asyncart.client.upload import SourceFile
from asyncart.config import Settings
from asyncart.core.manifest import Manifest
from asyncart.core.models import PendingInfo, RunInfo, VersionInfo
from asyncart.core.names import validate_aliases, validate_name
from asyncart.errors import ConfigError
from asyncart.sdk import portal
from asyncart.sdk.api_support import ArtifactReader
from asyncart.sdk.artifact_references import remember
from asyncart.sdk.building import DraftBuilder
from asyncart.sdk.changes import ArtifactChanges
from asyncart.sdk.collections import ArtifactCollection, AsyncArtifactCollection, unread_collection
from asyncart.sdk.contents import ArtifactContents
from asyncart.sdk.contents import ArtifactFileInfo as ArtifactFileInfo
from asyncart.sdk.deprecated import USE_AS_IGNORED, warn_use_as
from asyncart.sdk.diffing import ArtifactDiff, artifact_diff, fetch_version
from asyncart.sdk.downloading import AsyncDownloads, DownloadCore, SyncDownloads
from asyncart.sdk.draft import (
    Draft,
    DraftFile,
    DraftKept,
    DraftReference,
    entry_size,
)
from asyncart.sdk.entry import ArtifactEntry, ArtifactManifest, AsyncArtifactEntry
from asyncart.sdk.identity import ArtifactIdentity
from asyncart.sdk.incremental import latest_entries
from asyncart.sdk.linking import ArtifactLinking
from asyncart.sdk.metadata import normalize_metadata
from asyncart.sdk.pending import PendingUpload, settled
from asyncart.sdk.shared import shared_client


class BaseArtifact(
    ArtifactIdentity, ArtifactChanges, ArtifactContents, ArtifactLinking, DraftBuilder, DownloadCore
):
    """Shared state and logic of sync and async artifacts (building: ``DraftBuilder``;
    names and state: ``ArtifactIdentity``; what ``save()`` persists: ``ArtifactChanges``;
    the entries: ``ArtifactContents``; links: ``ArtifactLinking``)."""

    def __init__(
        self,
        name: str,
        type: str,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        incremental: bool = False,
        use_as: str | None = None,
    ) -> None:
        warn_use_as("Artifact", use_as)
        if not isinstance(incremental, bool):
            raise ConfigError(f"incremental must be True or False, got {incremental!r}")
        self._base_name = validate_name(name)
        self.type = validate_name(type, what="artifact type")
        self._init_changes(description, metadata)
        self._draft = Draft()
        self._info: VersionInfo | None = None
        self._manifest: Manifest | None = None
        self._stored_view: ArtifactManifest | None = None
        self._client: Client | None = None
        self._deleted = False
        self._pending: PendingUpload | None = None
        self._last_transfer: TransferStats | None = None
        self._incremental = incremental
        #: W&B's ``distributed_id``: set by ``run.upsert_artifact`` / ``finish_artifact``.
        self.distributed_id: str | None = None
        #: After ``run.upsert_artifact``: the distributed version pending, as stored then.
        self.pending_version: PendingInfo | None = None

    # -- state ---------------------------------------------------------------

    @property
    def last_transfer(self) -> TransferStats | None:
        """Totals of the last log or download (waits for a log in flight)."""
        self._committed()
        return self._last_transfer

    @last_transfer.setter
    def last_transfer(self, stats: TransferStats | None) -> None:
        self._last_transfer = stats

    @property
    def incremental(self) -> bool:
        """W&B's incremental artifact: logging it makes a version of the collection's
        ``latest`` entries plus the ones added here (``incremental.py``)."""
        return self._incremental

    @property
    def use_as(self) -> None:
        """Deprecated in W&B and always None there (what the draft was "used as"): None,
        with a ``DeprecationWarning``."""
        warnings.warn(f"artifact.use_as {USE_AS_IGNORED}", DeprecationWarning, stacklevel=2)
        return None

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
                f"cannot {action} artifact {self._base_name!r}: it has not been logged or used "
                "yet; "
                "call run.log_artifact(artifact) or run.use_artifact(...) first"
            )
        return self._info, self._manifest, self._client

    @property
    def digest(self) -> str:
        """The content digest: the version's once logged; a draft's from its entries.

        A draft reads each file whose digest it does not know yet, once (adding
        only stats files).
        """
        info = self._committed()
        return info.digest if info else self._draft_manifest().digest()

    @property
    def size(self) -> int:
        if self._info:
            return self._info.size
        return sum(entry_size(e) for e in self._draft.entries.values())

    @property
    def is_new_version(self) -> bool | None:
        """Whether the log that stored this artifact made a new version: False when the
        store already held the same content and the log returned that version (also for
        an artifact fetched or used rather than logged); None for a draft. Waits for a
        log in flight."""
        info = self._committed()
        return info.created if info else None

    def __repr__(self) -> str:
        shown = self._info.qualified_name if self._info else self._base_name  # never waits
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
        tags: list[str] | None = None,
    ) -> None:
        """Upload what the store lacks and commit the version (or find the existing one);
        then give it ``tags`` and a ttl set on the draft (one update after the commit).

        ``background``: the caller goes on meanwhile (see ``Client.publish``). An
        incremental artifact keeps the entries of ``latest`` it does not replace.
        """
        after_commit = self._log_changes(tags or [])
        pub = self._publication(project, run_id, aliases)
        stats = TransferStats()
        async with client.use() as remote:
            if self._incremental:
                base = await latest_entries(remote, project, pub.name, self._draft.entries)
                pub = dataclasses.replace(pub, kept=pub.kept + base)
            info, manifest = await client.publish(
                remote, pub, stats, progress, background=background
            )
            if not after_commit.empty:  # a log's tags and ttl
                info = await remote.update_version(
                    info.project, info.name, info.version, after_commit
                )
        self._bind(client, info, manifest)
        self.last_transfer = stats
        await anyio.to_thread.run_sync(self._draft.cleanup)  # removes the staged copies

    def _publication(
        self,
        project: str,
        run_id: str | None,
        aliases: list[str] | None,
        *,
        allow_empty: bool = False,
    ) -> Publication:
        """What logging this draft sends: its files, references and kept entries, with
        the aliases, metadata and description (checked now)."""
        if self._info is not None:
            self._require_draft()  # raises: already stored
        draft = self._draft
        alias_list = validate_aliases(aliases)
        metadata = normalize_metadata(self._metadata)
        if not draft.entries and not allow_empty:
            raise ConfigError(f"artifact {self._base_name!r} is empty; add files before logging it")
        files = [e for e in draft.entries.values() if isinstance(e, DraftFile)]
        refs = [e for e in draft.entries.values() if isinstance(e, DraftReference)]
        kept = tuple(e.stored for e in draft.entries.values() if isinstance(e, DraftKept))
        return Publication(
            project=project,
            name=self._base_name,
            type=self.type,
            files=tuple(SourceFile(f.path, f.local, f.identity) for f in files),
            references=tuple(refs),
            aliases=tuple(alias_list),
            metadata=metadata,
            description=self._description,
            run_id=run_id,
            kept=kept,
        )

    def _reader(self) -> ArtifactReader[Any]:
        """What a collection object of this artifact reads through: its client."""
        if self._client is None:
            raise ConfigError(f"artifact {self._base_name!r} has no store to read from yet")
        return ArtifactReader(self._client, type(self))

    def _bind(self, client: Client, info: VersionInfo, manifest: Manifest) -> None:
        self._client, self._info, self._manifest = client, info, manifest
        self._stored_view = None
        remember(self)
        self._bind_changes(info)

    async def _wait(self, timeout: float | None) -> None:  # noqa: ASYNC109 - W&B's wait()
        if self._pending is not None:
            with anyio.fail_after(timeout):
                await settled([self._pending])
            if self._pending.error is not None:
                self._pending.observed = True
                raise self._pending.error
        self._require_stored("wait for")

    async def _logged_by(self) -> RunInfo | None:
        info, _, client = self._require_stored("query lineage of")
        async with client.use() as remote:
            runs = await remote.version_producers(info.project, info.name, info.version)
        return runs[0] if runs else None

    async def _used_by(self) -> list[RunInfo]:
        info, _, client = self._require_stored("query lineage of")
        async with client.use() as remote:
            return await remote.version_consumers(info.project, info.name, info.version)

    async def _diff(self, other: BaseArtifact | str) -> ArtifactDiff:
        info, manifest, client = self._require_stored("diff")
        if isinstance(other, str):
            other_info, other_manifest = await fetch_version(client, other, info.project)
        elif isinstance(other, BaseArtifact):
            other_info, other_manifest, _ = other._require_stored("diff")
        else:
            raise ConfigError(
                f"diff needs an artifact or a reference 'name:version', got {type(other).__name__}"
            )
        return artifact_diff(info, manifest, other_info, other_manifest)

    async def _delete(self, delete_aliases: bool) -> None:
        info, _, client = self._require_stored("delete")
        if info.source is not None:  # deleting a link removes the link only (W&B)
            await self._unlink()
            return
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

    @property
    def collection(self) -> ArtifactCollection | None:
        """The collection of this logged version, editable (``save()``, ``delete()``); None
        for a draft. Its description, tags and aliases are read when first asked for."""
        return cast("ArtifactCollection | None", super().collection)

    def _collection_of(self, info: VersionInfo) -> ArtifactCollection:
        return ArtifactCollection(unread_collection(self._reader(), info))

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

    def diff(self, other: Artifact | str) -> ArtifactDiff:
        """What changed from this version to ``other`` (a logged artifact, or a reference
        ``[project/]name[:version|alias]``, of any collection): files added, removed,
        changed (with the bytes that differ at chunk level), renamed and unchanged, and
        the bytes of ``other`` new against this one. Reads manifests only (an asyncart
        addition: W&B has no diff).

        Raises:
            ConfigError: either side is a draft.
            NotFoundError: the reference names no version.
        """
        self._committed()
        if isinstance(other, BaseArtifact):
            other._committed()  # waits here, not on the event loop
        return portal.call(self._diff, other)

    def wait(self, timeout: float | None = None) -> Artifact:
        """Block until the version is committed; re-raise the upload's error if it failed.

        Raises:
            TimeoutError: not committed within ``timeout`` seconds (the upload goes on).
        """
        if self._pending is not None:
            self._pending.wait(timeout)
        self._require_stored("wait for")
        return self

    def save(self, project: str | None = None, settings: object = None) -> None:
        """Persist changes of a logged version's aliases, tags, description, metadata and
        ttl (aliases move as a log moves them). A draft is logged instead, by a run of
        job type ``auto`` in ``project`` (default: the settings'). ``settings`` (W&B's
        ``wandb.Settings``) is accepted and ignored: the environment's settings apply.
        """
        if self.is_draft and not self.is_logging:
            client = portal.call(shared_client, Settings.from_env())
            portal.call(self._log_in_auto_run, client, project)
            return
        self._committed()  # waits here, not on the event loop
        portal.call(self._save)

    def new_draft(self) -> Artifact:
        """A draft with this version's entries, description and metadata: add and remove
        entries, then log it as the collection's next version (only new bytes are sent)."""
        return self._new_draft()

    def link(self, target_path: str, aliases: list[str] | None = None) -> Artifact:
        """Link this version into ``target_path`` (``[[entity/]project/]collection``, or
        a registry's ``wandb-registry-<registry>/<collection>``) without copying its bytes;
        returns the link (``portfolio:v0``, with ``latest`` and ``aliases``). A draft is
        logged first, as :meth:`save` logs it."""
        if self.is_draft and not self.is_logging:
            self.save()
        self._committed()
        return portal.call(self._link, target_path, aliases)

    def unlink(self) -> None:
        """Remove this link (its source stays). A logged version is refused (``ConfigError``,
        a ``ValueError``): delete it instead."""
        self._committed()
        portal.call(self._unlink)

    @property
    def linked_artifacts(self) -> list[Artifact]:
        """The links of this version (in projects the caller may read); ``[]`` for a link."""
        self._committed()
        return portal.call(self._linked_artifacts)

    @property
    def source_artifact(self) -> Artifact:
        """The version a link points at; a logged version is its own source."""
        self._committed()
        return portal.call(self._source_artifact)

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

    @property
    def collection(self) -> AsyncArtifactCollection[AsyncArtifact] | None:
        """The collection of this logged version, editable (``await save()``, ``await
        delete()``); None for a draft. ``await collection.load()`` reads its description,
        tags and aliases (``name``, ``type``, ``project`` need no read)."""
        return cast("AsyncArtifactCollection[AsyncArtifact] | None", super().collection)

    def _collection_of(self, info: VersionInfo) -> AsyncArtifactCollection[AsyncArtifact]:
        return unread_collection(self._reader(), info)

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

    async def diff(self, other: AsyncArtifact | str) -> ArtifactDiff:
        """What changed from this version to ``other`` (see :meth:`Artifact.diff`)."""
        await self._wait(None)
        if isinstance(other, AsyncArtifact):
            await other._wait(None)
        return await self._diff(other)

    async def wait(self, timeout: float | None = None) -> AsyncArtifact:  # noqa: ASYNC109
        """Until the version is committed; re-raise the upload's error if it failed.

        Raises:
            TimeoutError: not committed within ``timeout`` seconds (the upload goes on).
        """
        await self._wait(timeout)
        return self

    async def save(self, project: str | None = None, settings: object = None) -> None:
        """Persist changes of a logged version (see :meth:`Artifact.save`); a draft is
        logged by a run of job type ``auto``."""
        if self.is_draft and not self.is_logging:
            await self._log_in_auto_run(Client(Settings.from_env()), project)
            return
        await self._wait(None)
        await self._save()

    def new_draft(self) -> AsyncArtifact:
        """A draft with this version's entries (see :meth:`Artifact.new_draft`)."""
        return self._new_draft()

    async def link(self, target_path: str, aliases: list[str] | None = None) -> AsyncArtifact:
        """Link this version into a collection (see :meth:`Artifact.link`)."""
        if self.is_draft and not self.is_logging:
            await self.save()
        await self._wait(None)
        return await self._link(target_path, aliases)

    async def unlink(self) -> None:
        """Remove this link (see :meth:`Artifact.unlink`)."""
        await self._wait(None)
        await self._unlink()

    async def linked_artifacts(self) -> list[AsyncArtifact]:
        """The links of this version (W&B's ``linked_artifacts`` property, awaited)."""
        await self._wait(None)
        return await self._linked_artifacts()

    async def source_artifact(self) -> AsyncArtifact:
        """The version a link points at (W&B's ``source_artifact`` property, awaited)."""
        await self._wait(None)
        return await self._source_artifact()
