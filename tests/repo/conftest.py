"""Fixtures for the repository tests: a store on SQLite and on PostgreSQL, and a repository
open on it.

Every test taking ``db_url``, ``meta``, ``location`` or ``repo`` runs twice: against a SQLite file
in the store directory (the default layout) and against a fresh database on the
session's throwaway PostgreSQL cluster (tests/support/postgres.py, registered as a
plugin in tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asyncart.repo.location import StoreLocation
from asyncart.repo.metastores import MetaStore, open_metastore
from asyncart.repo.service import Repository

DIALECTS = ("sqlite", "postgresql")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Where the test's store lives (created by :func:`repo`)."""
    return tmp_path / "store"


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    """The metadata database the test runs against: ``sqlite`` or ``postgresql``."""
    return str(request.param)


@pytest.fixture
def db_url(dialect: str, root: Path, request: pytest.FixtureRequest) -> str:
    """The store's metadata database: ``<root>/meta.db`` (the directory is created), or a
    fresh PostgreSQL database."""
    if dialect == "sqlite":
        root.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{root / 'meta.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A SQLite database file, for the tests of SQLite's own locking."""
    return tmp_path / "meta.db"


@pytest.fixture
async def meta(db_url: str) -> AsyncIterator[MetaStore]:
    """A metadata store open on ``db_url``, closed after the test."""
    s = open_metastore(db_url)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def location(root: Path, db_url: str) -> StoreLocation:
    """The store: blobs under ``root``, metadata at ``db_url``."""
    return StoreLocation.of(root, db=db_url)


@pytest.fixture
async def repo(location: StoreLocation) -> AsyncIterator[Repository]:
    """A repository on a fresh store at ``location``, closed after the test."""
    r = await Repository.open(location)
    try:
        yield r
    finally:
        await r.close()
