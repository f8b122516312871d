"""The routes ``asyncart sync`` relies on, under the per-project roles, on a real server:
``GET /v1/projects/{p}/access`` (the caller's role; no role answers exactly as the other
project routes do, whether or not the project exists) and the origin records
(``PUT .../versions/{ref}/origin`` needs write, ``GET .../origins`` read; a new record
is audited as ``sync``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

import asyncart
from asyncart.core import protocol as P
from asyncart.repo.access import Role
from tests.support.accounts import users_with_keys
from tests.support.live_server import LiveServer, live_server

GRANTS = {
    "owner": [("team", Role.ADMIN)],
    "writer": [("team", Role.WRITE)],
    "reader": [("team", Role.READ)],
    "stranger": [("elsewhere", Role.ADMIN)],
    "everywhere": [("*", Role.WRITE)],
}
ORIGIN = {
    "source_store": "/home/me/.asyncart/store",
    "source_project": "team",
    "source_name": "data",
    "source_index": 3,
    "source_digest": "ab" * 32,
}


class Team:
    def __init__(self, server: LiveServer, keys: dict[str, str]) -> None:
        self.server = server
        self.keys = keys


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    root = tmp_path_factory.mktemp("sync-routes") / "store"
    root.mkdir()
    keys = asyncio.run(users_with_keys(root, GRANTS))
    source = tmp_path_factory.mktemp("source") / "a.bin"
    source.write_bytes(b"a" * 1000)
    with live_server(root) as server, pytest.MonkeyPatch.context() as patch:
        patch.setenv("ASYNCART_URL", server.url)
        patch.setenv("ASYNCART_API_KEY", keys["owner"])
        with asyncart.init(job_type="seed", project="team") as run:
            artifact = asyncart.Artifact("data", "dataset")
            artifact.add_file(source)
            run.log_artifact(artifact).wait()
        yield Team(server, keys)


@pytest.fixture
async def http(team: Team) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=team.server.url) as session:
        yield session


async def ask(
    http: aiohttp.ClientSession, team: Team, user: str, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {team.keys[user]}"}
    async with http.request(method, path, json=body, headers=headers) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize(
    ("user", "role"),
    [("owner", "admin"), ("writer", "write"), ("reader", "read"), ("everywhere", "write")],
)
async def test_the_access_route_answers_each_role(
    team: Team, http: aiohttp.ClientSession, user: str, role: str
) -> None:
    status, body = await ask(http, team, user, "GET", P.path(P.ACCESS, project="team"))
    assert status == 200
    assert body == {
        "project": "team",
        "user": user,
        "role": role,
        "read": True,
        "write": role in ("write", "admin"),
        "admin": role == "admin",
    }


async def test_a_caller_without_a_role_learns_no_more_than_from_other_routes(
    team: Team, http: aiohttp.ClientSession
) -> None:
    answers = {}
    for project in ("team", "ghost"):  # one exists, one does not: the same answer
        for path in (P.ACCESS, P.COLLECTIONS):
            status, body = await ask(http, team, "stranger", "GET", P.path(path, project=project))
            answers[(project, path)] = (status, body["code"], body["message"].replace(project, "P"))
    assert len(set(answers.values())) == 1, answers
    assert answers[("team", P.ACCESS)][:2] == (404, "not_found")
    # A wildcard grant answers for a project that does not exist yet (a grant may precede it).
    status, body = await ask(http, team, "everywhere", "GET", P.path(P.ACCESS, project="ghost"))
    assert (status, body["role"]) == (200, "write")


async def test_origins_need_write_to_record_and_read_to_list_and_are_audited(
    team: Team, http: aiohttp.ClientSession
) -> None:
    put = P.path(P.ORIGIN, project="team", name="data", ref="v0")
    listed = P.path(P.ORIGINS, project="team", name="data")
    status, body = await ask(http, team, "reader", "PUT", put, ORIGIN)
    assert (status, body["code"]) == (403, "forbidden")
    status, body = await ask(http, team, "stranger", "PUT", put, ORIGIN)
    assert (status, body["code"]) == (404, "not_found")
    status, first = await ask(http, team, "writer", "PUT", put, ORIGIN)
    assert status == 201
    assert first["source_version"] == "v3" and first["version"] == "v0"
    assert first["synced_by"] == "writer"
    status, again = await ask(http, team, "writer", "PUT", put, ORIGIN)
    assert (status, again) == (200, first)  # idempotent: the record as first made
    status, body = await ask(http, team, "writer", "PUT", put, {**ORIGIN, "extra": 1})
    assert (status, body["code"]) == (400, "bad_request")
    status, body = await ask(http, team, "reader", "GET", listed)
    assert status == 200 and body["origins"] == [first]
    status, body = await ask(http, team, "stranger", "GET", listed)
    assert status == 404
    status, events = await ask(http, team, "owner", "GET", P.path(P.AUDIT, project="team"))
    synced = [e for e in events["events"] if e["action"] == "sync"]
    assert len(synced) == 1 and synced[0]["user"] == "writer"
    assert synced[0]["detail"]["source"] == "team/data:v3"
    assert synced[0]["detail"]["source_store"] == ORIGIN["source_store"]
