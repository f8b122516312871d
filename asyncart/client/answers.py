"""Typed records of every answer a server sends: the one place the client parses them.

A server is not trusted. Each JSON answer (and the ``X-Asyncart-Version`` header) is
decoded straight into a :class:`msgspec.Struct` whose fields carry their type and range
(an ``index`` is an int in ``0 … 9,999,999,999``, never a bool or a string; a digest is
64 lowercase hex; names follow :mod:`asyncart.core.names`); whatever does not fit
becomes a :class:`~asyncart.errors.ProtocolError` naming the answer and the field.
Fields a record does not know are ignored, so a newer server that adds fields (a
list's ``next`` cursor, say) keeps working with this client.

Only after that are answers turned into the records the rest of the client uses
(:class:`~asyncart.core.models.VersionInfo` and friends).
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import Meta

from asyncart.core import protocol as P
from asyncart.core.chunking import MAX_CHUNK_SIZE
from asyncart.core.manifest import MAX_ENTRIES, MAX_SIZE
from asyncart.core.models import (
    ChunkLocation,
    CollectionInfo,
    PendingInfo,
    RunInfo,
    SourceRef,
    VersionInfo,
)
from asyncart.core.names import (
    MAX_NAME_LENGTH,
    format_version,
    validate_alias,
    validate_name,
    validate_tag,
)
from asyncart.core.pack import MAX_PACK_BYTES, MAX_PACK_CHUNKS
from asyncart.core.retention import RetentionPolicy, check_policy
from asyncart.core.run_labels import (
    MAX_GROUP_LENGTH,
    MAX_NOTES_BYTES,
    MAX_RUN_TAG_LENGTH,
    MAX_RUN_TAGS,
)
from asyncart.errors import ConfigError, InvalidNameError, ProtocolError

T = TypeVar("T")

MAX_VERSION_INDEX = 9_999_999_999  # the largest N of a "vN" that asyncart.core.names parses
MAX_TIMESTAMP = 1e11  # epoch seconds (the year 5138): finite, and no float overflow later
MAX_ERROR_MESSAGE = 2000  # characters of a server's error message shown to the user
MAX_URL = 8192

Digest = Annotated[str, Meta(pattern="^[0-9a-f]{64}$")]
RunId = Annotated[str, Meta(pattern="^[0-9a-f]{8,64}$")]
Name = Annotated[str, Meta(min_length=1, max_length=MAX_NAME_LENGTH)]
Index = Annotated[int, Meta(ge=0, le=MAX_VERSION_INDEX)]
Size = Annotated[int, Meta(ge=0, le=MAX_SIZE)]
Timestamp = Annotated[float, Meta(ge=0, le=MAX_TIMESTAMP)]
Url = Annotated[str, Meta(pattern="^https?://", max_length=MAX_URL)]
RunTag = Annotated[str, Meta(min_length=1, max_length=MAX_RUN_TAG_LENGTH)]


class MalformedAnswer(ProtocolError):
    """An answer that breaks the protocol (a wrong field, too large): never retried, since
    asking again would only get the same answer."""


class Answer(msgspec.Struct, forbid_unknown_fields=False):
    """Base of the answer records: unknown fields are ignored, never refused."""


def _names(record: object, *fields: str) -> None:
    """Apply the name rules to ``fields`` of ``record`` (None allowed), naming the field."""
    for name in fields:
        value = getattr(record, name)
        if value is not None:
            validate_name(value, what=f"field `{name}`")


class SourceAnswer(Answer):
    """A link's ``source`` (schema v7): the version it points at."""

    project: Name
    name: Name
    index: Index

    def __post_init__(self) -> None:
        _names(self, "project", "name")


class VersionAnswer(Answer):
    """A ``VersionInfo`` (docs/protocol.md §3.8)."""

    project: Name
    name: Name
    type: Name
    index: Index
    digest: Digest
    size: Size
    file_count: Annotated[int, Meta(ge=0, le=MAX_ENTRIES)]
    version: str | None = None
    aliases: Annotated[list[Name], Meta(max_length=10_000)] = []
    metadata: dict[str, Any] = {}
    description: str | None = None
    created_at: Timestamp = 0.0
    created_by: RunId | None = None
    created: bool = False
    # Schema v6 (absent from older servers: no tags, no ttl, updated when created).
    tags: Annotated[list[Name], Meta(max_length=10_000)] = []
    ttl: Annotated[int, Meta(ge=1, le=P.MAX_TTL_SECONDS)] | None = None
    updated_at: Timestamp | None = None
    # Schema v7 (absent from older servers: no links).
    source: SourceAnswer | None = None

    def __post_init__(self) -> None:
        _names(self, "project", "name", "type")
        for field, values, check in (
            ("aliases", self.aliases, validate_alias),
            ("tags", self.tags, validate_tag),
        ):
            for value in values:
                try:
                    check(value)
                except InvalidNameError as exc:
                    raise ValueError(f"field `{field}`: {exc}") from None
        if self.version is not None and self.version != format_version(self.index):
            raise ValueError(
                f"field `version` is {self.version[:40]!r}, but `index` {self.index} "
                f"makes it {format_version(self.index)!r}"
            )

    def info(self) -> VersionInfo:
        return VersionInfo(
            project=self.project,
            name=self.name,
            type=self.type,
            index=self.index,
            digest=self.digest,
            size=self.size,
            file_count=self.file_count,
            aliases=tuple(self.aliases),
            metadata=dict(self.metadata),
            description=self.description,
            created_at=self.created_at,
            created_by=self.created_by,
            created=self.created,
            tags=tuple(self.tags),
            ttl=self.ttl,
            updated_at=self.created_at if self.updated_at is None else self.updated_at,
            source=None
            if self.source is None
            else SourceRef(self.source.project, self.source.name, self.source.index),
        )


