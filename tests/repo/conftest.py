"""Fixtures for the repository tests: a store directory and a repository open on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asyncart.repo.service import Repository


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Where the test's store lives (created by :func:`repo`)."""
    return tmp_path / "store"


@pytest.fixture
async def repo(root: Path) -> AsyncIterator[Repository]:
    """A repository on a fresh store at ``root``, closed after the test."""
    r = await Repository.open_dir(root)
    try:
        yield r
    finally:
        await r.close()
