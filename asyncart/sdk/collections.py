"""Artifact collections as W&B's public API shapes them: read, edit, save, delete.

``Api().artifact_collection(type, name)`` (and ``artifact.collection``) return an
:class:`ArtifactCollection` (sync) or :class:`AsyncArtifactCollection`
(``asyncart.aio``); both share one :class:`CollectionState` and the properties of
:class:`CollectionData`. ``name``, ``type``, ``description`` and ``tags`` are settable;
``save()`` persists what changed, ``delete()`` deletes the collection with every version
and alias (their bytes are freed by the next gc).

The collection ``artifact.collection`` returns is cheap: it knows the project, name and
type, and reads the rest (description, tags, aliases, counts) when first asked. On the
async face that read is ``await collection.load()``; the sync face reads by itself.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from asyncart.core.humanize import parse_duration
from asyncart.core.models import CollectionChanges, CollectionInfo, VersionInfo
from asyncart.core.names import STORE_ENTITY, validate_name, validate_tags
from asyncart.core.retention import RetentionPolicy
from asyncart.errors import ArtifactNotFound, ConfigError
from asyncart.sdk import portal
from asyncart.sdk.api_support import (
    Reader,
    artifacts_of,
    check_per_page,
    gather_limited,
    iso_time,
    ordered,
    with_tags,
)

if TYPE_CHECKING:
    from asyncart.sdk.artifact import BaseArtifact

A = TypeVar("A", bound="BaseArtifact")

_EDITABLE = ("name", "type", "description", "tags")


class CollectionState:
    """A collection as last read from the store (``saved``) and the edits not yet saved."""

    def __init__(
        self,
        project: str,
        name: str,
        type: str,
        info: CollectionInfo | None = None,
        versions: list[VersionInfo] | None = None,
    ) -> None:
        self.project, self.name, self.type = project, name, type
        self.info = info
        self.versions = versions
        self.edits: dict[str, Any] = {}
        self.deleted = False

    @property
    def loaded(self) -> bool:
        return self.info is not None and self.versions is not None

    def loaded_from(self, info: CollectionInfo, versions: list[VersionInfo] | None) -> None:
        self.name, self.type, self.info = info.name, info.type, info
        if versions is not None:
            self.versions = versions

    def refuse_if_deleted(self) -> None:
        if self.deleted:
            raise ArtifactNotFound(
                f"collection {self.project}/{self.name} was deleted (collection.delete()); "
                "log a version to make it again"
            )

    def changes(self) -> CollectionChanges:
        """What ``save()`` sends: the edits that differ from the saved state."""
        info, edits = self.info, self.edits
        assert info is not None  # save() loads first
        name = edits.get("name", info.name)
        type_ = edits.get("type", info.type)
        description = edits.get("description", info.description)
        tags = validate_tags(edits.get("tags", list(info.tags)))  # in-place edits too
        return CollectionChanges(
            name=name if name != info.name else None,
            type=type_ if type_ != info.type else None,
            description=description,
            set_description=description != info.description,
            tags_add=tuple(t for t in tags if t not in info.tags),
            tags_remove=tuple(t for t in info.tags if t not in tags),
        )


class CollectionData:
    """The properties of a collection (both faces): ``name``, ``type``, ``description``
    and ``tags`` settable (persisted by ``save()``); ``project``, ``entity``,
    ``aliases``, ``version_count``, ``created_at``, ``updated_at`` read-only."""

    _state: CollectionState

    def _loaded(self) -> CollectionState:
        """The state with the stored data read (the sync face reads it here)."""
        if not self._state.loaded:
            raise ConfigError(
                f"collection {self._state.project}/{self._state.name} has not been read yet: "
                "await collection.load() first (asyncart.aio.Api().artifact_collection() "
                "returns it read)"
            )
        return self._state

    def _info(self) -> CollectionInfo:
        info = self._loaded().info
        assert info is not None
        return info

    @property
    def entity(self) -> str:
        """``'asyncart'``: a store is one namespace (docs/wandb-compat.md)."""
        return STORE_ENTITY

    @property
    def project(self) -> str:
        return self._state.project

    @property
    def name(self) -> str:
        """Its name; setting it renames the collection at ``save()``."""
        return str(self._state.edits.get("name", self._state.name))

    @name.setter
    def name(self, name: str) -> None:
        self._state.edits["name"] = validate_name(name)

    @property
    def type(self) -> str:
        """Its artifact type (every version's); setting it retypes them at ``save()``."""
        return str(self._state.edits.get("type", self._state.type))

    @type.setter
    def type(self, type: str) -> None:
        new_type = validate_name(type, what="artifact type")
        if self._state.loaded:  # an unread collection is checked by save()
            self._refuse_retype_of_links(new_type)
        self._state.edits["type"] = new_type

    def _refuse_retype_of_links(self, new_type: str) -> None:
        """A collection of links (W&B's portfolio) takes its type from its sources: W&B
        lets only a sequence change type, and so does asyncart (``ConfigError``, a
        ``ValueError``)."""
        if new_type != self._state.type and not self.is_sequence():
            raise ConfigError(
                f"collection {self._state.project}/{self._state.name} holds links (a "
                "portfolio): only a collection of logged versions can change type; "
                "change the type of the collections its links come from instead"
            )

    @property
    def description(self) -> str | None:
        """The collection's description (None: none); settable."""
        if "description" in self._state.edits:
            return self._state.edits["description"]  # type: ignore[no-any-return]
        return self._info().description

    @description.setter
    def description(self, description: str | None) -> None:
        if description is not None and not isinstance(description, str):
            raise ConfigError(
                f"a collection description is a string or None, got {type(description).__name__}"
            )
        self._state.edits["description"] = description

    @property
    def tags(self) -> list[str]:
        """The collection's own tags (not its versions'); settable, or changed in place."""
        if "tags" not in self._state.edits:
            self._state.edits["tags"] = list(self._info().tags)
        return self._state.edits["tags"]  # type: ignore[no-any-return]

    @tags.setter
    def tags(self, tags: Sequence[str]) -> None:
        self._state.edits["tags"] = validate_tags(tags)

    def is_sequence(self) -> bool:
        """True for a collection of logged versions (W&B's sequence), False for one of
        links (W&B's portfolio: ``artifact.link`` / ``run.link_artifact`` made it). A
        collection holds one kind or the other, never both; one whose versions are all
        gone counts as a sequence."""
        versions = self._loaded().versions or []
        return not any(v.is_link for v in versions)

    @property
    def version_count(self) -> int:
        return self._info().version_count

    @property
    def created_at(self) -> str:
        """When the collection was created, ISO 8601 in UTC (as W&B's server writes it)."""
        return iso_time(self._info().created_at)

    @property
    def updated_at(self) -> str:
        """Its last commit or change, ISO 8601 in UTC."""
        return iso_time(self._info().updated_at)

    @property
    def aliases(self) -> list[str]:
        """Every alias a version of the collection holds, sorted."""
        versions = self._loaded().versions or []
        return sorted({a for v in versions for a in v.aliases})

    def to_json(self) -> dict[str, Any]:
        return self._info().to_json()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.project}/{self.name} type={self.type!r}>"


