"""Where the repository keeps each kind of object in its blob store."""

from __future__ import annotations

import blake3


def pack_key(pack_id: str) -> str:
    """The key of a stored pack."""
    return f"packs/{pack_id}"


def incoming_key(pack_id: str, token: str) -> str:
    """Where a direct upload of pack ``pack_id`` lands before it is verified."""
    return f"incoming/{pack_id}-{token}"


def manifest_object_key(name: str) -> str:
    """The key of manifest object ``name``: a version's recorded manifest hash (or, for a
    version committed before schema 5, its digest): see ``StoredVersion.manifest_name``."""
    return f"manifests/{name}"


def manifest_hash(blob: bytes) -> str:
    """The content address of an encoded manifest: BLAKE3 (hex) of its bytes."""
    return blake3.blake3(blob).hexdigest()
