"""Dedup without leaks: knowing a chunk's hash gets a stranger nothing.

Alice pushes a file to project ``secret`` with the real CLI. Mallory, who may write only
project ``public``, learns every hash of that file and where its chunks lie (the test
reads them with alice's key and hands them over), then tries every way the protocol
offers to learn that the store holds them or to obtain their bytes. Each answer must be
the answer for chunks that were never stored. When mallory really has the bytes and
pushes them, it works (her upload is proof of possession). Carol, who may read
``secret``, copies the data into ``public`` without uploading a byte.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from asyncart.core.manifest import Manifest
from asyncart.repo.access import Role
from tests.server.test_permissions import World, call
from tests.support.accounts import users_with_keys
from tests.support.live_server import live_server
from tests.support.packs import h, pack_body

SIZE = 3 << 20  # several chunks, at least one pack


def cli(*args: str, key: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "asyncart", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ASYNCART_API_KEY": key},
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


@dataclass
class Leak:
    world: World
    secret_file: Path
    manifest: Manifest
    locations: dict[str, list[Any]]

    def first_chunk(self) -> tuple[str, str, int, bytes]:
        """One chunk of alice's secret: its hash, the pack and offset it is stored at, and
        its bytes (cut from the secret file by the manifest's chunk list)."""
        chunk_hash, (pack, offset, length) = next(iter(self.locations.items()))
        entry = next(e for e in self.manifest if e.chunks)
        at = 0
        for ref in entry.chunks:
            if ref.hash == chunk_hash:
                break
            at += ref.size
        data = self.secret_file.read_bytes()[at : at + length]
        assert h(data) == chunk_hash
        return chunk_hash, pack, offset, data


@pytest.fixture
def leak(tmp_path: Path) -> Iterator[Leak]:
    with leak_world(tmp_path) as world:
        yield world


@contextmanager
def leak_world(tmp_path: Path) -> Iterator[Leak]:
    """Alice's secret file pushed to a fresh server with alice, mallory and carol."""
    root = tmp_path / "store"
    root.mkdir()
    grants = {
        "alice": [("secret", Role.WRITE)],
        "mallory": [("public", Role.WRITE)],
        "carol": [("secret", Role.READ), ("public", Role.WRITE)],
    }
    keys = asyncio.run(users_with_keys(root, grants))
    secret_file = tmp_path / "weights.bin"
    secret_file.write_bytes(os.urandom(SIZE))
    with live_server(root) as server:
        world = World(server, keys, owner={})
        pushed = cli(
            "push",
            str(secret_file),
            "--name",
            "weights",
            "--type",
            "model",
            "--project",
            "secret",
            "--url",
            server.url,
            key=keys["alice"],
        )
        assert pushed["created"] and pushed["bytes_uploaded"] == SIZE

        async def learn() -> tuple[Manifest, dict[str, list[Any]]]:
            status, blob, _ = await call(
                world,
                "alice",
                "GET",
                "/v1/projects/secret/artifacts/weights/versions/v0/manifest",
            )
            assert status == 200
            manifest = Manifest.decode(blob)
            status, found, _ = await call(
                world,
                "alice",
                "POST",
                "/v1/chunks/locate",
                json={"hashes": sorted(manifest.chunk_hashes())},
            )
            assert status == 200
            return manifest, found["locations"]

        manifest, locations = asyncio.run(learn())
        assert len(locations) >= 2
        yield Leak(world, secret_file, manifest, locations)


async def test_a_stranger_who_knows_the_hashes_learns_nothing(leak: Leak) -> None:
    world = leak.world
    hashes = sorted(leak.manifest.chunk_hashes())
    never = [h(os.urandom(64)) for _ in hashes]

    # 1. "missing": everything is missing, exactly as for hashes nobody ever stored.
    status, body, _ = await call(
        world, "mallory", "POST", "/v1/chunks/missing", json={"hashes": hashes}
    )
    assert status == 200 and body["missing"] == hashes
    status, body, _ = await call(
        world, "mallory", "POST", "/v1/chunks/missing", json={"hashes": never}
    )
    assert status == 200 and body["missing"] == never

    # 2. "locate": nothing is anywhere.
    status, body, _ = await call(
        world, "mallory", "POST", "/v1/chunks/locate", json={"hashes": hashes}
    )
    assert status == 200 and body["locations"] == {}

    # 3. Reading the packs where the chunks lie: as if the packs did not exist.
    for pack, offset, length in leak.locations.values():
        ranged = {"Range": f"bytes={offset}-{offset + length - 1}"}
        status, hidden, _ = await call(world, "mallory", "GET", f"/v1/packs/{pack}", headers=ranged)
        fake = "f" * len(pack)
        status2, absent, _ = await call(
            world, "mallory", "GET", f"/v1/packs/{fake}", headers=ranged
        )
        assert status == status2 == 404
        assert hidden["message"].replace(pack, "X") == absent["message"].replace(fake, "X")
        status, _, _ = await call(world, "mallory", "GET", f"/v1/packs/{pack}")
        assert status == 400  # a restricted key must name a range

    # 4. Committing a manifest that names the chunks: refused like chunks never stored.
    versions = "/v1/projects/public/artifacts/stolen/versions"
    manifest_json = leak.manifest.to_json()
    status, refused, _ = await call(
        world, "mallory", "POST", versions, json={"type": "model", "manifest": manifest_json}
    )
    assert status == 409 and refused["code"] == "chunk_missing"
    fake_manifest = json.loads(json.dumps(manifest_json).replace(hashes[0], never[0]))
    status, _, _ = await call(
        world, "mallory", "POST", versions, json={"type": "model", "manifest": fake_manifest}
    )
    assert status == 409
    assert f"{len(hashes)} chunk(s)" in refused["message"]
    status, _, _ = await call(world, "mallory", "GET", f"{versions}/latest")
    assert status == 404  # nothing was committed

    # 5. The secret project itself does not exist for mallory.
    status, body, _ = await call(
        world, "mallory", "GET", "/v1/projects/secret/artifacts/weights/versions/v0/manifest"
    )
    assert status == 404 and body["code"] == "not_found"


async def test_ranges_must_be_made_of_chunks_the_caller_may_see(leak: Leak) -> None:
    """A range is served only if every byte belongs to a chunk indexed at that place and
    visible to the caller; uploading a chunk's bytes makes its stored copy visible."""
    world = leak.world
    first, second = os.urandom(1000), os.urandom(1500)
    status, receipt, _ = await call(
        world, "mallory", "POST", "/v1/packs", data=pack_body([first, second])[1]
    )
    assert status == 201 and receipt["new_chunks"] == 2
    status, found, _ = await call(
        world, "mallory", "POST", "/v1/chunks/locate", json={"hashes": [h(first), h(second)]}
    )
    pack, offset, _ = found["locations"][h(first)]
    both = f"bytes={offset}-{offset + 2500 - 1}"
    status, body, _ = await call(
        world, "mallory", "GET", f"/v1/packs/{pack}", headers={"Range": both}
    )
    assert status == 206 and body == first + second
    past = f"bytes={offset}-{offset + 2500}"
    assert (await call(world, "mallory", "GET", f"/v1/packs/{pack}", headers={"Range": past}))[
        0
    ] == 404

    # One of alice's chunks, now uploaded by mallory next to a chunk of her own: the
    # index keeps alice's copy, so the bytes in mallory's pack belong to no index entry.
    alice_hash, alice_pack, a_off, stolen = leak.first_chunk()
    a_len = len(stolen)
    ranged = {"Range": f"bytes={a_off}-{a_off + a_len - 1}"}
    assert (await call(world, "mallory", "GET", f"/v1/packs/{alice_pack}", headers=ranged))[
        0
    ] == 404
    own = os.urandom(700)
    status, _, _ = await call(
        world, "mallory", "POST", "/v1/packs", data=pack_body([own, stolen])[1]
    )
    assert status == 201
    status, found, _ = await call(
        world, "mallory", "POST", "/v1/chunks/locate", json={"hashes": [h(own), alice_hash]}
    )
    own_pack, own_off, _ = found["locations"][h(own)]
    assert found["locations"][alice_hash] == [alice_pack, a_off, a_len]
    span = f"bytes={own_off}-{own_off + 700 + a_len - 1}"
    assert (await call(world, "mallory", "GET", f"/v1/packs/{own_pack}", headers={"Range": span}))[
        0
    ] == 404
    status, body, _ = await call(world, "mallory", "GET", f"/v1/packs/{alice_pack}", headers=ranged)
    assert status == 206 and body == stolen  # she proved she has these bytes


def test_uploading_the_bytes_proves_possession_and_readers_dedup(leak: Leak) -> None:
    url = leak.world.server.url
    keys = leak.world.keys
    # Mallory has the file: she must upload every byte (the store will not tell her it
    # already holds them), and then it is hers to pull.
    pushed = cli(
        "push",
        str(leak.secret_file),
        "--name",
        "weights",
        "--type",
        "model",
        "--project",
        "public",
        "--url",
        url,
        key=keys["mallory"],
    )
    assert pushed["created"] and pushed["bytes_uploaded"] == SIZE
    out = leak.secret_file.parent / "mallory-pull"
    pulled = cli(
        "pull",
        "weights:latest",
        "--project",
        "public",
        "--url",
        url,
        "--output",
        str(out),
        key=keys["mallory"],
    )
    assert pulled["files"] == 1
    assert (out / "weights.bin").read_bytes() == leak.secret_file.read_bytes()
    # Carol may read "secret": its chunks are visible to her, so copying the same file
    # into "public" uploads nothing.
    copied = cli(
        "push",
        str(leak.secret_file),
        "--name",
        "weights-copy",
        "--type",
        "model",
        "--project",
        "public",
        "--url",
        url,
        key=keys["carol"],
    )
    assert copied["created"] and copied["bytes_uploaded"] == 0


async def test_the_upload_receipt_does_not_say_whether_chunks_were_stored(leak: Leak) -> None:
    """A pack of chunks alice stored long ago: mallory's receipt calls them all new."""
    chunk = os.urandom(2000)
    status, receipt, _ = await call(
        leak.world, "alice", "POST", "/v1/packs", data=pack_body([chunk])[1]
    )
    assert status == 201 and receipt["new_chunks"] == 1
    status, receipt, _ = await call(
        leak.world, "mallory", "POST", "/v1/packs", data=pack_body([chunk])[1]
    )
    assert status == 201 and receipt["new_chunks"] == 1
    status, again, _ = await call(
        leak.world, "mallory", "POST", "/v1/packs", data=pack_body([chunk])[1]
    )
    assert status == 201 and again["new_chunks"] == 0  # her own upload: she may know
