"""The request bodies of the HTTP API as typed msgspec records, and their decoding.

Decoding validates while it parses: a list over its bound, a value of the wrong type or
a hash that is not 64 hex digits stops the decoder at that element, so a hostile body
fails without building a large object tree first. The rules that hold for every body
(docs/protocol.md §2 JSON): an object; no ``NaN``/``Infinity``; no lone surrogate
escapes; at most ``MAX_JSON_DEPTH`` levels of nesting. Every failure is a
``ConfigError`` (400 ``bad_request``) naming where the body went wrong.

The functions here are pure (bytes in, records out), so the server may run them in a
worker process for large bodies (``server/parsing.py``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from asyncart.core import protocol as P
from asyncart.core.manifest import MAX_ENTRIES
from asyncart.core.names import MAX_NAME_LENGTH
from asyncart.core.origins import MAX_STORE_NAME
from asyncart.core.pack import ENTRY, MAX_PACK_CHUNKS, PREFIX
from asyncart.core.retention import MAX_AGE_SECONDS, MAX_KEEP_LAST
from asyncart.core.run_labels import (
    MAX_GROUP_LENGTH,
    MAX_NOTES_BYTES,
    MAX_RUN_TAG_LENGTH,
    MAX_RUN_TAGS,
)
from asyncart.errors import ConfigError

# 64 characters (a hex BLAKE3 digest); the hex digits are checked after decoding, in bulk
# (a msgspec pattern runs a regex per string: several times slower).
Hex64 = Annotated[str, Meta(min_length=64, max_length=64)]
Count = Annotated[int, Meta(ge=0)]
MAX_ALIASES = 1000  # aliases named by one commit
MAX_HEADER_B64 = 4 * (PREFIX.size + ENTRY.size * MAX_PACK_CHUNKS + 2) // 3 + 4  # a pack header
MAX_UPLOAD_KEY = 512  # characters of a direct-upload key

# A JSON ``\uD800``-``\uDFFF`` escape: only bodies holding one can decode to a lone surrogate.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class HashQuery(Struct, frozen=True):
    """``POST /v1/chunks/missing`` and ``/v1/chunks/locate``."""

    hashes: Annotated[list[Hex64], Meta(max_length=P.MAX_QUERY_HASHES)]


class PackUrlsQuery(Struct, frozen=True):
    """``POST /v1/packs/urls``."""

    packs: Annotated[list[Hex64], Meta(max_length=P.MAX_PACK_URLS)]


class PackHeaderBody(Struct, frozen=True):
    """``POST /v1/packs/direct`` (``key`` None) and ``/v1/packs/direct/complete``."""

    header: Annotated[str, Meta(max_length=MAX_HEADER_B64)]
    key: Annotated[str, Meta(max_length=MAX_UPLOAD_KEY)] | None = None


RunTag = Annotated[str, Meta(max_length=MAX_RUN_TAG_LENGTH)]


class RunCreateBody(Struct, frozen=True):
    """``POST /v1/runs``."""

    project: str
    job_type: str
    name: str | None = None
    config: dict[str, Any] | None = None
    id: str | None = None
    group: Annotated[str, Meta(max_length=MAX_GROUP_LENGTH)] | None = None
    tags: Annotated[list[RunTag], Meta(max_length=MAX_RUN_TAGS)] | None = None
    notes: Annotated[str, Meta(max_length=MAX_NOTES_BYTES)] | None = None


class RunFinishBody(Struct, frozen=True):
    """``POST /v1/runs/{id}/finish``."""

    status: str | None = None


class RunConfigBody(Struct, frozen=True):
    """``PUT /v1/runs/{id}/config``: the run's whole config (it replaces the stored one)."""

    config: dict[str, Any]


class RunInputBody(Struct, frozen=True):
    """``POST /v1/runs/{id}/inputs``."""

    project: str
    name: str
    ref: str
    type: str | None = None


class EntryWire(Struct, frozen=True):
    """One manifest entry as sent (docs/protocol.md §4.1)."""

    path: str
    size: Count
    digest: str
    chunks: list[tuple[Hex64, Count]] | None = None
    ref: str | None = None


class ManifestWire(Struct, frozen=True):
    """A manifest as sent in a commit."""

    entries: Annotated[list[EntryWire], Meta(max_length=MAX_ENTRIES)]
    format: int | None = None
    hash: str = "blake3"
    chunker: dict[str, Any] | None = None


class CommitBody(Struct, frozen=True):
    """``POST /v1/projects/{p}/artifacts/{name}/versions``."""

    type: str
    manifest: ManifestWire
    aliases: Annotated[list[str], Meta(max_length=MAX_ALIASES)] | None = None
    metadata: dict[str, Any] | None = None
    description: str | None = None
    run_id: str | None = None


Tag = Annotated[str, Meta(max_length=MAX_NAME_LENGTH)]
Ref = Annotated[str, Meta(min_length=1, max_length=MAX_NAME_LENGTH)]


