"""What versions cost in a store: the records behind ``asyncart ls`` sizes and
``Api().storage(project)``, shared by the repository, the server and the client.

Three figures, all from the metadata store's chunk reference index (no pack is read):

- ``size``: logical bytes (the files' sizes added up, duplicates and all);
- ``added_bytes``: bytes of distinct chunks no version of its project held when the
  version was committed, i.e. what logging it added (None: committed before schema 10,
  when it was not recorded, or a link, which adds nothing);
- ``exclusive_bytes``: bytes of chunks no other version holds now, i.e. what deleting it
  (or the whole collection, or project) and then running gc would free.

``scope`` says where "no other version" looks: ``store`` (every project: the figure is
what gc frees) for a caller who may read every project (the embedded store, a server
without users, a ``*`` grant); else ``project`` (its own project only: other projects
may hold the same chunks, so gc may free less), so the figures never reveal what other
projects hold, and the project's own ``exclusive_bytes`` is None.

A collection's and a project's ``stored_bytes`` are their distinct chunk bytes (what
they occupy after dedup, shared or not).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from asyncart.core.names import format_version


@dataclass(frozen=True)
class VersionCost:
    """The figures of one version (see the module docstring)."""

    index: int
    size: int
    added_bytes: int | None
    exclusive_bytes: int
    is_link: bool = False

    @property
    def version(self) -> str:
        return format_version(self.index)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "index": self.index,
            "size": self.size,
            "added_bytes": self.added_bytes,
            "exclusive_bytes": self.exclusive_bytes,
            "is_link": self.is_link,
        }


@dataclass(frozen=True)
class CollectionStorage:
    """A collection's versions and totals: ``size`` (logical), ``stored_bytes`` (its
    distinct chunks), ``added_bytes`` (of the versions that recorded it),
    ``exclusive_bytes`` (held by none of the project's or store's other collections)."""

    name: str
    type: str
    size: int
    stored_bytes: int
    added_bytes: int
    exclusive_bytes: int
    versions: tuple[VersionCost, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "size": self.size,
            "stored_bytes": self.stored_bytes,
            "added_bytes": self.added_bytes,
            "exclusive_bytes": self.exclusive_bytes,
            "versions": [v.to_json() for v in self.versions],
        }


@dataclass(frozen=True)
class ProjectStorage:
    """What ``Api().storage(project)`` returns: the project's totals (``size`` logical,
    ``stored_bytes`` distinct chunks, ``exclusive_bytes`` held by no other project: what
    deleting every version of it would free; None unless ``scope`` is ``store``) and
    each collection's, by name; ``quota_bytes`` / ``usage_bytes``: the project's quota
    and what counts against it (docs/quotas.md), both None without a quota (or from a
    server older than the quota route). They are not part of the storage route's answer
    (:meth:`to_json`): ``Api().storage`` asks the quota route for them."""

    project: str
    size: int
    stored_bytes: int
    exclusive_bytes: int | None
    collections: tuple[CollectionStorage, ...] = ()
    scope: str = "store"
    quota_bytes: int | None = None
    usage_bytes: int | None = None

    def collection(self, name: str) -> CollectionStorage:
        """The figures of collection ``name``.

        Raises:
            KeyError: the project has no such collection (with versions).
        """
        for c in self.collections:
            if c.name == name:
                return c
        raise KeyError(name)

    def with_quota(self, quota: QuotaUsage | None) -> ProjectStorage:
        """These figures with ``quota``'s ``quota_bytes`` / ``usage_bytes`` (None: none)."""
        if quota is None or quota.quota_bytes is None:
            return replace(self, quota_bytes=None, usage_bytes=None)
        return replace(self, quota_bytes=quota.quota_bytes, usage_bytes=quota.stored_bytes)

    def to_json(self) -> dict[str, Any]:
        """The storage route's answer (without the quota: see the class docstring)."""
        return {
            "project": self.project,
            "size": self.size,
            "stored_bytes": self.stored_bytes,
            "exclusive_bytes": self.exclusive_bytes,
            "scope": self.scope,
            "collections": [c.to_json() for c in self.collections],
        }


@dataclass(frozen=True)
class QuotaUsage:
    """A project's quota (None: none set) and usage: its deduplicated bytes, the
    ``stored_bytes`` above, and ``pending_bytes``: pack bytes uploaded for it that none
    of its versions references yet, which count against the quota too (docs/quotas.md)."""

    project: str
    quota_bytes: int | None
    stored_bytes: int
    pending_bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "quota_bytes": self.quota_bytes,
            "stored_bytes": self.stored_bytes,
            "pending_bytes": self.pending_bytes,
        }
