"""The world of the permission tests: one real server over a store with projects
``proj-a`` (where the callers have their roles) and ``proj-b`` (where none has any),
each holding an artifact ``data`` (one chunk, alias ``best``) and a run that logged and
used it; callers: no key, a user without grants, read, write and admin on ``proj-a``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from asyncart.core.manifest import Manifest, ManifestEntry
from asyncart.core.protocol import path as route
from asyncart.repo.access import Role
from tests.support.accounts import users_with_keys
from tests.support.live_server import LiveServer, live_server
from tests.support.packs import h, pack_body, ref_of

PROJECT = {"own": "proj-a", "other": "proj-b"}
CALLERS = ("anonymous", "no-grant", "read", "write", "admin")
RANK = {"no-grant": 0, "read": Role.READ, "write": Role.WRITE, "admin": Role.ADMIN}


@dataclass
class Seeded:
    """What one project holds."""

    chunk: bytes
    run_id: str
    location: tuple[str, int, int] = ("", 0, 0)
    client_run_id: str = ""  # the id its creator sent


@dataclass
class World:
    server: LiveServer
    keys: dict[str, str]  # caller -> API key ("anonymous" has none)
    owner: dict[str, str]  # "own"/"other" -> the key of that project's admin
    seeded: dict[str, Seeded] = field(default_factory=dict)
    counter: list[int] = field(default_factory=lambda: [0])

    def fresh(self, stem: str) -> str:
        self.counter[0] += 1
        return f"{stem}-{self.counter[0]}"


async def call(
    world: World,
    caller: str | None,
    method: str,
    path: str,
    *,
    json: Any = None,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    """One request as ``caller`` (a caller name, or a raw key); (status, body, headers)."""
    sent = dict(headers or {})
    key = world.keys.get(caller or "", caller if caller and caller.startswith("acart_") else None)
    if key:
        sent["Authorization"] = f"Bearer {key}"
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, world.server.url + path, json=json, data=data, headers=sent) as resp,
    ):
        raw = await resp.read()
        body: Any = raw
        if resp.content_type == "application/json":
            body = await resp.json()
        return resp.status, body, dict(resp.headers)


def manifest_json(chunk: bytes, path: str = "data.bin") -> dict[str, Any]:
    entry = ManifestEntry.for_file(path, len(chunk), h(chunk), [ref_of(chunk)])
    return Manifest((entry,)).to_json()


async def seed(world: World, where: str) -> None:
    """Give a project an uploaded chunk, artifact ``data`` (alias ``best``) and a run."""
    project, owner = PROJECT[where], world.owner[where]
    chunk = os.urandom(3000)
    _, body = pack_body([chunk])
    status, _, _ = await call(world, owner, "POST", "/v1/packs", data=body)
    assert status == 201
    client_id = os.urandom(6).hex()
    status, run, _ = await call(
        world,
        owner,
        "POST",
        "/v1/runs",
        json={"project": project, "job_type": "train", "id": client_id},
    )
    assert status == 201
    run_id = run["id"]
    status, _, _ = await call(
        world,
        owner,
        "POST",
        route("/v1/projects/{project}/artifacts/{name}/versions", project=project, name="data"),
        json={
            "type": "dataset",
            "manifest": manifest_json(chunk),
            "aliases": ["best"],
            "run_id": run_id,
        },
    )
    assert status == 201
    status, _, _ = await call(
        world,
        owner,
        "POST",
        f"/v1/runs/{run_id}/inputs",
        json={"project": project, "name": "data", "ref": "best"},
    )
    assert status == 200
    status, located, _ = await call(
        world, owner, "POST", "/v1/chunks/locate", json={"hashes": [h(chunk)]}
    )
    assert status == 200
    world.seeded[where] = Seeded(
        chunk, run_id, tuple(located["locations"][h(chunk)]), client_run_id=client_id
    )


def seeded_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A server over two seeded projects and callers of every role (see the module doc);
    a module-scoped fixture yields from it."""
    root = tmp_path_factory.mktemp("perm") / "store"
    root.mkdir()
    grants = {
        "no-grant": [],
        "read": [("proj-a", Role.READ)],
        "write": [("proj-a", Role.WRITE)],
        "admin": [("proj-a", Role.ADMIN)],
        "owner-b": [("proj-b", Role.ADMIN)],
        "bridge": [("proj-a", Role.WRITE), ("proj-b", Role.READ)],
    }
    keys = asyncio.run(users_with_keys(root, grants))
    with live_server(root) as server:
        w = World(server, keys, owner={"own": keys["admin"], "other": keys["owner-b"]})

        async def seed_both() -> None:
            await seed(w, "own")
            await seed(w, "other")

        asyncio.run(seed_both())
        yield w


def art_path(project: str, name: str = "data", tail: str = "") -> str:
    base = route("/v1/projects/{project}/artifacts/{name}", project=project, name=name)
    return base + tail


async def victim(world: World, where: str) -> str:
    """A fresh artifact in the project (made by its admin) for a deletion to remove."""
    name = world.fresh("victim")
    status, _, _ = await call(
        world,
        world.owner[where],
        "POST",
        art_path(PROJECT[where], name, "/versions"),
        json={"type": "dataset", "manifest": manifest_json(world.seeded[where].chunk)},
    )
    assert status == 201
    return name
