"""Records exchanged between client, repository and server, with their JSON forms.

The client never builds these from a server's JSON directly: every answer is parsed,
field by field with types and ranges, by ``asyncart.client.answers``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from asyncart.core.manifest import Manifest
from asyncart.core.names import format_version


@dataclass(frozen=True)
class SourceRef:
    """The version a link points at (W&B's ``source_project`` / ``source_name``)."""

    project: str
    name: str
    index: int

    @property
    def version(self) -> str:
        return format_version(self.index)

    @property
    def qualified_name(self) -> str:
        return f"{self.project}/{self.name}:{self.version}"


@dataclass(frozen=True)
class VersionInfo:
    """One artifact version as stored (without its manifest)."""

    project: str
    name: str
    type: str
    index: int
    digest: str
    size: int
    file_count: int
    aliases: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    created_at: float = 0.0
    created_by: str | None = None
    created: bool = False  # True only on the answer to the commit that made it
    tags: tuple[str, ...] = ()
    #: Seconds the version should live after ``created_at``; None: no limit (schema v6).
    ttl: int | None = None
    #: The last change of its aliases, tags, description, metadata or ttl (0: never known).
    updated_at: float = 0.0
    #: For a link (schema v7): the version it points at; None for a logged version.
    source: SourceRef | None = None

    @property
    def is_link(self) -> bool:
        return self.source is not None

    @property
    def version(self) -> str:
        return format_version(self.index)

    @property
    def qualified_name(self) -> str:
        return f"{self.project}/{self.name}:{self.version}"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["aliases"] = list(self.aliases)
        out["tags"] = list(self.tags)
        out["version"] = self.version
        return out


@dataclass(frozen=True)
class VersionChanges:
    """What one update of a logged version changes (the rest stays as it is).

    ``description`` and ``ttl`` change only with ``set_description`` / ``set_ttl``
    (so None can clear them); ``metadata`` replaces the version's when not None.
    """

    description: str | None = None
    set_description: bool = False
    metadata: dict[str, Any] | None = None
    ttl: int | None = None
    set_ttl: bool = False
    tags_add: tuple[str, ...] = ()
    tags_remove: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether it changes nothing."""
        return not (
            self.set_description
            or self.set_ttl
            or self.metadata is not None
            or self.tags_add
            or self.tags_remove
        )


@dataclass(frozen=True)
class CollectionInfo:
    """An artifact collection: a name, a type, and its versions."""

    project: str
    name: str
    type: str
    version_count: int
    created_at: float
    updated_at: float
    #: W&B's collection description and tags (schema v7; older servers: none).
    description: str | None = None
    tags: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["tags"] = list(self.tags)
        return out


@dataclass(frozen=True)
class CollectionChanges:
    """What one update of a collection changes (W&B's ``ArtifactCollection.save()``).

    ``name`` / ``type`` rename it or change its type when not None; ``description``
    changes only with ``set_description`` (so None can clear it).
    """

    name: str | None = None
    type: str | None = None
    description: str | None = None
    set_description: bool = False
    tags_add: tuple[str, ...] = ()
    tags_remove: tuple[str, ...] = ()

    @property
    def changed_fields(self) -> list[str]:
        """The fields it sets, as the audit log names them (tags apart)."""
        return [
            field
            for field, on in (
                ("name", self.name is not None),
                ("type", self.type is not None),
                ("description", self.set_description),
            )
            if on
        ]


@dataclass(frozen=True)
class RunInfo:
    """A run: one step of a pipeline that logs and uses artifacts."""

    id: str
    project: str
    job_type: str
    name: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    status: str = "running"
    started_at: float = 0.0
    finished_at: float | None = None
    #: W&B's ``init(group=, tags=, notes=)`` (schema v7).
    group: str | None = None
    tags: tuple[str, ...] = ()
    notes: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["tags"] = list(self.tags)
        return out


@dataclass(frozen=True)
class PendingInfo:
    """A distributed version still being written (W&B's ``upsert_artifact``): the parts
    that processes sharing ``distributed_id`` sent, not yet committed by ``finish``."""

    project: str
    name: str
    type: str
    distributed_id: str
    file_count: int
    size: int
    parts: int
    runs: tuple[str, ...] = ()
    created_at: float = 0.0
    updated_at: float = 0.0
    state: str = "PENDING"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["runs"] = list(self.runs)
        return out


@dataclass(frozen=True)
class ChunkLocation:
    """Where a chunk's bytes live in the store."""

    pack: str
    offset: int
    length: int


@dataclass(frozen=True)
class CommitRequest:
    """What a client asks the store to record as a new (or existing) version."""

    project: str
    name: str
    type: str
    manifest: Manifest
    aliases: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    run_id: str | None = None
