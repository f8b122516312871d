"""Links in the repository (``Repository`` inherits these): W&B's ``artifact.link``.

The rules are the metastore's (``metastores/links.py``); here the source's manifest is
read once, so the link's project can be recorded as a holder of its chunks (a caller
who may read only the link's project may still pull through it). No pack byte moves.
"""

from __future__ import annotations

from collections.abc import Sequence

from asyncart.core.manifest import Manifest
from asyncart.core.models import VersionInfo
from asyncart.core.names import validate_alias, validate_name
from asyncart.repo.blobstores.base import BlobStore
from asyncart.repo.keys import manifest_object_key
from asyncart.repo.metastores import MetaStore


class LinkMethods:
    """The link operations of :class:`~asyncart.repo.service.Repository`."""

    meta: MetaStore
    blobs: BlobStore

    async def link_version(
        self,
        project: str,
        name: str,
        ref: str,
        target: tuple[str, str],
        aliases: Sequence[str] = (),
    ) -> VersionInfo:
        """Link version ``ref`` of ``project/name`` into ``target`` (project, collection);
        returns the link (``created`` False when that content was linked there already).

        Raises:
            InvalidNameError: a bad target name or alias.
            ConflictError / TypeConflict / ConfigError: see ``MetaStore.link_version``.
            ArtifactNotFound / VersionNotFound / AliasNotFound: no such source.
        """
        validate_name(target[0], what="project name")
        validate_name(target[1])
        wanted = tuple(dict.fromkeys(validate_alias(a) for a in aliases))
        info, manifest = await self.meta.get_version_manifest(project, name, ref)
        blob = await self.blobs.get_bytes(manifest_object_key(manifest))
        hashes = sorted(Manifest.decode(blob).chunk_hashes())
        return await self.meta.link_version(
            (info.project, info.name, info.version), target, wanted, hashes
        )

    async def unlink_version(self, project: str, name: str, ref: str) -> VersionInfo:
        """Remove link ``ref`` (its source stays); a version that is not a link is refused
        (ConfigError). Returns the link as it was."""
        return await self.meta.unlink_version(project, name, ref)

    async def list_links(self, project: str, name: str, ref: str) -> list[VersionInfo]:
        """The links of a version (of its source, for a link), oldest first."""
        return await self.meta.list_links(project, name, ref)