class VersionPatchBody(Struct, frozen=True):
    """``PATCH /v1/projects/{p}/artifacts/{name}/versions/{ref}``: a field left out stays
    as it is; ``description``/``ttl`` null clear it; ``metadata`` replaces the version's."""

    description: str | UnsetType | None = UNSET
    metadata: dict[str, Any] | UnsetType = UNSET
    ttl: int | UnsetType | None = UNSET
    tags_add: Annotated[list[Tag], Meta(max_length=P.MAX_TAGS)] = []
    tags_remove: Annotated[list[Tag], Meta(max_length=P.MAX_TAGS)] = []


class CollectionPatchBody(Struct, frozen=True):
    """``PATCH /v1/projects/{p}/artifacts/{name}``: a field left out stays as it is;
    ``name`` renames, ``type`` retypes, ``description`` null clears it."""

    name: Ref | UnsetType = UNSET
    type: Ref | UnsetType = UNSET
    description: str | UnsetType | None = UNSET
    tags_add: Annotated[list[Tag], Meta(max_length=P.MAX_TAGS)] = []
    tags_remove: Annotated[list[Tag], Meta(max_length=P.MAX_TAGS)] = []


class RetentionBody(Struct, frozen=True, forbid_unknown_fields=True):
    """``PUT /v1/projects/{p}/artifacts/{name}/retention``: the whole policy (a field left
    out is unset; at least one of ``keep_last``/``max_age``); unknown fields are refused,
    so a misspelt rule never silently widens what is deleted."""

    keep_last: Annotated[int, Meta(ge=1, le=MAX_KEEP_LAST)] | None = None
    max_age: Annotated[int, Meta(ge=1, le=MAX_AGE_SECONDS)] | None = None
    keep_aliased: bool = True


class AliasBody(Struct, frozen=True):
    """``PUT /v1/projects/{p}/artifacts/{name}/aliases/{alias}``: the version it names."""

    version: Ref


class LinkBody(Struct, frozen=True):
    """``POST /v1/projects/{p}/artifacts/{name}/versions/{ref}/links``: where to link it."""

    project: Ref
    name: Ref
    aliases: Annotated[list[Ref], Meta(max_length=MAX_ALIASES)] = []


class OriginBody(Struct, frozen=True, forbid_unknown_fields=True):
    """``PUT /v1/projects/{p}/artifacts/{name}/versions/{ref}/origin``: the source version
    ``asyncart sync`` copied it from (``core/origins.py``)."""

    source_store: Annotated[str, Meta(min_length=1, max_length=MAX_STORE_NAME)]
    source_project: Ref
    source_name: Ref
    source_index: Annotated[int, Meta(ge=0, le=9_999_999_999)]
    source_digest: Annotated[str, Meta(pattern="^[0-9a-f]{64}$")]


B = TypeVar("B", bound=Struct)
_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def check_depth(data: Any, limit: int = P.MAX_JSON_DEPTH) -> None:
    """Refuse JSON values nested deeper than ``limit`` arrays/objects (iterative walk;
    ``data`` itself is level 1)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            raise ConfigError(f"request body is nested deeper than {P.MAX_JSON_DEPTH} levels")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value if isinstance(v, (dict, list)))


def decode_body(raw: bytes, kind: type[B]) -> B:
    """Decode and validate a JSON request body as ``kind``.

    Raises:
        ConfigError: not JSON, not an object, a field of the wrong type or over its bound,
            NaN/Infinity, a lone surrogate escape, nesting deeper than ``MAX_JSON_DEPTH``.
    """
    decoder = _DECODERS.get(kind)
    if decoder is None:
        decoder = _DECODERS[kind] = msgspec.json.Decoder(kind)
    try:
        body: B = decoder.decode(raw)
    except RecursionError:
        raise ConfigError(f"request body is nested deeper than {P.MAX_JSON_DEPTH} levels") from None
    except msgspec.ValidationError as exc:
        raise ConfigError(f"request body does not fit the route: {_hint(str(exc))}") from None
    except msgspec.DecodeError as exc:
        if _SURROGATE_ESCAPE.search(raw):
            raise ConfigError(
                "request body is not valid JSON or holds a string with a lone surrogate "
                f"escape (\\udXXX; send valid Unicode): {exc}"
            ) from None
        raise ConfigError(
            f"request body is not valid JSON ({exc}); NaN and Infinity are not JSON"
        ) from None
    _check_free_form(body)
    return body


def _hint(message: str) -> str:
    if "length <=" in message:
        return f"{message} (the limit is per request: send several)"
    if message.startswith("Expected `object`") and "- at" not in message:
        return "request body must be a JSON object"
    return message


def _check_free_form(body: Struct) -> None:
    """The depth rule for the free-form (``Any``) parts of a body; the typed parts are
    bounded by their schema."""
    if isinstance(body, CommitBody):
        if body.metadata is not None:
            check_depth(body.metadata, P.MAX_JSON_DEPTH - 1)
        if body.manifest.chunker is not None:
            check_depth(body.manifest.chunker, P.MAX_JSON_DEPTH - 2)
    elif isinstance(body, VersionPatchBody) and isinstance(body.metadata, dict):
        check_depth(body.metadata, P.MAX_JSON_DEPTH - 1)
    elif isinstance(body, (RunCreateBody, RunConfigBody)) and body.config is not None:
        check_depth(body.config, P.MAX_JSON_DEPTH - 1)