class AsyncArtifactCollection(CollectionData, Generic[A]):
    """One artifact collection (``asyncart.aio.Api().artifact_collection(type, name)``)."""

    def __init__(self, reader: Reader[A], state: CollectionState) -> None:
        self._reader = reader
        self._state = state

    @classmethod
    async def read(cls, reader: Reader[A], info: CollectionInfo) -> AsyncArtifactCollection[A]:
        """The collection ``info`` names, with its versions' aliases read."""
        state = CollectionState(info.project, info.name, info.type, info)
        return await cls(reader, state).load()

    async def load(self) -> AsyncArtifactCollection[A]:
        """Read (again) what the store holds of it; edits not yet saved are kept.

        Raises:
            ArtifactNotFound: it no longer exists (deleted, or renamed elsewhere).
        """
        state = self._state
        state.refuse_if_deleted()
        async with self._reader.client.use() as remote:
            # ``read`` hands over a fresh listing's info: only the versions are missing.
            if state.info is None or state.versions is not None:
                infos = await remote.list_collections(state.project)
                found = next((c for c in infos if c.name == state.name), None)
                if found is None:
                    raise ArtifactNotFound(
                        f"project {state.project!r} has no artifact collection {state.name!r}"
                    )
                state.loaded_from(found, None)
            state.versions = await remote.list_versions(state.project, state.name)
        return self

    async def save(self) -> None:
        """Persist the changed ``name``, ``type``, ``description`` and ``tags`` (one
        request; nothing is sent when nothing changed).

        Raises:
            InvalidNameError: an invalid tag (a ``ValueError``; nothing changes).
            ConflictError: the new name is another collection's.
            ConfigError: a new type for a collection of links (W&B's portfolio).
            PermissionDenied: the key may not write the project.
        """
        state = self._state
        state.refuse_if_deleted()
        if not state.loaded:
            await self.load()
        changes = state.changes()
        if changes.type is not None:
            self._refuse_retype_of_links(changes.type)
        if not (changes.changed_fields or changes.tags_add or changes.tags_remove):
            state.edits.clear()
            return
        async with self._reader.client.use() as remote:
            info = await remote.update_collection(state.project, state.name, changes)
        state.loaded_from(info, None)
        state.edits.clear()

    async def change_type(self, new_type: str) -> None:
        """Deprecated in W&B: set ``type`` and ``save()`` instead. Changes only the type,
        at once (other edits wait for ``save()``); a collection of links refuses it
        (``ConfigError``, as W&B's "needs to be a sequence")."""
        warnings.warn(
            "ArtifactCollection.change_type(type) is deprecated; set collection.type and "
            "call collection.save() instead",
            DeprecationWarning,
            stacklevel=3,
        )
        changes = CollectionChanges(type=validate_name(new_type, what="artifact type"))
        state = self._state
        if not state.loaded:
            await self.load()
        self._refuse_retype_of_links(new_type)
        async with self._reader.client.use() as remote:
            info = await remote.update_collection(state.project, state.name, changes)
        state.loaded_from(info, None)
        state.edits.pop("type", None)

    async def delete(self) -> None:
        """Delete the collection: every version and every alias (W&B deletes them all).

        The bytes only its versions used are freed by the next ``asyncart server gc``
        (``asyncart gc`` on the embedded store). Logging the name again continues the
        version numbers.

        Raises:
            PermissionDenied: the key may not delete versions of the project (admin).
        """
        state = self._state
        async with self._reader.client.use() as remote:
            await remote.delete_collection(state.project, state.name, True)
        state.deleted = True

    async def retention(self) -> RetentionPolicy | None:
        """The collection's retention policy (docs/retention.md); None when it has none."""
        async with self._reader.client.use() as remote:
            return await remote.get_retention(self._state.project, self._state.name)

    async def set_retention(
        self,
        *,
        keep_last: int | None = None,
        max_age: float | timedelta | str | None = None,
        keep_aliased: bool = True,
    ) -> RetentionPolicy:
        """Keep the newest ``keep_last`` versions and/or those younger than ``max_age``
        (seconds, a ``timedelta`` or a duration such as ``"30d"``); the rest, and versions
        whose ``ttl`` expired, go at the next ``asyncart server gc`` (``asyncart gc`` on
        the embedded store). Versions holding an alias other than ``latest`` stay while
        ``keep_aliased``; versions a link points at always stay.

        Raises:
            ConfigError: neither rule given, or a value out of range (nothing changes).
            PermissionDenied: the key is not an admin of the project (a policy deletes).
        """
        policy = RetentionPolicy(keep_last, _seconds(max_age), keep_aliased)
        async with self._reader.client.use() as remote:
            return await remote.set_retention(self._state.project, self._state.name, policy)

    async def clear_retention(self) -> RetentionPolicy | None:
        """Remove the collection's retention policy; returns it (None: it had none).
        Versions' own ``ttl`` still apply."""
        async with self._reader.client.use() as remote:
            return await remote.clear_retention(self._state.project, self._state.name)

    async def artifacts(
        self, per_page: int = 50, order: str | None = None, tags: Sequence[str] | None = None
    ) -> list[A]:
        """Its versions as artifacts, oldest first (or in ``order``), those with ``tags``.

        ``per_page`` is accepted for W&B's callers; the list comes whole. The saved name
        is read (an unsaved rename is not).
        """
        check_per_page(per_page)
        async with self._reader.client.use() as remote:
            versions = await remote.list_versions(self._state.project, self._state.name)
        return await artifacts_of(self._reader, with_tags(ordered(versions, order), tags))

    async def versions(self, per_page: int = 50) -> list[A]:
        """The same as :meth:`artifacts` (W&B's older name)."""
        return await self.artifacts(per_page)


