"""A commit in one project never changes the manifest a version of another project reads.

Alice (write on project ``a``) pushes a file with the real CLI. Bob (write on ``b``)
knows only its path and BLAKE3 (a public checkpoint) and commits to ``b`` a manifest
with the same (path, file digest) pair, hence the same artifact digest, but a ``ref``
entry that needs no chunks; then the same file is pushed into ``b`` with
``ASYNCART_CHUNKER=fixed`` (another chunk list). Before manifests were content-addressed
each of these replaced ``manifests/<digest>`` under alice's version: her pull failed,
``gc`` deleted her packs and ``fsck`` reported clean. On a real server, blobs on a
directory and in S3 (SeaweedFS), metadata in SQLite.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from asyncart.core.manifest import Manifest
from asyncart.repo.access import Role
from tests.server.test_permissions import World, call
from tests.support.accounts import users_with_keys
from tests.support.live_server import live_server
from tests.support.s3 import S3Bucket, s3_bucket, s3_server  # noqa: F401 - fixtures

SIZE = 3 << 20  # several content-defined chunks


def run_cli(*args: str, env: dict[str, str]) -> dict[str, Any]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCART_")}
    proc = subprocess.run(
        [sys.executable, "-m", "asyncart", *args, "--json"],
        capture_output=True, text=True, timeout=180, env={**clean, **env},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


@dataclass
class Store:
    world: World
    root: Path
    blobs: list[str]  # --blobs for maintenance ([] for the default layout)
    env: dict[str, str]  # the blob store's environment (S3 endpoint and credentials)
    file: Path

    def as_user(self, user: str, **extra: str) -> dict[str, str]:
        return {**self.env, "ASYNCART_API_KEY": self.world.keys[user], **extra}

    def push(self, user: str, project: str, **extra: str) -> dict[str, Any]:
        return run_cli("push", str(self.file), "--name", "weights", "--type", "model",
                       "--project", project, "--url", self.world.server.url,
                       env=self.as_user(user, **extra))

    def pull_bytes(self, user: str, project: str, into: Path) -> bytes:
        run_cli("pull", "weights:v0", "--project", project, "-o", str(into),
                "--url", self.world.server.url, env=self.as_user(user))
        return (into / self.file.name).read_bytes()

    def maintain(self, *args: str) -> dict[str, Any]:
        return run_cli("server", *args, "--root", str(self.root), *self.blobs, env=self.env)


@pytest.fixture(params=["filesystem", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    root = tmp_path / "store"
    root.mkdir()
    keys = asyncio.run(
        users_with_keys(root, {"alice": [("a", Role.WRITE)], "bob": [("b", Role.WRITE)]})
    )
    blobs: list[str] = []
    env: dict[str, str] = {}
    if request.param == "s3":
        bucket: S3Bucket = request.getfixturevalue("s3_bucket")
        blobs, env = ["--blobs", bucket.url], dict(bucket.env)
    file = tmp_path / "weights.bin"
    file.write_bytes(os.urandom(SIZE))
    with live_server(root, extra_args=blobs, extra_env=env) as server:
        yield Store(World(server, keys, owner={}), root, blobs, env, file)


async def alice_manifest(store: Store) -> tuple[bytes, Manifest]:
    status, blob, _ = await call(
        store.world, "alice", "GET", "/v1/projects/a/artifacts/weights/versions/v0/manifest"
    )
    assert status == 200
    return blob, Manifest.decode(blob)


async def assert_alice_intact(store: Store, blob: bytes, tmp: Path) -> None:
    """Alice's version reads her manifest, pulls byte-exact, survives gc; fsck is clean."""
    assert (await alice_manifest(store))[0] == blob
    assert store.pull_bytes("alice", "a", tmp / "pull-1") == store.file.read_bytes()
    collected = store.maintain("gc", "--grace", "0")  # every unreferenced pack is "old"
    assert collected["deleted_packs"] == 0, collected
    checked = store.maintain("fsck")
    assert checked["clean"], checked
    assert (await alice_manifest(store))[0] == blob
    assert store.pull_bytes("alice", "a", tmp / "pull-2") == store.file.read_bytes()


async def test_a_ref_manifest_with_her_pair_in_another_project(
    store: Store, tmp_path: Path
) -> None:
    assert store.push("alice", "a")["created"]
    blob, manifest = await alice_manifest(store)
    [entry] = manifest.entries
    assert len(entry.chunks) >= 2
    # Bob knows the path and the file's BLAKE3; a reference needs no chunk.
    forged = {**manifest.to_json(), "entries": [
        {"path": entry.path, "size": entry.size, "digest": entry.digest,
         "ref": "file:///dev/null"},
    ]}
    status, info, _ = await call(store.world, "bob", "POST",
                                 "/v1/projects/b/artifacts/weights/versions",
                                 json={"type": "model", "manifest": forged})
    assert status == 201, info
    assert info["digest"] == manifest.digest  # the very same artifact digest
    status, his, _ = await call(store.world, "bob", "GET",
                                "/v1/projects/b/artifacts/weights/versions/v0/manifest")
    assert status == 200 and Manifest.decode(his).entries[0].ref == "file:///dev/null"
    await assert_alice_intact(store, blob, tmp_path)


async def test_the_same_file_pushed_with_another_chunker_elsewhere(
    store: Store, tmp_path: Path
) -> None:
    assert store.push("alice", "a")["created"]
    blob, manifest = await alice_manifest(store)
    pushed = store.push("bob", "b", ASYNCART_CHUNKER="fixed")
    assert pushed["created"] and pushed["bytes_uploaded"] == SIZE  # he owns his chunks
    status, his, _ = await call(store.world, "bob", "GET",
                                "/v1/projects/b/artifacts/weights/versions/v0/manifest")
    assert status == 200
    theirs = Manifest.decode(his)
    assert theirs.digest == manifest.digest
    assert theirs.chunk_hashes().isdisjoint(manifest.chunk_hashes())
    await assert_alice_intact(store, blob, tmp_path)
    assert store.pull_bytes("bob", "b", tmp_path / "bob") == store.file.read_bytes()
