"""Bringing a store's data up to its schema where a SQL migration step cannot reach:
what lives in the blob store. Run by ``Repository.open``; each is idempotent and
resumes where a crash stopped it.
"""

from __future__ import annotations

from asyncart.core.manifest import Manifest
from asyncart.errors import NotFoundError
from asyncart.repo.blobstores.base import BlobStore
from asyncart.repo.keys import manifest_hash, manifest_object_key
from asyncart.repo.metastores import MetaStore


async def complete_manifest_hashes(blobs: BlobStore, meta: MetaStore) -> None:
    """Move the manifests of versions committed before schema 5 to their content
    address (docs/protocol.md §6.5).

    Each such version reads ``manifests/<digest>``; its object is copied to
    ``manifests/<BLAKE3 of its bytes>`` and only then is the hash recorded, so a crash at
    any point leaves every version readable, and the next open resumes. The old objects
    are then unreferenced: gc removes them. A version whose object is missing keeps
    reading the old name (fsck reports it).
    """
    for digest in await meta.legacy_manifest_digests():
        try:
            blob = await blobs.get_bytes(manifest_object_key(digest))
        except NotFoundError:
            continue
        key = manifest_object_key(manifest_hash(blob))
        await blobs.put_bytes(key, blob)

        async def stored(key: str = key) -> bool:
            return await blobs.exists(key)

        await meta.record_manifest_hash(digest, manifest_hash(blob), stored=stored)


async def complete_holders(blobs: BlobStore, meta: MetaStore) -> None:
    """Record each version's project as holder of its chunks, once, for a store whose
    versions predate schema 4 (docs/protocol.md §6.4)."""
    if await meta.holders_complete():
        return
    for version in await meta.all_versions():
        try:
            blob = await blobs.get_bytes(manifest_object_key(version.manifest_name))
        except NotFoundError:
            continue  # fsck reports a version without its manifest
        hashes = sorted(Manifest.decode(blob).chunk_hashes())
        await meta.record_holders(version.project, hashes)
    await meta.record_holders("", (), complete=True)  # marks the backfill done


async def complete_version_chunks(blobs: BlobStore, meta: MetaStore) -> None:
    """Fill the chunk reference index (schema 10) from the manifests of versions
    committed before it, once; a crash resumes (rows already there are kept)."""
    if await meta.chunk_refs_complete():
        return
    for version in await meta.all_versions():
        try:
            blob = await blobs.get_bytes(manifest_object_key(version.manifest_name))
            hashes = sorted(Manifest.decode(blob).chunk_hashes())
            await meta.record_chunk_refs(version.project, version.name, version.index, hashes)
        except NotFoundError:
            continue  # deleted meanwhile, or without its manifest (fsck reports it)
    await meta.chunk_refs_done()