class ArtifactCollection(CollectionData):
    """One artifact collection (``asyncart.Api().artifact_collection(type, name)``)."""

    def __init__(self, inner: AsyncArtifactCollection[Any]) -> None:
        self._async = inner
        self._state = inner._state

    def _loaded(self) -> CollectionState:
        if not self._state.loaded:
            portal.call(self._async.load)
        return self._state

    def load(self) -> ArtifactCollection:
        """Read (again) what the store holds of it; edits not yet saved are kept."""
        portal.call(self._async.load)
        return self

    def save(self) -> None:
        """Persist the changed fields (see :meth:`AsyncArtifactCollection.save`)."""
        portal.call(self._async.save)

    def change_type(self, new_type: str) -> None:
        """Deprecated: set ``type`` and ``save()`` (see
        :meth:`AsyncArtifactCollection.change_type`)."""
        portal.call(self._async.change_type, new_type)

    def delete(self) -> None:
        """Delete the collection, its versions and aliases (see
        :meth:`AsyncArtifactCollection.delete`)."""
        portal.call(self._async.delete)

    def artifacts(
        self, per_page: int = 50, order: str | None = None, tags: Sequence[str] | None = None
    ) -> list[Any]:
        """Its versions as artifacts (see :meth:`AsyncArtifactCollection.artifacts`)."""
        return portal.call(self._async.artifacts, per_page, order, tags)

    def versions(self, per_page: int = 50) -> list[Any]:
        """The same as :meth:`artifacts`."""
        return portal.call(self._async.versions, per_page)

    def retention(self) -> RetentionPolicy | None:
        """The collection's retention policy (see :meth:`AsyncArtifactCollection.retention`)."""
        return portal.call(self._async.retention)

    def set_retention(
        self,
        *,
        keep_last: int | None = None,
        max_age: float | timedelta | str | None = None,
        keep_aliased: bool = True,
    ) -> RetentionPolicy:
        """Set the collection's retention policy (see
        :meth:`AsyncArtifactCollection.set_retention`)."""
        return portal.call(
            partial(
                self._async.set_retention,
                keep_last=keep_last,
                max_age=max_age,
                keep_aliased=keep_aliased,
            )
        )

    def clear_retention(self) -> RetentionPolicy | None:
        """Remove the collection's retention policy (see
        :meth:`AsyncArtifactCollection.clear_retention`)."""
        return portal.call(self._async.clear_retention)


