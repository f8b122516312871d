"""Where a store lives: its metadata database and its blob store, from a directory or URLs.

The default layout is one directory: ``<root>/meta.db`` (SQLite) and ``<root>/blobs``
(files). A team deployment names the two parts separately, and any number of
stateless servers may share them:

* ``db``: ``sqlite:////abs/meta.db`` or ``postgresql://user:pass@host:5432/name``;
* ``blobs``: a directory, or ``s3://bucket/prefix`` (endpoint, region and credentials
  from the usual AWS environment variables and files; ``AWS_ENDPOINT_URL`` for a
  non-AWS endpoint such as MinIO or Ceph).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from asyncart.core.private_fs import create_private, private_dir, tighten
from asyncart.errors import ConfigError
from asyncart.repo.blobstores.base import BlobStore
from asyncart.repo.blobstores.filesystem import FilesystemBlobStore

S3_SCHEME = "s3://"


@dataclass(frozen=True)
class StoreLocation:
    """A store's metadata database URL and blob store location.

    Build it with :meth:`of`; ``root`` (if any) is the directory of the default layout.
    """

    db: str
    blobs: str
    root: Path | None = None

    @classmethod
    def of(
        cls, root: Path | str | None = None, *, db: str | None = None, blobs: str | None = None
    ) -> StoreLocation:
        """The store at ``root`` (default layout), with ``db`` / ``blobs`` overriding its
        parts; without ``root`` both must be given.

        Raises:
            ConfigError: neither ``root`` nor both parts are given.
        """
        where = None if root is None else Path(root).expanduser().resolve()
        if where is None and (db is None or blobs is None):
            raise ConfigError(
                "a store needs a directory (--root) or both a database (--db) and a blob "
                "store (--blobs)"
            )
        if db is None:
            assert where is not None
            db = f"sqlite:///{where / 'meta.db'}"
        if blobs is None:
            assert where is not None
            blobs = str(where / "blobs")
        return cls(db=db, blobs=blobs, root=where)

    @property
    def is_s3(self) -> bool:
        """Whether the blobs live in an S3-compatible object store."""
        return self.blobs.startswith(S3_SCHEME)

    @property
    def description(self) -> str:
        """The location for messages (no password)."""
        from sqlalchemy.engine import make_url

        try:
            db = make_url(self.db).render_as_string(hide_password=True)
        except Exception:
            db = "(unparsable database URL)"
        return f"db {db}, blobs {self.blobs}"

    def prepare(self) -> None:
        """Create the local directories the location needs (the default layout's root),
        private to this user (0700; an existing root it owns is tightened), and make a
        local SQLite database and its ``-wal`` / ``-shm`` files 0600.

        SQLite creates its files 0644 and gives the journal files its database's mode,
        so the database is created empty and 0600 before SQLite opens it.
        """
        if self.root is not None:
            private_dir(self.root)
        db_file = self.sqlite_file
        if db_file is not None and db_file.parent.is_dir():
            if not db_file.exists():
                with contextlib.suppress(FileExistsError):
                    os.close(create_private(db_file))
            for path in (db_file, Path(f"{db_file}-wal"), Path(f"{db_file}-shm")):
                tighten(path)

    @property
    def sqlite_file(self) -> Path | None:
        """The file of a local SQLite database (None for other databases, or in memory)."""
        prefix = "sqlite:///"
        if not self.db.startswith(prefix) and not self.db.startswith("sqlite+aiosqlite:///"):
            return None
        name = self.db.split(":///", 1)[1].split("?", 1)[0]
        return Path(name) if name and name != ":memory:" else None

    def open_blobstore(self, *, fsync: bool = True) -> BlobStore:
        """The blob store, not yet used (S3 stores connect lazily)."""
        if self.is_s3:
            from asyncart.repo.blobstores.s3 import S3BlobStore

            return S3BlobStore.from_url(self.blobs)
        return FilesystemBlobStore(Path(self.blobs), fsync=fsync)
