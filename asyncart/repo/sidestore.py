"""Tables beside the metastore's, in the same database: the base of accounts and audit log.

A :class:`SideStore` is a :class:`~asyncart.repo.metastores.database.DatabaseUser`: given
the server's :class:`~asyncart.repo.metastores.database.Database` it shares its engine and
pool with the metastore; given a URL (as the admin CLI and the tests open it) it has one
of its own. Either way each call is one transaction of :meth:`Database.run`.
"""

from __future__ import annotations

from pathlib import Path

from typing_extensions import Self

from asyncart.repo.metastores.database import DatabaseUser


class SideStore(DatabaseUser):
    """One transaction per call on a store's metadata database.

    Args:
        database: the shared :class:`Database`, or a URL such as ``sqlite:///store/meta.db``.
    """

    @classmethod
    async def open_dir(cls, root: Path) -> Self:
        """Open the store directory ``root``'s database (migrating its schema)."""
        return await cls.open_url(f"sqlite:///{root / 'meta.db'}")

    @classmethod
    async def open_url(cls, url: str) -> Self:
        """Open the metadata database at ``url`` (migrating its schema)."""
        store = cls(url)
        await store.open()
        return store
