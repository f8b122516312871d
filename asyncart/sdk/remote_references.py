"""The draft entries of references outside this machine: ``http(s)://`` and ``s3://``.

Each is asked for what identifies its bytes when added (as W&B asks): a URL's ETag
and length (``client/url_references.py``), an S3 object's ETag, size and version id,
or every object below a prefix (``client/s3_references.py``). The digest is known
from then on, so logging reads nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from asyncart.client.s3_references import is_s3, probe_s3
from asyncart.client.scan import FileIdentity
from asyncart.client.url_references import is_url, probe_url
from asyncart.core.manifest import uri_digest
from asyncart.core.paths import normalize_entry_path
from asyncart.errors import ConfigError
from asyncart.sdk.draft import DEFAULT_MAX_OBJECTS, DraftReference, entry_name


def remote_references(
    uri: object, name: str | os.PathLike[str] | None, checksum: bool, max_objects: int | None
) -> list[DraftReference] | None:
    """The entries of an ``http(s)://`` or ``s3://`` reference; None for another URI."""
    if not isinstance(uri, str):
        return None
    if is_url(uri):
        return [url_reference(uri, name, checksum)]
    if is_s3(uri):
        return s3_references(uri, name, checksum, max_objects or DEFAULT_MAX_OBJECTS)
    return None


def _last_component(uri: str) -> str:
    return unquote(urlparse(uri).path.rstrip("/").rpartition("/")[2])


def _reference(path: str, uri: str, size: int, checksum: bool, digest: str) -> DraftReference:
    """A reference whose digest is known (``local`` is unused: nothing is read at log)."""
    return DraftReference(
        normalize_entry_path(path),
        uri,
        Path(os.devnull),
        FileIdentity(size, 0, 0, 0),
        checksum,
        digest,
    )


def _named(uri: str, name: str | os.PathLike[str] | None) -> str:
    default = _last_component(uri)
    if name is None and not default:
        raise ConfigError(f"reference {uri!r} names no file; pass name= for its entry")
    return entry_name(name) if name is not None else default


def url_reference(uri: str, name: str | os.PathLike[str] | None, checksum: bool) -> DraftReference:
    """One ``http(s)://`` reference (its headers asked for now, with ``checksum``)."""
    path = _named(uri, name)
    if not checksum:
        return _reference(path, uri, 0, False, uri_digest(uri))
    size, digest = probe_url(uri)
    return _reference(path, uri, size, True, digest)


def s3_references(
    uri: str, name: str | os.PathLike[str] | None, checksum: bool, max_objects: int
) -> list[DraftReference]:
    """An ``s3://`` object (one entry, named by its key's last part unless ``name``), or
    a prefix (one entry per object below it, under ``name/`` if given)."""
    if not checksum:
        return [_reference(_named(uri, name), uri, 0, False, uri_digest(uri))]
    is_object, found = probe_s3(uri, max_objects)
    base = entry_name(name) if name is not None else None
    refs = []
    for rel, ref_uri, size, digest in found:
        if is_object:
            path = base if base is not None else rel
        else:
            path = f"{base.rstrip('/')}/{rel}" if base else rel
        refs.append(_reference(path, ref_uri, size, True, digest))
    return refs