Cursor = Annotated[str, Meta(min_length=1, max_length=1024)]


class Page(Answer, kw_only=True):
    """A page of a list answer: ``next`` is the cursor of the following page (null, or
    absent from a server from before pagination: the last page)."""

    next: Cursor | None = None


class VersionList(Page, kw_only=True):
    """``{"versions": [VersionInfo, …], "next": …}``."""

    versions: list[VersionAnswer]


class PolicyAnswer(Answer):
    """A retention policy (``core/retention.py``), checked by its own rules."""

    keep_last: int | None = None
    max_age: int | None = None
    keep_aliased: bool = True

    def __post_init__(self) -> None:
        try:
            check_policy(self.keep_last, self.max_age, self.keep_aliased)
        except ConfigError as exc:
            raise ValueError(f"field `policy`: {exc}") from None


class RetentionAnswer(Answer):
    """``{"policy": ... | null}``: the answer of the retention routes."""

    policy: PolicyAnswer | None

    def retention(self) -> RetentionPolicy | None:
        p = self.policy
        return None if p is None else RetentionPolicy(p.keep_last, p.max_age, p.keep_aliased)


class CollectionAnswer(Answer):
    """A ``CollectionInfo``."""

    project: Name
    name: Name
    type: Name
    version_count: Annotated[int, Meta(ge=0, le=MAX_VERSION_INDEX + 1)]
    created_at: Timestamp
    updated_at: Timestamp
    # Schema v7 (absent from older servers: no description, no tags).
    description: Annotated[str, Meta(max_length=P.MAX_DESCRIPTION_BYTES)] | None = None
    tags: Annotated[list[Name], Meta(max_length=10_000)] = []

    def __post_init__(self) -> None:
        _names(self, "project", "name", "type")
        for tag in self.tags:
            try:
                validate_tag(tag)
            except InvalidNameError as exc:
                raise ValueError(f"field `tags`: {exc}") from None

    def info(self) -> CollectionInfo:
        return CollectionInfo(
            self.project,
            self.name,
            self.type,
            self.version_count,
            self.created_at,
            self.updated_at,
            description=self.description,
            tags=tuple(self.tags),
        )


class CollectionList(Page, kw_only=True):
    collections: list[CollectionAnswer]


class ProjectList(Page, kw_only=True):
    projects: list[Name]

    def __post_init__(self) -> None:
        for project in self.projects:
            validate_name(project, what="an entry of field `projects`")


class RunAnswer(Answer):
    """A ``RunInfo``."""

    id: RunId
    project: Name
    job_type: Name
    name: Name | None = None
    config: dict[str, Any] = {}
    status: Literal["running", "finished", "failed", "crashed"] = "running"
    started_at: Timestamp = 0.0
    finished_at: Timestamp | None = None
    group: Annotated[str, Meta(max_length=MAX_GROUP_LENGTH)] | None = None
    tags: Annotated[list[RunTag], Meta(max_length=MAX_RUN_TAGS)] = []
    notes: Annotated[str, Meta(max_length=MAX_NOTES_BYTES)] | None = None

    def __post_init__(self) -> None:
        _names(self, "project", "job_type", "name")

    def info(self) -> RunInfo:
        return RunInfo(
            id=self.id,
            project=self.project,
            job_type=self.job_type,
            name=self.name,
            config=dict(self.config),
            status=self.status,
            started_at=self.started_at,
            finished_at=self.finished_at,
            group=self.group,
            tags=tuple(self.tags),
            notes=self.notes,
        )


