"""Changing and deleting logged versions and collections in the repository
(``Repository`` inherits these).

A version's files never change; what may change (W&B's ``Artifact.save()``) is its
description, metadata, ttl and tags, and which version each alias names. A collection's
name, type, description and tags change with W&B's ``ArtifactCollection.save()``.
Deleting a version or a whole collection follows the alias rule of
``metastores/deletion.py``. A collection's retention policy (``core/retention.py``) is
set and read here too; ``repo/retention.py`` applies the policies.
"""

from __future__ import annotations

from asyncart.core import protocol as P
from asyncart.core.models import CollectionChanges, CollectionInfo, VersionChanges, VersionInfo
from asyncart.core.names import validate_alias, validate_name, validate_tag
from asyncart.core.retention import RetentionPolicy
from asyncart.errors import ConfigError
from asyncart.repo.metastores import MetaStore
from asyncart.repo.prepared import check_description, check_metadata


class VersionChangeMethods:
    """The version-changing operations of :class:`~asyncart.repo.service.Repository`."""

    meta: MetaStore

    async def delete_version(
        self, project: str, name: str, ref: str, *, delete_aliases: bool = False
    ) -> VersionInfo:
        """Delete a version (``vN`` or an alias); returns it as it was.

        Raises:
            ConflictError: it holds aliases other than ``latest`` and ``delete_aliases``
                is False.
            ArtifactNotFound / VersionNotFound / AliasNotFound: nothing to delete.
        """
        return await self.meta.delete_version(project, name, ref, delete_aliases=delete_aliases)

    async def delete_collection(
        self, project: str, name: str, *, delete_aliases: bool = False
    ) -> list[VersionInfo]:
        """Delete every version of an artifact (same alias rule); returns them, oldest first."""
        return await self.meta.delete_collection(project, name, delete_aliases=delete_aliases)

    async def get_retention(self, project: str, name: str) -> RetentionPolicy | None:
        """The collection's retention policy (docs/retention.md); None when it has none.

        Raises:
            ArtifactNotFound: no such collection.
        """
        return await self.meta.get_retention(project, name)

    async def set_retention(
        self, project: str, name: str, policy: RetentionPolicy, *, user: str | None = None
    ) -> RetentionPolicy:
        """Give the collection ``policy`` (replacing its previous one); ``asyncart server
        gc`` / ``asyncart gc`` apply it.

        Raises:
            ArtifactNotFound: no such collection.
        """
        return await self.meta.set_retention(project, name, policy, user)

    async def clear_retention(self, project: str, name: str) -> RetentionPolicy | None:
        """Remove the collection's retention policy; returns it (None: it had none)."""
        return await self.meta.clear_retention(project, name)

    async def update_collection(
        self, project: str, name: str, changes: CollectionChanges
    ) -> CollectionInfo:
        """Rename, retype, describe or tag a collection; returns it as it is now.

        Raises:
            InvalidNameError: a bad new name, type or tag.
            PayloadTooLarge: a description over ``MAX_DESCRIPTION_BYTES``.
            ConflictError: the new name is another collection's.
            ArtifactNotFound: no such collection.
        """
        if changes.name is not None:
            validate_name(changes.name)
        if changes.type is not None:
            validate_name(changes.type, what="artifact type")
        for tag in (*changes.tags_add, *changes.tags_remove):
            validate_tag(tag)
        if changes.set_description:
            check_description(changes.description)
        return await self.meta.update_collection(project, name, changes)

    async def update_version(
        self, project: str, name: str, ref: str, changes: VersionChanges
    ) -> VersionInfo:
        """Change a logged version's description, metadata, ttl or tags; returns it now.

        Raises:
            InvalidNameError: a tag breaks the tag rule (``core.names.validate_tag``).
            ConfigError: a ttl that is not a positive number of seconds; metadata that is
                not a JSON object.
            PayloadTooLarge: metadata or description over their limits.
            ArtifactNotFound / VersionNotFound / AliasNotFound: no such version.
        """
        for tag in (*changes.tags_add, *changes.tags_remove):
            validate_tag(tag)
        if changes.metadata is not None:
            if not isinstance(changes.metadata, dict):
                raise ConfigError("version metadata must be a JSON object")
            check_metadata(changes.metadata, "version metadata")
        if changes.set_description:
            check_description(changes.description)
        if changes.set_ttl:
            check_ttl(changes.ttl)
        return await self.meta.update_version(project, name, ref, changes)

    async def set_alias(self, project: str, name: str, alias: str, ref: str) -> VersionInfo:
        """Point ``alias`` at version ``ref`` (moved from where it was); returns that version.

        Raises:
            InvalidNameError: a bad alias (or a version-like one, ``v3``).
            ConfigError: ``latest`` (it always names the newest version).
        """
        return await self.meta.set_alias(project, name, validate_alias(alias), ref)

    async def remove_alias(self, project: str, name: str, alias: str) -> VersionInfo:
        """Remove ``alias``; returns the version it named (AliasNotFound if none)."""
        return await self.meta.remove_alias(project, name, validate_alias(alias))


def check_ttl(ttl: object) -> None:
    """Refuse a ttl other than None or a whole number of seconds up to ``MAX_TTL_SECONDS``
    (about 68 years: the largest the 32-bit column holds)."""
    if ttl is None:
        return
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 < ttl <= P.MAX_TTL_SECONDS:
        raise ConfigError(
            f"a ttl is a whole number of seconds from 1 to {P.MAX_TTL_SECONDS}, "
            f"or None; got {ttl!r}"
        )
