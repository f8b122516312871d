"""The metadata-store port's part for retention policies (issue 21):
:class:`~asyncart.repo.metastores.base.MetaStore` inherits it; the rules are in
``core/retention.py``, the SQL in ``retention.py``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from asyncart.core.retention import Decision, RetentionPolicy


@dataclass(frozen=True)
class CollectionRetention:
    """What retention decided for one collection (and, unless a dry run, did)."""

    project: str
    name: str
    policy: RetentionPolicy | None
    decisions: tuple[Decision, ...]
    #: The indexes of the versions that go (went, unless a dry run).
    deleted: tuple[int, ...] = ()

    @property
    def artifact(self) -> str:
        return f"{self.project}/{self.name}"


class RetentionStore(ABC):
    """Retention policies of one store's collections (each method one transaction)."""

    @abstractmethod
    async def get_retention(self, project: str, name: str) -> RetentionPolicy | None: ...

    @abstractmethod
    async def set_retention(
        self, project: str, name: str, policy: RetentionPolicy, user: str | None = None
    ) -> RetentionPolicy: ...

    @abstractmethod
    async def clear_retention(self, project: str, name: str) -> RetentionPolicy | None: ...

    @abstractmethod
    async def retention_collections(self) -> list[tuple[str, str]]: ...

    @abstractmethod
    async def apply_retention(
        self, project: str, name: str, *, now: float, dry_run: bool
    ) -> CollectionRetention: ...