class PendingAnswer(Answer):
    """A ``PendingInfo``: a distributed version not committed yet (docs/protocol.md §3.12)."""

    project: Name
    name: Name
    type: Name
    distributed_id: Annotated[str, Meta(min_length=1, max_length=MAX_GROUP_LENGTH)]
    file_count: Annotated[int, Meta(ge=0, le=MAX_ENTRIES)]
    size: Size
    parts: Annotated[int, Meta(ge=1)]
    runs: Annotated[list[RunId], Meta(max_length=100_000)] = []
    created_at: Timestamp = 0.0
    updated_at: Timestamp = 0.0
    state: Literal["PENDING"] = "PENDING"

    def __post_init__(self) -> None:
        _names(self, "project", "name", "type")

    def info(self) -> PendingInfo:
        return PendingInfo(
            project=self.project,
            name=self.name,
            type=self.type,
            distributed_id=self.distributed_id,
            file_count=self.file_count,
            size=self.size,
            parts=self.parts,
            runs=tuple(self.runs),
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class RunList(Page, kw_only=True):
    runs: list[RunAnswer]


class MissingAnswer(Answer):
    """``chunks/missing``: the asked hashes the store lacks."""

    missing: list[Digest]
    direct: bool = False


Location = tuple[
    Digest, Annotated[int, Meta(ge=0, le=MAX_SIZE)], Annotated[int, Meta(ge=1, le=MAX_CHUNK_SIZE)]
]


class LocateAnswer(Answer):
    """``chunks/locate``: ``{hash: [pack id, offset, length]}``."""

    locations: dict[Digest, Location]
    direct: bool = False

    def __post_init__(self) -> None:
        for h, (_, offset, length) in self.locations.items():
            if offset + length > MAX_SIZE:
                raise ValueError(
                    f"field `locations` puts chunk {h} at {offset}+{length}, beyond {MAX_SIZE}"
                )

    def chunk_locations(self) -> dict[str, ChunkLocation]:
        return {h: ChunkLocation(*loc) for h, loc in self.locations.items()}


class PackReceipt(Answer):
    """The ``201`` answer to a pack upload (also to a completed direct upload)."""

    pack: Digest
    chunks: Annotated[int, Meta(ge=1, le=MAX_PACK_CHUNKS)]
    new_chunks: Annotated[int, Meta(ge=0, le=MAX_PACK_CHUNKS)]
    size: Annotated[int, Meta(ge=1, le=MAX_PACK_BYTES)]


class PackUrls(Answer):
    """``packs/urls``: presigned GET URLs, or ``offered: false``."""

    offered: bool = False
    urls: dict[Digest, Url] = {}
    expires_in: Annotated[int, Meta(ge=0)] | None = None


class DirectUploadOffer(Answer):
    """``packs/direct``: a presigned PUT URL and the key to complete with, or ``url: null``."""

    url: Url | None = None
    key: Annotated[str, Meta(min_length=1, max_length=200)] | None = None
    expires_in: Annotated[int, Meta(ge=0)] | None = None

    def __post_init__(self) -> None:
        if self.url is not None and self.key is None:
            raise ValueError("field `key` is missing beside a `url`")


class VersionHeader(Answer):
    """The ``X-Asyncart-Version`` header beside a manifest body."""

    digest: Digest
    index: Index | None = None


class ErrorBody(Answer):
    """The error body of a ``4xx``/``5xx`` answer (docs/protocol.md §2)."""

    code: Annotated[str, Meta(pattern="^[a-z][a-z0-9_]{0,63}$")]
    message: Annotated[str, Meta(min_length=1)]
    request_id: str | None = None


def decode(raw: bytes | bytearray, record: type[T], what: str, source: str) -> T:
    """Decode the JSON answer ``raw`` into ``record``.

    Raises:
        ProtocolError: ``{source} answered with a malformed {what}: <field and rule>``.
    """
    try:
        return msgspec.json.decode(raw, type=record)
    except (msgspec.ValidationError, InvalidNameError) as exc:
        detail = str(exc)
    except msgspec.DecodeError as exc:
        detail = f"not JSON ({exc})"
    except RecursionError:
        detail = "nested too deeply"
    raise MalformedAnswer(f"{source} answered with a malformed {what}: {detail}")


def convert(data: object, record: type[T], what: str, source: str) -> T:
    """Like :func:`decode`, for an already-parsed JSON value (a worker's message)."""
    try:
        return msgspec.convert(data, type=record)
    except (msgspec.ValidationError, InvalidNameError) as exc:
        raise MalformedAnswer(f"{source} sent a malformed {what}: {exc}") from None


def error_body(raw: bytes | bytearray) -> ErrorBody | None:
    """The error body in ``raw``, None if it is not one (a proxy's HTML page, say)."""
    try:
        return msgspec.json.decode(raw, type=ErrorBody)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None


def printable(text: str, limit: int = MAX_ERROR_MESSAGE) -> str:
    """``text`` cut to ``limit`` characters, control characters escaped: a server's words
    reach a terminal, and must not move its cursor or change its colours."""
    if len(text) > limit:
        text = text[:limit] + "…"
    if all(not unicodedata.category(ch).startswith("C") for ch in text):
        return text
    return "".join(
        ch if not unicodedata.category(ch).startswith("C") else ch.encode("unicode_escape").decode()
        for ch in text
    )
