"""Links of a logged artifact, as W&B's: ``link``, ``unlink``, ``linked_artifacts``,
``source_artifact`` (the async core; ``Artifact`` and ``AsyncArtifact`` expose them).

A link is a version of another collection (a portfolio ``project/collection``, or a
registry's collection ``wandb-registry-<registry>/<collection>``: a project of that
name) that points at this version: the same manifest, so no byte is copied or moved.
Its aliases are its own (``latest`` on the collection's newest link); its metadata,
description, tags and lineage are its source's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from typing_extensions import Self

from asyncart.client.client import Client
from asyncart.core.manifest import Manifest
from asyncart.core.models import VersionInfo
from asyncart.core.names import parse_link_target, validate_aliases
from asyncart.errors import ConfigError
from asyncart.sdk.identity import source_of


class ArtifactLinking:
    """The link operations of :class:`~asyncart.sdk.artifact.BaseArtifact`."""

    if TYPE_CHECKING:  # provided by BaseArtifact
        type: str
        _deleted: bool

        def __init__(self, name: str, type: str) -> None: ...

        def _require_stored(self, action: str) -> tuple[VersionInfo, Manifest, Client]: ...

        def _bind(self, client: Client, info: VersionInfo, manifest: Manifest) -> None: ...

        @property
        def qualified_name(self) -> str: ...

    def _bound(self, client: Client, info: VersionInfo, manifest: Manifest) -> Self:
        """Another artifact object of the same class, bound to ``info``."""
        other = type(self)(info.name, info.type)
        other._bind(client, info, manifest)
        return other

    async def _link(self, target_path: str, aliases: list[str] | None = None) -> Self:
        """Link this logged version into ``target_path`` (``[[entity/]project/]collection``;
        a bare collection is in the settings' project); returns the link. Linking a link
        links its source (as W&B's)."""
        client = self._require_stored("link")[2]
        project, collection = parse_link_target(target_path, client.settings.project)
        return await self._link_to(project, collection, aliases)

    async def _link_to(self, project: str, collection: str, aliases: list[str] | None) -> Self:
        info, manifest, client = self._require_stored("link")
        wanted = validate_aliases(aliases)
        source = source_of(info)
        async with client.use() as remote:
            linked = await remote.link_version(
                source.project, source.name, source.version, (project, collection), wanted
            )
        return self._bound(client, linked, manifest)

    async def _unlink(self) -> None:
        """Remove this link (its source stays); a logged version is refused, as W&B's."""
        info, _, client = self._require_stored("unlink")
        if info.source is None:
            raise ConfigError(
                f"Artifact {self.qualified_name!r} is not a linked artifact and cannot be "
                "unlinked; to delete it, use 'Artifact.delete' instead"
            )
        async with client.use() as remote:
            await remote.unlink_version(info.project, info.name, info.version)
        self._deleted = True

    async def _linked_artifacts(self) -> list[Self]:
        """The links of this logged version (in projects the caller may read); a link has
        none (W&B: an empty list)."""
        info, manifest, client = self._require_stored("list the links of")
        if info.source is not None:
            return []
        async with client.use() as remote:
            found = await remote.list_links(info.project, info.name, info.version)
        return [self._bound(client, link, manifest) for link in found]

    async def _source_artifact(self) -> Self:
        """The version this link points at; a logged version is its own source."""
        info, manifest, client = self._require_stored("fetch the source of")
        if info.source is None:
            return self
        source = info.source
        async with client.use() as remote:
            found = await remote.get_version(source.project, source.name, source.version)
        return self._bound(client, found, manifest)
