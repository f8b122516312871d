"""Changing a logged version, as W&B's ``Artifact`` does: settable ``aliases``, ``tags``,
``description``, ``metadata`` and ``ttl``, persisted by ``save()``.

``ArtifactChanges`` is the part of :class:`~asyncart.sdk.artifact.BaseArtifact` that holds
those values and what the store last said of them; ``_save_changes`` sends the
difference (one update of the version, then one request per alias added or removed)
and rebinds the artifact to the version as the store then answers. In-place changes
count (``artifact.aliases.append("best")``, ``artifact.metadata["k"] = 1``): save()
compares with what the store last said. ``latest`` is the store's (it names the newest
version): adding it to another version or removing it is refused.
"""

from __future__ import annotations

import copy
import enum
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from asyncart.core import protocol as P
from asyncart.core.models import VersionChanges, VersionInfo
from asyncart.core.names import LATEST, validate_alias, validate_name, validate_tags
from asyncart.errors import ConfigError
from asyncart.sdk.metadata import normalize_metadata

if TYPE_CHECKING:
    from typing_extensions import Self

    from asyncart.client.client import Client
    from asyncart.core.manifest import Manifest
    from asyncart.sdk.draft import Draft


class ArtifactTTL(enum.Enum):
    """W&B's ``ArtifactTTL``: ``INHERIT`` takes the default ttl (asyncart has none: the
    version then lives until it is deleted)."""

    INHERIT = "inherit"


