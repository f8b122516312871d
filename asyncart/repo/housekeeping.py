"""What garbage collection and fsck share: safe removal, trash recovery, reading manifests.

Removing a stored object is two steps because a concurrent upload may be storing
the same content-addressed object again (docs/gc.md, "Removing a pack"):

1. :meth:`BlobStore.hide` takes the object off its key (into the trash);
2. one metastore write transaction decides (the pack is still untouched, the
   manifest still unreferenced), ordered with every upload and commit;
3. the hidden copy is purged, or put back if the decision was "keep".

An upload or commit checks, inside its own transaction, that its object is still
under its key, so it either sees the object gone (and is retried) or is ordered
before the decision (which then keeps the object). A process killed between the
steps leaves the object in the trash; :func:`recover_trash` finishes the job.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from asyncart.core.manifest import Manifest
from asyncart.errors import ConfigError, NotFoundError
from asyncart.repo.metastores.base import StoredVersion
from asyncart.repo.service import Repository, manifest_hash, manifest_object_key, pack_key

Decision = Callable[[], Awaitable[bool]]


async def remove_safely(repo: Repository, key: str, still_garbage: Decision) -> bool:
    """Remove the object ``key`` if ``still_garbage()`` (a metastore transaction) agrees.

    Returns True when the object is gone (also when it was already absent and the
    decision agreed), False when it was kept.
    """
    hidden = await repo.blobs.hide(key)
    try:
        remove = await still_garbage()
    except BaseException:
        if hidden:
            await repo.blobs.unhide(key)
        raise
    if hidden:
        if remove:
            await repo.blobs.purge(key)
        else:
            await repo.blobs.unhide(key)
    return remove


async def remove_pack(
    repo: Repository, pack_id: str, *, touched_before: float, seen_touched_at: float | None
) -> bool:
    """Remove a pack (file and index rows) if it is still as seen and old enough.

    ``seen_touched_at`` is the pack's ``touched_at`` in the caller's snapshot (None for a
    file the snapshot did not record); see :meth:`MetaStore.drop_pack`.
    """

    async def decide() -> bool:
        return await repo.meta.drop_pack(
            pack_id, touched_before=touched_before, seen_touched_at=seen_touched_at
        )

    return await remove_safely(repo, pack_key(pack_id), decide)


async def remove_manifest(repo: Repository, name: str) -> bool:
    """Remove the manifest object ``manifests/<name>`` unless some version reads it."""

    async def decide() -> bool:
        return await repo.meta.manifest_unreferenced(name)

    return await remove_safely(repo, manifest_object_key(name), decide)


@dataclass(frozen=True)
class TrashOutcome:
    """What became of one object found in the trash."""

    key: str
    restored: bool  # True: put back under its key; False: purged


async def recover_trash(repo: Repository) -> list[TrashOutcome]:
    """Finish what an interrupted gc or fsck left in the trash.

    A pack still recorded in the index, or a manifest object some version reads, goes
    back under its key; anything else is purged. Call with the maintenance lock held.
    """
    hidden = await repo.blobs.list_hidden()
    if not hidden:
        return []
    recorded = {p.id for p in await repo.meta.list_packs()}
    referenced = {v.manifest_name for v in await repo.meta.all_versions()}
    outcomes = []
    for blob in hidden:
        kind, _, name = blob.key.partition("/")
        keep = name in recorded if kind == "packs" else name in referenced
        if keep:
            await repo.blobs.unhide(blob.key)
        else:
            await repo.blobs.purge(blob.key)
        outcomes.append(TrashOutcome(blob.key, keep))
    return outcomes


class ManifestMismatch(ConfigError):
    """A stored manifest object is not what its version committed."""


async def read_manifest(repo: Repository, version: StoredVersion) -> Manifest:
    """The manifest ``version`` reads, checked against what its commit recorded: the
    object's BLAKE3 is the recorded hash, and it describes the version's content
    (artifact digest, size, file count).

    Raises:
        NotFoundError: the object is missing.
        ConfigError: the object does not decode.
        ManifestMismatch: it decodes, but is another manifest than the one committed.
    """
    blob = await repo.blobs.get_bytes(manifest_object_key(version.manifest_name))
    manifest = Manifest.decode(blob)
    if version.manifest_hash is not None and manifest_hash(blob) != version.manifest_hash:
        raise ManifestMismatch(
            f"its bytes are not the ones committed (BLAKE3 {manifest_hash(blob)}, "
            f"recorded {version.manifest_hash})"
        )
    check_describes(manifest, version)
    return manifest


def check_describes(manifest: Manifest, version: StoredVersion) -> None:
    """Raise ManifestMismatch unless ``manifest`` describes ``version``'s content."""
    found = (manifest.digest, manifest.size, len(manifest))
    recorded = (version.digest, version.size, version.file_count)
    if found != recorded:
        raise ManifestMismatch(
            f"it describes content {found[0]} ({found[1]} bytes, {found[2]} file(s)), "
            f"not {recorded[0]} ({recorded[1]} bytes, {recorded[2]} file(s))"
        )


async def check_unreferenced(repo: Repository, name: str) -> None:
    """Check a manifest object no version reads: it decodes, and its name is its
    BLAKE3 or (an object stored before schema 5) its artifact digest.

    Raises:
        NotFoundError / ConfigError: as :func:`read_manifest`.
    """
    blob = await repo.blobs.get_bytes(manifest_object_key(name))
    manifest = Manifest.decode(blob)
    if name not in (manifest_hash(blob), manifest.digest):
        raise ConfigError(
            f"its name is neither its BLAKE3 nor its artifact digest {manifest.digest}"
        )


def describe(exc: NotFoundError | ConfigError) -> str:
    """A short reason for a manifest that could not be read."""
    if isinstance(exc, NotFoundError):
        return "it is missing"
    if isinstance(exc, ManifestMismatch):
        return f"it is not the manifest its commit stored: {exc}"
    return f"it is unreadable ({exc})"


