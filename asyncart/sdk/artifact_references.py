"""Draft entries that refer to an entry of another logged version (``asyncart-artifact://``).

``add_reference(entry)`` with an entry of a logged (or being logged) artifact, or
``add_reference('asyncart-artifact://...')``, records a reference: no bytes are
copied; the manifest keeps the source version and path (the stored form of
``core/entry_uris.py``), the source entry's size and its digest. A source entry
that is itself such a reference is not referred to but copied (its reference already
names the concrete entry), as W&B's handler resolves a chain when the reference is
added. Downloading resolves it again (``client/artifact_references.py``).

A URI is resolved first from the artifacts this process has read or logged through
the environment's settings (store and credentials; W&B's test reads
``use_artifact(...).id``), then, in the stored form, by reading the source's manifest
with those settings (so a version the caller may not read is refused). A version id
no artifact of this process holds is found by the store (``version_by_id``, among the
versions the caller may read) and recorded in the stored, by-name form.
"""

from __future__ import annotations

import os
import weakref
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from asyncart.client.artifact_references import source_entry
from asyncart.client.references import ReferenceNotFound
from asyncart.client.scan import FileIdentity
from asyncart.config import Settings
from asyncart.core.entry_uris import (
    ArtifactTarget,
    artifact_uri,
    is_artifact_uri,
    parse_artifact_uri,
)
from asyncart.core.manifest import ManifestEntry
from asyncart.core.paths import normalize_entry_path
from asyncart.errors import ConfigError, EntryNotFound, NotFoundError
from asyncart.sdk import portal
from asyncart.sdk.draft_entries import DraftReference, entry_name
from asyncart.sdk.identity import source_of, version_id
from asyncart.sdk.shared import shared_client

if TYPE_CHECKING:
    from asyncart.sdk.artifact import BaseArtifact
    from asyncart.sdk.entry import BaseEntry

#: Logged or read artifacts of this process, by version id and ``project/name:vN``.
_known: weakref.WeakValueDictionary[str, BaseArtifact] = weakref.WeakValueDictionary()


def remember(artifact: BaseArtifact) -> None:
    """Let references name ``artifact`` (now bound to a stored version) by id or name."""
    info = artifact._info
    if info is None:
        return
    source = source_of(info)
    _known[version_id(info)] = artifact
    _known[f"{source.project}/{source.name}:{source.version}"] = artifact
    _known[info.qualified_name] = artifact


def _reference(path: str, uri: str, stored: ManifestEntry) -> DraftReference:
    """The draft entry (nothing is read at log: its size and digest are the source's)."""
    identity = FileIdentity(stored.size, 0, 0, 0)
    local = Path(os.devnull)
    return DraftReference(normalize_entry_path(path), uri, local, identity, True, stored.digest)


def _named(name: str | os.PathLike[str] | None, path: str) -> str:
    return entry_name(name) if name is not None else path.rpartition("/")[2]


def reference_to_entry(entry: BaseEntry, name: str | os.PathLike[str] | None) -> DraftReference:
    """A reference to ``entry`` of a logged version (waits for a log in flight).

    Raises:
        ConfigError: the entry's artifact has not been logged (W&B's ``ref_url()``
            raises too: a version must exist to be referred to).
    """
    artifact = entry.parent_artifact()
    info = artifact._committed()
    manifest = artifact._manifest
    if info is None or manifest is None:
        raise ConfigError(
            f"entry {entry.path!r} belongs to artifact {artifact._base_name!r}, which has not "
            "been logged; log it (run.log_artifact) before referring to its entries"
        )
    stored = manifest.get(entry.path)
    if stored is None:
        raise EntryNotFound(f"artifact {info.qualified_name} has no entry {entry.path!r}")
    return _reference(_named(name, entry.path), _uri_of(info_uri(artifact), stored), stored)


def info_uri(artifact: BaseArtifact) -> tuple[str, str, str]:
    """``(project, name, version)`` a reference names: a link's source version."""
    assert artifact._info is not None
    source = source_of(artifact._info)
    return source.project, source.name, source.version


def _uri_of(version: tuple[str, str, str], stored: ManifestEntry) -> str:
    if is_artifact_uri(stored.ref):
        assert stored.ref is not None
        return parse_artifact_uri(stored.ref).uri  # already names the concrete entry
    return artifact_uri(*version, stored.path)


def reference_to_uri(uri: str, name: str | os.PathLike[str] | None) -> DraftReference:
    """A reference to what an ``asyncart-artifact://`` (or ``wandb-artifact://``) URI names.

    Raises:
        ConfigError: a malformed URI (``..`` in its path, too long...), or a version id
            this process has not seen.
        ReferenceNotFound: (a ``FileNotFoundError``) the version has no such entry, or
            is not there.
        PermissionDenied: the caller may not read the version.
    """
    target = parse_artifact_uri(uri)
    key = target.version_id or f"{target.project}/{target.name}:{target.version}"
    known = _known.get(key)
    settings = Settings.from_env()
    if (
        known is not None
        and known._manifest is not None
        and known._client is not None
        and known._client.settings == settings  # read with these credentials, of this store
    ):
        stored = known._manifest.get(target.path)
        if stored is None:
            project, name_, version = info_uri(known)
            raise ReferenceNotFound(
                f"referenced version {project}/{name_}:{version} has no entry {target.path!r}"
            )
        return _reference(_named(name, target.path), _uri_of(info_uri(known), stored), stored)
    holder, stored = portal.call(_read_source, target, settings)
    return _reference(_named(name, target.path), holder.uri, stored)


async def _read_source(
    target: ArtifactTarget, settings: Settings
) -> tuple[ArtifactTarget, ManifestEntry]:
    client = await shared_client(settings)
    async with client.use() as remote:
        if target.version_id is not None:  # ids are hashes: the store finds the version
            try:
                info = await remote.version_by_id(target.version_id)
            except NotFoundError:
                raise ReferenceNotFound(
                    f"referenced version id {target.version_id} names no version readable "
                    "with these credentials; name the version instead: "
                    "asyncart-artifact://<project>/<name>:v<N>/<path>"
                ) from None
            target = replace(
                target, project=info.project, name=info.name, version=info.version,
                version_id=None,
            )  # fmt: skip
        return await source_entry(remote, target, {})
