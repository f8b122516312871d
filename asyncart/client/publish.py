"""Logging one version: upload what the store lacks, then commit the manifest.

The one routine behind ``log_artifact``, run in the caller's process or, for
background logs, in the push worker (``offload.py``): the commit goes with the
upload because on the embedded store a commit is many database round trips,
each of which would wait for a GIL the training loop holds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread

from asyncart.client.progress import Progress, TransferStats
from asyncart.client.remote import Remote
from asyncart.client.scan import FileIdentity, hash_file
from asyncart.client.upload import SourceFile, push_files
from asyncart.config import Settings
from asyncart.core.manifest import Manifest, ManifestEntry, uri_digest
from asyncart.core.models import CommitRequest, PendingInfo, VersionInfo
from asyncart.errors import ChunkMissing, FileChangedError


@dataclass(frozen=True)
class Reference:
    """A reference: its size and digest are recorded, its bytes are not uploaded.

    ``checksum=False``: the URI alone is recorded (its digest is ``uri_digest(uri)``).
    ``digest``: known already (an ``http(s)://`` URL's); else read from ``local`` now.
    """

    path: str
    uri: str
    local: Path
    identity: FileIdentity
    checksum: bool = True
    digest: str | None = None


@dataclass(frozen=True)
class Publication:
    """A version to log: where it goes, the files to upload and the references to record.

    ``kept``: entries of a stored version, committed as they are (``new_draft()``): their
    chunks are in the store already, so nothing of them is read or sent.
    """

    project: str
    name: str
    type: str
    files: tuple[SourceFile, ...]
    references: tuple[Reference, ...] = ()
    aliases: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    run_id: str | None = None
    kept: tuple[ManifestEntry, ...] = ()


async def publish(
    remote: Remote,
    pub: Publication,
    settings: Settings,
    stats: TransferStats,
    progress: Progress | None = None,
) -> tuple[VersionInfo, Manifest]:
    """Upload ``pub``'s files and commit the version (or find the identical one).

    Raises:
        FileChangedError: a file changed while it was read (nothing is committed).
        ChunkMissing: chunks vanished twice between upload and commit.
        AsyncartError: the store could not take the bytes or the commit.
    """
    for attempt in range(2):
        request = await _pushed(remote, pub, settings, stats, progress)
        try:
            return await remote.commit(request), request.manifest
        except ChunkMissing:
            # Chunks the store said it held were removed before the commit (garbage
            # collection, or fsck --repair quarantined them): push again, which uploads
            # exactly those, and commit once more.
            if attempt == 1:
                raise
    raise AssertionError("unreachable")


async def publish_part(
    remote: Remote,
    pub: Publication,
    settings: Settings,
    stats: TransferStats,
    progress: Progress | None,
    distributed_id: str,
    *,
    finish_token: str | None,
) -> PendingInfo | VersionInfo:
    """Upload ``pub``'s files as one part of the distributed version ``distributed_id``:
    added to it (``finish_token`` None, W&B's ``upsert_artifact``), or added and every
    part committed as one version (W&B's ``finish_artifact``). Raises as :func:`publish`;
    also ``ConflictError`` for a path another process sent with other bytes."""
    for attempt in range(2):
        request = await _pushed(remote, pub, settings, stats, progress)
        try:
            if finish_token is None:
                return await remote.upsert_pending(request, distributed_id)
            return await remote.finish_pending(request, distributed_id, finish_token)
        except ChunkMissing:
            if attempt == 1:  # as in publish(): push what vanished, once more
                raise
    raise AssertionError("unreachable")


async def _pushed(
    remote: Remote,
    pub: Publication,
    settings: Settings,
    stats: TransferStats,
    progress: Progress | None,
) -> CommitRequest:
    """Upload what the store lacks of ``pub``'s files; the commit that names them."""
    entries = await push_files(remote, pub.files, settings, stats, progress, pub.project)
    for ref in pub.references:
        entries.append(await anyio.to_thread.run_sync(reference_entry, ref))
    entries.extend(pub.kept)
    return CommitRequest(
        project=pub.project,
        name=pub.name,
        type=pub.type,
        manifest=Manifest(tuple(entries), chunker=settings.chunker),
        aliases=pub.aliases,
        metadata=pub.metadata,
        description=pub.description,
        run_id=pub.run_id,
    )


def reference_entry(ref: Reference) -> ManifestEntry:
    """The manifest entry of a referenced file: its digest (read now, unless known) and URI."""
    if ref.digest is not None:
        return ManifestEntry(path=ref.path, size=ref.identity.size, digest=ref.digest, ref=ref.uri)
    if not ref.checksum:
        return ManifestEntry(
            path=ref.path, size=ref.identity.size, digest=uri_digest(ref.uri), ref=ref.uri
        )
    if FileIdentity.of(os.stat(ref.local)) != ref.identity:
        raise FileChangedError(f"referenced file {str(ref.local)!r} changed after it was added")
    return ManifestEntry(
        path=ref.path, size=ref.identity.size, digest=hash_file(ref.local), ref=ref.uri
    )
