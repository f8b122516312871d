"""What a version costs, end to end: ``asyncart ls NAME`` and ``ls --sizes`` as
subprocesses on the embedded store and a live server, ``Api().storage()`` on both SDK
faces, the route's permission rule and hostile project names."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
import anyio
import pytest

import asyncart
from asyncart import aio
from asyncart.core import protocol as P
from asyncart.repo.access import Role
from asyncart.repo.location import StoreLocation
from asyncart.repo.service import Repository
from tests.cli.test_cli import ok, ok_json
from tests.support.accounts import users_with_keys
from tests.support.live_server import LiveServer, live_server

CHUNK = 4096
BASE = os.urandom(3 * CHUNK)
EDITED = BASE[:CHUNK] + os.urandom(CHUNK) + BASE[2 * CHUNK :]  # one chunk of three new


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCART_CHUNKER", "fixed")
    monkeypatch.setenv("ASYNCART_CHUNK_SIZE", str(CHUNK))


async def _set_quota(root: Path, quota_bytes: int) -> None:
    repo = await Repository.open(StoreLocation.of(root))
    try:
        await repo.meta.set_quota("default", quota_bytes)
    finally:
        await repo.close()


def _log(url: str | None, name: str, data: bytes) -> None:
    Path("model.bin").write_bytes(data)
    with asyncart.init(job_type="train", url=url) as run:
        art = asyncart.Artifact(name, type="model")
        art.add_file("model.bin")
        run.log_artifact(art, wait=True)


def test_ls_shows_added_and_freeable_bytes_per_version_and_collection(
    store: str, tmp_path: Path
) -> None:
    url = os.environ.get("ASYNCART_URL")
    _log(url, "model", BASE)
    _log(url, "model", EDITED)
    _log(url, "copy", EDITED)  # a second collection of v1's content: adds nothing
    rows = ok_json("ls", "model")
    assert [(r["version"], r["size"], r["added_bytes"], r["exclusive_bytes"]) for r in rows] == [
        ("v0", 3 * CHUNK, 3 * CHUNK, CHUNK),  # its edited-away chunk is its alone
        ("v1", 3 * CHUNK, CHUNK, 0),  # "copy" holds all of it
    ]
    table = ok("ls", "model").splitlines()  # a pipe: tab-separated
    assert [row.split("\t")[2:6] for row in table] == [  # SIZE FILES ADDED FREES
        ["12.0 KiB", "1 file", "12.0 KiB", "4.0 KiB"],
        ["12.0 KiB", "1 file", "4.0 KiB", "0 B"],
    ]
    assert asyncart.Api(url=url).storage().quota_bytes is None  # no quota
    root = tmp_path / ("server-store" if url else "embedded-store")
    anyio.run(_set_quota, root, 40 * 1024)  # the admin CLI's own test: tests/server/test_quotas.py
    sizes = ok("ls", "--sizes").splitlines()
    assert [row.split("\t")[3:] for row in sizes[:-2]] == [  # SIZE STORED ADDED FREES
        ["12.0 KiB", "12.0 KiB", "0 B", "0 B"],  # copy
        ["24.0 KiB", "16.0 KiB", "16.0 KiB", "4.0 KiB"],  # model
    ]
    assert sizes[-2:] == [
        "project 'default': 36.0 KiB logical, 16.0 KiB stored, deleting it all would free 16.0 KiB",
        "quota: 16.0 KiB of 40.0 KiB used (24.0 KiB left)",
    ]
    found = ok_json("ls", "--sizes")
    assert (found["quota_bytes"], found["usage_bytes"]) == (40 * 1024, 16 * 1024)
    sdk = asyncart.Api(url=url).storage()
    assert (sdk.quota_bytes, sdk.usage_bytes) == (40 * 1024, 16 * 1024)


async def test_both_sdk_faces_report_the_same_figures(server: LiveServer) -> None:
    _log(server.url, "model", BASE)
    sync = asyncart.Api(url=server.url).storage()
    async with aio.Api(url=server.url) as api:
        assert await api.storage("default") == sync
    assert (sync.quota_bytes, sync.usage_bytes) == (None, None)
    assert sync.collection("model").versions[0].added_bytes == 3 * CHUNK
    with pytest.raises(KeyError):
        sync.collection("nothing")


async def test_the_route_needs_read_access_and_checks_the_project_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read access on the project; a caller who may not read every project gets figures
    scoped to it (``scope: project``); a bad name is a 400, an unreadable project a 404."""
    root = tmp_path / "store"
    root.mkdir()
    keys = await users_with_keys(
        root,
        {"alice": [("proj", Role.WRITE)], "bob": [("other", Role.READ)], "ops": [("*", Role.READ)]},
    )
    monkeypatch.setenv("ASYNCART_API_KEY", keys["alice"])
    Path("model.bin").write_bytes(BASE)
    with live_server(root) as server:
        async with await aio.init(job_type="train", project="proj", url=server.url) as run:
            art = aio.Artifact("model", type="model")
            art.add_file("model.bin")
            await run.log_artifact(art)
        async with aiohttp.ClientSession() as http:

            async def get(project: str, user: str) -> tuple[int, dict[str, object]]:
                url = server.url + P.path(P.STORAGE, project=project)
                headers = {"Authorization": f"Bearer {keys[user]}"}
                async with http.get(url, headers=headers) as resp:
                    return resp.status, await resp.json()

            status, body = await get("proj", "alice")
            assert (status, body["scope"], body["exclusive_bytes"]) == (200, "project", None)
            status, body = await get("proj", "ops")
            assert (status, body["scope"], body["exclusive_bytes"]) == (200, "store", 3 * CHUNK)
            assert (await get("proj", "bob"))[0] == 404  # not revealed to exist
            for hostile in ("x" * 300, "a\tb", " lead", "a:b", "\u202e"):
                assert (await get(hostile, "ops"))[0] == 400, hostile