class ArtifactChanges:
    """Description, metadata, aliases, tags and ttl, and saving changes of them."""

    _base_name: str
    _info: VersionInfo | None
    _draft: Draft
    type: str

    if TYPE_CHECKING:  # provided by BaseArtifact

        def __init__(
            self, name: str, type: str, description: str | None, metadata: dict[str, Any]
        ) -> None: ...

        def _committed(self) -> VersionInfo | None: ...

        def _require_stored(self, action: str) -> tuple[VersionInfo, Manifest, Client]: ...

        async def _log(
            self, client: Client, project: str, run_id: str | None, aliases: list[str] | None
        ) -> None: ...

    def _init_changes(self, description: str | None, metadata: object) -> None:
        self._description = description
        self._metadata: dict[str, Any] = normalize_metadata(metadata)
        self._aliases: list[str] = []
        self._saved_aliases: list[str] = []
        self._tags: list[str] = []
        self._saved_tags: list[str] = []
        self._saved_description: str | None = None
        self._saved_metadata: dict[str, Any] = {}
        self._ttl_seconds: int | None = None
        self._ttl_inherited = True
        self._ttl_changed = False
        self._final = False

    def _bind_changes(self, info: VersionInfo) -> None:
        """Take what the store says of the version (after a log, a fetch or a save)."""
        self._aliases, self._saved_aliases = list(info.aliases), list(info.aliases)
        self._tags, self._saved_tags = list(info.tags), list(info.tags)
        self._description = self._saved_description = info.description
        self._metadata = dict(info.metadata)
        self._saved_metadata = copy.deepcopy(self._metadata)
        self._ttl_seconds, self._ttl_inherited, self._ttl_changed = info.ttl, False, False
        self._final = True

    # -- the settable values ----------------------------------------------------------

    @property
    def description(self) -> str | None:
        return self._description

    @description.setter
    def description(self, description: str | None) -> None:
        if description is not None and not isinstance(description, str):
            raise ConfigError(f"description must be a string, got {type(description).__name__}")
        self._description = description

    @property
    def metadata(self) -> dict[str, Any]:
        """The version's metadata (a dict; change it in place or set a new one)."""
        return self._metadata

    @metadata.setter
    def metadata(self, metadata: dict[str, Any]) -> None:
        """Set it: a dict (or a JSON object's text), normalised and copied as W&B does
        (NumPy values to plain ones, NaN to None; Infinity refused; at most 100 keys).

        Raises:
            ConfigError: anything else (W&B raises TypeError or ValueError).
        """
        self._metadata = normalize_metadata(metadata)

    @property
    def aliases(self) -> list[str]:
        """The version's aliases (``latest`` among them while it is the newest); [] for a
        draft. Set them, or change the list in place, then ``save()``."""
        return self._aliases if self._committed() else []

    @aliases.setter
    def aliases(self, aliases: list[str]) -> None:
        self._require_logged("set the aliases of", "run.log_artifact(artifact, aliases=[...])")
        self._aliases = [validate_alias(a) for a in _as_list(aliases, "aliases")]

    @property
    def tags(self) -> list[str]:
        """The version's tags; [] for a draft. Set them, or change the list in place,
        then ``save()``."""
        return self._tags if self._committed() else []

    @tags.setter
    def tags(self, tags: list[str]) -> None:
        self._require_logged("set the tags of", "run.log_artifact(artifact, tags=[...])")
        self._tags = validate_tags(tags)

    @property
    def ttl(self) -> timedelta | None:
        """How long the version lives after its creation; None: until it is deleted.

        Raises:
            ConfigError: a draft whose ttl was not set (W&B: the team default is not
                known before logging).
        """
        if self._ttl_inherited and (self._committed() is None or self._ttl_changed):
            raise ConfigError(
                f"the ttl of artifact {self._base_name!r} is inherited and known once it is "
                "logged; set artifact.ttl, or read it after logging"
            )
        return None if self._ttl_seconds is None else timedelta(seconds=self._ttl_seconds)

    @ttl.setter
    def ttl(self, ttl: timedelta | ArtifactTTL | None) -> None:
        """A positive ``timedelta``, None (no limit) or ``ArtifactTTL.INHERIT``.

        asyncart records the ttl with the version; it does not delete expired versions
        yet (docs/wandb-compat.md). A link's ttl is its source's: setting it is refused.
        """
        info = getattr(self, "_info", None)
        if info is not None and info.source is not None:
            raise ConfigError(
                "Cannot set TTL for link artifact; unlink the artifact first, then set the "
                "TTL of its source artifact"
            )
        if isinstance(ttl, ArtifactTTL):
            self._ttl_inherited, self._ttl_seconds = True, None
        elif ttl is None:
            self._ttl_inherited, self._ttl_seconds = False, None
        elif isinstance(ttl, timedelta):
            if not 0 < ttl.total_seconds() <= P.MAX_TTL_SECONDS:
                raise ConfigError(
                    f"an artifact ttl must be positive and at most {P.MAX_TTL_SECONDS} s "
                    f"(about 68 years), got {ttl}"
                )
            self._ttl_inherited, self._ttl_seconds = False, max(1, int(ttl.total_seconds()))
        else:
            raise ConfigError(f"ttl must be a timedelta, None or ArtifactTTL, not {ttl!r}")
        self._ttl_changed = True

    def finalize(self) -> None:
        """Allow no more ``add_*``/``remove`` (logging finalizes an artifact too)."""
        self._final = True

    # -- saving ----------------------------------------------------------------------------

    def _require_logged(self, doing: str, instead: str) -> VersionInfo:
        info = self._committed()
        if info is None:
            raise ConfigError(
                f"cannot {doing} artifact {self._base_name!r}: it has not been logged; "
                f"use {instead}"
            )
        return info

    def _alias_changes(self) -> tuple[list[str], list[str]]:
        """``(added, removed)`` aliases since the store last answered."""
        wanted = [validate_alias(a) for a in dict.fromkeys(self._aliases)]
        added = [a for a in wanted if a not in self._saved_aliases]
        removed = [a for a in self._saved_aliases if a not in wanted]
        if LATEST in added or LATEST in removed:
            raise ConfigError(
                f"alias {LATEST!r} always names the newest version: it cannot be added to "
                "or removed from a version by hand (logging a version moves it)"
            )
        return added, removed

    def _version_changes(self) -> VersionChanges:
        """What the next save changes of the version itself (checks every value first)."""
        tags = validate_tags(self._tags)
        metadata = normalize_metadata(self._metadata)
        return VersionChanges(
            description=self._description,
            set_description=self._description != self._saved_description,
            metadata=metadata if metadata != self._saved_metadata else None,
            ttl=self._ttl_seconds,
            set_ttl=self._ttl_changed,
            tags_add=tuple(t for t in tags if t not in self._saved_tags),
            tags_remove=tuple(t for t in self._saved_tags if t not in tags),
        )

    async def _save(self) -> None:
        """Persist changed aliases, tags, description, metadata and ttl of a logged version."""
        info, _, client = self._require_stored("save")
        self._info = await self._save_changes(client, info)
        self._bind_changes(self._info)

    def _new_draft(self) -> Self:
        """A draft holding this version's entries, description and metadata."""
        info, manifest, _ = self._require_stored("make a new draft of")
        # A link's draft continues its source's collection (as W&B's).
        name = info.source.name if info.source is not None else self._base_name
        draft = type(self)(name, self.type, self._description, self._metadata)
        draft._draft.keep(manifest)
        return draft

    async def _log_in_auto_run(self, client: Client, project: str | None) -> None:
        """Log this draft from a run of job type ``auto`` (``save()`` of a draft, as W&B's
        without an active run), finished or failed with the log."""
        where = validate_name(project or client.settings.project, what="project name")
        async with client.use() as remote:
            run = await remote.create_run(where, "auto", None, {}, secrets.token_hex(8))
        status = "failed"
        try:
            await self._log(client, where, run.id, None)
            status = "finished"
        finally:
            async with client.use() as remote:
                await remote.finish_run(run.id, status)

    async def _save_changes(self, client: Client, info: VersionInfo) -> VersionInfo:
        """Send what changed (nothing is sent if a value is refused); the version now."""
        changes = self._version_changes()
        added, removed = self._alias_changes()
        async with client.use() as remote:
            if not changes.empty:
                info = await remote.update_version(info.project, info.name, info.version, changes)
            for alias in added:
                info = await remote.set_alias(info.project, info.name, alias, info.version)
            for alias in removed:
                await remote.remove_alias(info.project, info.name, alias)
            if added or removed:
                info = await remote.get_version(info.project, info.name, info.version)
        return info

    def _log_changes(self, tags: list[str]) -> VersionChanges:
        """What a log applies after its commit: ``tags`` and a ttl set on the draft."""
        return VersionChanges(
            ttl=self._ttl_seconds,
            set_ttl=self._ttl_changed,
            tags_add=tuple(validate_tags(tags)),
        )


def _as_list(values: object, what: str) -> list[Any]:
    if isinstance(values, str) or not isinstance(values, (list, tuple, set, frozenset)):
        raise ConfigError(f"{what} must be a list of strings, got {type(values).__name__}")
    return list(values)