def _seconds(max_age: float | timedelta | str | None) -> int | None:
    """``max_age`` as whole seconds (a duration string as ``parse_duration`` reads it)."""
    if max_age is None:
        return None
    if isinstance(max_age, str):
        try:
            max_age = parse_duration(max_age, what="max_age")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    if isinstance(max_age, timedelta):
        max_age = max_age.total_seconds()
    if isinstance(max_age, bool) or not isinstance(max_age, int | float):
        raise ConfigError(f"max_age must be seconds, a timedelta or e.g. '30d', not {max_age!r}")
    if max_age != max_age or max_age in (float("inf"), float("-inf")):
        raise ConfigError(f"max_age must be a finite duration, not {max_age!r}")
    if max_age < 1:
        raise ConfigError(f"max_age must be at least 1 second, got {max_age!r}")
    return int(max_age)


def unread_collection(reader: Reader[A], info: VersionInfo) -> AsyncArtifactCollection[A]:
    """The collection of version ``info``, nothing read yet (``artifact.collection``)."""
    return AsyncArtifactCollection(reader, CollectionState(info.project, info.name, info.type))


async def collection_infos(
    reader: Reader[Any], project: str, type_name: str | None
) -> list[CollectionInfo]:
    async with reader.client.use() as remote:
        infos = await remote.list_collections(project)
    return [c for c in infos if type_name is None or c.type == type_name]


async def collections_of(
    reader: Reader[A], project: str, type_name: str | None
) -> list[AsyncArtifactCollection[A]]:
    """The collections of ``project`` (of ``type_name`` only, if given), aliases read."""
    infos = await collection_infos(reader, project, type_name)
    return await gather_limited(
        [partial(AsyncArtifactCollection[A].read, reader, c) for c in infos]
    )


async def collection_named(
    reader: Reader[A], project: str, type_name: str | None, name: str
) -> AsyncArtifactCollection[A]:
    """The collection ``project/name``, checked to be of ``type_name`` if given.

    Raises:
        ArtifactNotFound: there is none (of that type).
    """
    infos = await collection_infos(reader, project, None)
    found = next((c for c in infos if c.name == name), None)
    if found is None:
        raise ArtifactNotFound(f"project {project!r} has no artifact collection {name!r}")
    if type_name is not None and found.type != type_name:
        raise ArtifactNotFound(
            f"project {project!r} has no {type_name!r} collection {name!r} "
            f"(its {name!r} is of type {found.type!r})"
        )
    return await AsyncArtifactCollection.read(reader, found)
