"""The metadata-store port's part for versions made by more than one hand: links (a
version of one collection that points at a version of another) and distributed versions
being written by several clients (pending parts).
:class:`~asyncart.repo.metastores.base.MetaStore` inherits it; the rules live in
``links.py`` and ``pending.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from asyncart.core.models import PendingInfo, VersionInfo
from asyncart.repo.metastores.pending_records import NewPart, PendingContents


class LinksAndPendingStore(ABC):
    """Links and pending parts of one store (each method one transaction)."""

    # -- distributed versions being written (``pending.py``) --

    @abstractmethod
    async def add_pending_part(self, part: NewPart) -> PendingInfo: ...

    @abstractmethod
    async def read_pending(
        self, project: str, name: str, distributed_id: str
    ) -> PendingContents | None: ...

    @abstractmethod
    async def close_pending(
        self,
        project: str,
        name: str,
        distributed_id: str,
        contents: PendingContents,
        index: int,
        token: str | None = None,
    ) -> None: ...

    @abstractmethod
    async def finished_version(self, project: str, name: str, token: str) -> VersionInfo | None: ...

    # -- links (schema 8; metastores/links.py has the rules) ------------------------

    @abstractmethod
    async def link_version(
        self,
        source: tuple[str, str, str],
        target: tuple[str, str],
        aliases: Sequence[str],
        chunks: Sequence[str],
    ) -> VersionInfo:
        """Link version ``source`` (project, name, ref) into collection ``target``
        (project, name), created if absent, moving ``latest`` and ``aliases`` onto the
        link; ``target``'s project is recorded as a holder of ``chunks`` (the source's).
        The same content linked again returns the existing link (``created=False``).

        Raises:
            ConflictError: ``target`` holds logged versions.
            TypeConflict: ``target`` links versions of another type.
            ConfigError: ``target`` is the source's own collection.
        """

    @abstractmethod
    async def unlink_version(self, project: str, name: str, ref: str) -> VersionInfo:
        """Delete link ``ref`` (its source stays); returns it as it was. A version that is
        not a link is refused (ConfigError)."""

    @abstractmethod
    async def list_links(self, project: str, name: str, ref: str) -> list[VersionInfo]:
        """The links of a version (of its source, for a link), oldest first."""
