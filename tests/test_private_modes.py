"""Stores, caches and staging are private: 0700 directories, 0600 files, whatever the umask.

With umask 022 (files 0644, directories 0755 by default), a 0600 file is pushed to the
embedded store and to a real server's store; then every path created under the stores
(``meta.db`` and its ``-wal`` / ``-shm``, packs, manifests, temporary directories), the
client cache (hash cache, staging of snapshots) is walked: none may have a group or
other permission bit. An existing store made world-readable is tightened when opened.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

import asyncart
from asyncart.core.private_fs import private_dir
from asyncart.repo.location import StoreLocation
from tests.support.live_server import live_server


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def open_paths(*roots: Path) -> list[str]:
    """Every path under ``roots`` (the roots too) with a group or other bit, and its mode."""
    found = []
    for root in roots:
        assert root.exists(), root
        for path in [root, *root.rglob("*")]:
            mode = stat.S_IMODE(path.lstat().st_mode)
            if mode & 0o077 and not path.is_symlink():
                found.append(f"{path} {mode:o}")
    return found


def push_secret(tmp_path: Path) -> None:
    secret = tmp_path / "work" / "secret.bin"
    secret.write_bytes(os.urandom(300_000))
    secret.chmod(0o600)
    run = asyncart.init(job_type="private")
    art = asyncart.Artifact(type="model", name="private model")
    art.add_file(secret)  # snapshotted into the cache's staging, then uploaded
    run.log_artifact(art)
    run.finish()


@pytest.mark.usefixtures("umask_022")
def test_an_embedded_store_and_the_cache_are_private(tmp_path: Path) -> None:
    push_secret(tmp_path)
    store, cache = tmp_path / "embedded-store", tmp_path / "cache"  # conftest's clean_env
    assert (store / "meta.db").exists() and list(store.rglob("packs/*/*"))
    assert open_paths(store, cache) == []


@pytest.mark.usefixtures("umask_022")
def test_a_server_store_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "server-store"
    with live_server(root) as srv:
        monkeypatch.setenv("ASYNCART_URL", srv.url)
        push_secret(tmp_path)
        assert list(root.rglob("packs/*/*"))
        assert open_paths(root, tmp_path / "cache") == []
    assert open_paths(root) == []  # and after a clean stop (WAL checkpoint and all)


@pytest.mark.usefixtures("umask_022")
async def test_an_existing_open_store_is_tightened_on_open(tmp_path: Path) -> None:
    root = tmp_path / "old-store"
    (root / "blobs" / "packs").mkdir(parents=True, mode=0o755)
    root.chmod(0o755)
    (root / "meta.db").touch(mode=0o644)
    repo = await asyncart_repo(root)
    await repo.close()
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE((root / "meta.db").stat().st_mode) == 0o600


async def asyncart_repo(root: Path):  # type: ignore[no-untyped-def]
    from asyncart.repo.service import Repository

    return await Repository.open(StoreLocation.of(root))


@pytest.mark.usefixtures("umask_022")
def test_private_dir_makes_every_missing_level_private(tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    outer.mkdir()  # not ours to change: 0755 under umask 022
    private_dir(outer / "a" / "b" / "c")
    assert open_paths(outer / "a") == []
    assert stat.S_IMODE(outer.stat().st_mode) == 0o755
