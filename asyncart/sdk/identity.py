"""Who a logged artifact is and what state it is in, as W&B's ``Artifact`` reports it.

``ArtifactIdentity`` is the part of :class:`~asyncart.sdk.artifact.BaseArtifact` behind
``name`` (``'mnist:v0'`` once logged), the ``source_*`` names, ``qualified_name``
(``entity/project/name:v0``), ``id``, ``state``, ``file_count``, ``created_at`` /
``updated_at`` (ISO 8601 strings, UTC, as W&B's server sends them), ``collection`` (an
editable collection object, read lazily: ``sdk/collections.py``) and ``is_draft``. Like
the other properties that need the commit, these wait for a log in flight (but
``name``, ``source_name``, ``is_draft`` and ``state``, which never wait); on a draft
they give what W&B's do before logging, or None where W&B raises.

Every asyncart store is one namespace, so ``entity`` is one fixed name
(:data:`~asyncart.core.names.STORE_ENTITY`); the entity part of an
``entity/project/name:alias`` path is accepted and ignored (docs/wandb-compat.md).
A logged version is its own source: its ``source_*`` properties equal the plain ones.
A link (``artifact.link(...)``, W&B's linked artifact) is a version of another
collection: ``name``/``version``/``project`` are the link's (``portfolio:v0``), the
``source_*`` the version it points at, and ``id`` is its source's (one artifact, as W&B's).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from asyncart.core.artifact_uris import version_id_for
from asyncart.core.models import SourceRef, VersionInfo
from asyncart.core.names import STORE_ENTITY
from asyncart.sdk.api_support import iso_time as iso_time
from asyncart.sdk.collections import CollectionData

PENDING, COMMITTED, DELETED = "PENDING", "COMMITTED", "DELETED"


class DraftFlag:
    """``artifact.is_draft``: a bool that is also callable.

    W&B's ``is_draft()`` is a method; asyncart's was a property. This object is both:
    ``if artifact.is_draft:`` and ``artifact.is_draft()`` say the same; it compares
    equal to that bool.
    """

    __slots__ = ("_value",)

    def __init__(self, value: bool) -> None:
        self._value = value

    def __call__(self) -> bool:
        return self._value

    def __bool__(self) -> bool:
        return self._value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (DraftFlag, bool)):
            return self._value == bool(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return repr(self._value)


def source_of(info: VersionInfo) -> SourceRef:
    """The version ``info`` shows: a link's source, else itself."""
    return info.source or SourceRef(info.project, info.name, info.index)


def version_id(info: VersionInfo) -> str:
    """A version's id: opaque, stable, and never another version's (indexes are not reused);
    a link has its source's."""
    source = source_of(info)
    return version_id_for(source.project, source.name, source.index)


class ArtifactIdentity:
    """Names, id, state and times of an artifact (see the module doc)."""

    type: str
    _base_name: str
    _info: VersionInfo | None
    _deleted: bool
    _collection_cache: CollectionData | None = None

    if TYPE_CHECKING:  # provided by BaseArtifact: waits for a log in flight

        def _committed(self) -> VersionInfo | None: ...

    @property
    def name(self) -> str:
        """``'mnist:v0'`` once committed or fetched; the bare name before (also while a
        log is in flight: as W&B's, and it never waits, so logging code may print it)."""
        info = self._info
        return f"{self._base_name}:{info.version}" if info else self._base_name

    @property
    def source_name(self) -> str:
        """The name in the collection the version was logged to: ``name``, or for a link
        its source's (``'mnist:v3'``); never waits."""
        info = self._info
        if info is None or info.source is None:
            return self.name
        return f"{info.source.name}:{info.source.version}"

    @property
    def is_link(self) -> bool:
        """Whether this is a link (W&B's linked artifact) rather than a logged version."""
        info = self._committed()
        return info is not None and info.source is not None

    @property
    def version(self) -> str | None:
        """``'v3'`` once logged or used; None for a draft."""
        info = self._committed()
        return info.version if info else None

    @property
    def source_version(self) -> str | None:
        """The version in its source collection (``version``, or a link's source's)."""
        info = self._committed()
        return source_of(info).version if info else None

    @property
    def project(self) -> str | None:
        """The project it was logged to; None for a draft."""
        info = self._committed()
        return info.project if info else None

    @property
    def source_project(self) -> str | None:
        """The project it was logged to (``project``, or a link's source's)."""
        info = self._committed()
        return source_of(info).project if info else None

    @property
    def entity(self) -> str | None:
        """The store's one namespace, ``'asyncart'``, once logged; None for a draft."""
        return STORE_ENTITY if self._committed() else None

    @property
    def source_entity(self) -> str | None:
        return self.entity

    @property
    def qualified_name(self) -> str:
        """``entity/project/name:v3`` once stored, else the bare name (waits for a log in
        flight). ``Api().artifact(qualified_name)`` fetches it back."""
        info = self._committed()
        return f"{STORE_ENTITY}/{info.qualified_name}" if info else self._base_name

    @property
    def source_qualified_name(self) -> str:
        """``entity/project/name:v3`` of the source (``qualified_name`` for a logged one)."""
        info = self._committed()
        return f"{STORE_ENTITY}/{source_of(info).qualified_name}" if info else self._base_name

    @property
    def collection(self) -> CollectionData | None:
        """The collection it belongs to (W&B's ``ArtifactCollection``: editable, ``save()``,
        ``delete()``); None for a draft. Cheap: nothing is read until its description,
        tags or aliases are asked for (the faces narrow the type)."""
        info = self._committed()
        if info is None:
            return None
        cached = self._collection_cache
        if cached is None or (cached.project, cached._state.name) != (info.project, info.name):
            cached = self._collection_cache = self._collection_of(info)
        return cached

    @property
    def source_collection(self) -> CollectionData | None:
        """The collection it was logged to (``collection``, or a link's source's)."""
        info = self._committed()
        if info is None or info.source is None:
            return self.collection
        source = info.source
        return self._collection_of(
            dataclasses.replace(info, project=source.project, name=source.name)
        )

    def _collection_of(self, info: VersionInfo) -> CollectionData:
        """The face's collection object for ``info`` (nothing read yet)."""
        raise NotImplementedError

    @property
    def id(self) -> str | None:
        """An opaque id of the version; None for a draft (as W&B's)."""
        info = self._committed()
        return version_id(info) if info else None

    @property
    def is_draft(self) -> DraftFlag:
        """True until the version is committed (also while it is being logged); never
        waits. Truthy, and callable as W&B's ``is_draft()``."""
        return DraftFlag(self._info is None)

    @property
    def state(self) -> str:
        """``'PENDING'`` (a draft, or being logged), ``'COMMITTED'`` or ``'DELETED'``;
        never waits."""
        if self._info is None:
            return PENDING
        return DELETED if self._deleted else COMMITTED

    @property
    def file_count(self) -> int | None:
        """Entries of the version (files and references); None for a draft."""
        info = self._committed()
        return info.file_count if info else None

    @property
    def created_at(self) -> str | None:
        """When the version was created, ISO 8601 in UTC; None for a draft."""
        info = self._committed()
        return iso_time(info.created_at) if info else None

    @property
    def updated_at(self) -> str | None:
        """Its last change (aliases, tags, description, metadata, ttl), else its creation;
        ISO 8601 in UTC; None for a draft."""
        info = self._committed()
        if info is None:
            return None
        return iso_time(info.updated_at or info.created_at)
