"""Per-project permissions: every endpoint x every kind of caller x own / other project.

One real ``asyncart server`` on 127.0.0.1 for the module, over a store with two
projects: ``proj-a`` (where the callers below have their roles) and ``proj-b`` (where
none of them has any). Callers: no key at all, a user without grants, and users with
read, write and admin on ``proj-a``. Each project holds an artifact ``data`` (one chunk,
alias ``best``), a run that logged it and used it.

Every answer is asserted: the status, and for chunk queries and listings, what the
answer reveals. The rule under test: no role on a project answers exactly like a
project that does not exist (404), too low a role answers 403, and chunk answers never
reveal chunks of a project the caller may not read.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from asyncart.core.manifest import Manifest, ManifestEntry
from asyncart.core.protocol import path as route
from asyncart.repo.access import Role
from asyncart.repo.accounts import AccountStore
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


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
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


# -- the operations ------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One endpoint: how to call it on a project, what role it needs, what success is."""

    name: str
    need: Role | None  # None: no project role (any authenticated caller)
    ok: int
    send: Callable[[World, str, str], Awaitable[tuple[int, Any, dict[str, str]]]]
    per_project: bool = True


def _art(project: str, name: str = "data", tail: str = "") -> str:
    base = route("/v1/projects/{project}/artifacts/{name}", project=project, name=name)
    return base + tail


async def _victim(world: World, where: str) -> str:
    """A fresh artifact in the project (made by its admin) for a deletion to remove."""
    name = world.fresh("victim")
    status, _, _ = await call(
        world,
        world.owner[where],
        "POST",
        _art(PROJECT[where], name, "/versions"),
        json={"type": "dataset", "manifest": manifest_json(world.seeded[where].chunk)},
    )
    assert status == 201
    return name


async def op_missing(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    return await call(
        w, who, "POST", "/v1/chunks/missing", json={"hashes": [h(w.seeded[where].chunk)]}
    )


async def op_locate(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    return await call(
        w, who, "POST", "/v1/chunks/locate", json={"hashes": [h(w.seeded[where].chunk)]}
    )


async def op_get_pack(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    pack, offset, length = w.seeded[where].location
    return await call(
        w,
        who,
        "GET",
        f"/v1/packs/{pack}",
        headers={"Range": f"bytes={offset}-{offset + length - 1}"},
    )


async def op_put_pack(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    return await call(w, who, "POST", "/v1/packs", data=pack_body([os.urandom(500)])[1])


async def op_projects(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    return await call(w, who, "GET", "/v1/projects")


def _get(tail: str) -> Callable[[World, str, str], Awaitable[tuple[int, Any, dict[str, str]]]]:
    async def send(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
        return await call(
            w, who, "GET", tail.format(project=PROJECT[where], run=w.seeded[where].run_id)
        )

    return send


async def op_commit(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    return await call(
        w,
        who,
        "POST",
        _art(PROJECT[where], w.fresh("copy"), "/versions"),
        json={"type": "dataset", "manifest": manifest_json(w.seeded[where].chunk)},
    )


async def op_upsert_pending(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    return await call(
        w,
        who,
        "POST",
        _art(PROJECT[where], w.fresh("ddp"), "/pending?distributed_id=job-1"),
        json={"type": "dataset", "manifest": manifest_json(w.seeded[where].chunk)},
    )


async def op_finish_pending(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    return await call(
        w,
        who,
        "POST",
        _art(PROJECT[where], w.fresh("ddp"), "/pending/finish?distributed_id=job-1"),
        json={"type": "dataset", "manifest": manifest_json(w.seeded[where].chunk)},
    )


async def op_delete_version(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    name = await _victim(w, where)
    return await call(w, who, "DELETE", _art(PROJECT[where], name, "/versions/v0"))


async def op_delete_artifact(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    name = await _victim(w, where)
    return await call(w, who, "DELETE", _art(PROJECT[where], name))


async def op_update_version(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    return await call(
        w, who, "PATCH", _art(PROJECT[where], "data", "/versions/v0"), json={"tags_add": ["seen"]}
    )


async def op_update_collection(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    """A fresh artifact (made by the project's admin) renamed, described and tagged."""
    name = await _victim(w, where)
    body = {"name": f"{name}-renamed", "description": "seen", "tags_add": ["seen"]}
    return await call(w, who, "PATCH", _art(PROJECT[where], name), json=body)


async def op_set_alias(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    alias = w.fresh("pinned")
    return await call(
        w, who, "PUT", _art(PROJECT[where], "data", f"/aliases/{alias}"), json={"version": "v0"}
    )


async def op_remove_alias(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    """An alias made by the project's admin, removed by the caller."""
    path = _art(PROJECT[where], "data", f"/aliases/{w.fresh('doomed')}")
    status, _, _ = await call(w, w.owner[where], "PUT", path, json={"version": "v0"})
    assert status == 200
    return await call(w, who, "DELETE", path)


async def op_create_run(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    return await call(
        w, who, "POST", "/v1/runs", json={"project": PROJECT[where], "job_type": "eval"}
    )


async def op_finish_run(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    return await call(
        w, who, "POST", f"/v1/runs/{w.seeded[where].run_id}/finish", json={"status": "finished"}
    )


async def op_add_input(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    return await call(
        w,
        who,
        "POST",
        f"/v1/runs/{w.seeded[where].run_id}/inputs",
        json={"project": PROJECT[where], "name": "data", "ref": "best"},
    )


V = "/v1/projects/{project}/artifacts/data/versions"
OPS = [
    Op("POST /chunks/missing", None, 200, op_missing),
    Op("POST /chunks/locate", None, 200, op_locate),
    Op("GET /packs/{pack}", Role.READ, 206, op_get_pack),
    Op("POST /packs", None, 201, op_put_pack, per_project=False),
    Op("GET /projects", None, 200, op_projects, per_project=False),
    Op("GET /projects/{p}/artifacts", Role.READ, 200, _get("/v1/projects/{project}/artifacts")),
    Op("GET .../versions", Role.READ, 200, _get(V)),
    Op("POST .../versions", Role.WRITE, 201, op_commit),
    Op("POST .../pending", Role.WRITE, 200, op_upsert_pending),
    Op("POST .../pending/finish", Role.WRITE, 201, op_finish_pending),
    Op("GET .../versions/{ref}", Role.READ, 200, _get(V + "/best")),
    Op("GET .../manifest", Role.READ, 200, _get(V + "/best/manifest")),
    Op("GET .../consumers", Role.READ, 200, _get(V + "/v0/consumers")),
    Op("GET .../producers", Role.READ, 200, _get(V + "/v0/producers")),
    Op("PATCH .../versions/{ref}", Role.WRITE, 200, op_update_version),
    Op("PUT .../aliases/{alias}", Role.WRITE, 200, op_set_alias),
    Op("DELETE .../aliases/{alias}", Role.WRITE, 200, op_remove_alias),
    Op("DELETE .../versions/{ref}", Role.ADMIN, 200, op_delete_version),
    Op("PATCH .../artifacts/{name}", Role.WRITE, 200, op_update_collection),
    Op("DELETE .../artifacts/{name}", Role.ADMIN, 200, op_delete_artifact),
    Op("GET /projects/{p}/audit", Role.ADMIN, 200, _get("/v1/projects/{project}/audit")),
    Op("POST /runs", Role.WRITE, 201, op_create_run),
    Op("GET /runs/{id}", Role.READ, 200, _get("/v1/runs/{run}")),
    Op("POST /runs/{id}/finish", Role.WRITE, 200, op_finish_run),
    Op("POST /runs/{id}/inputs", Role.WRITE, 200, op_add_input),
    Op("GET /runs/{id}/inputs", Role.READ, 200, _get("/v1/runs/{run}/inputs")),
    Op("GET /runs/{id}/outputs", Role.READ, 200, _get("/v1/runs/{run}/outputs")),
]
CASES = [
    pytest.param(op, who, where, id=f"{op.name}|{who}|{where}")
    for op in OPS
    for who in CALLERS
    for where in (("own", "other") if op.per_project else ("own",))
]


def expected_status(op: Op, who: str, where: str) -> int:
    if who == "anonymous":
        return 401
    rank = RANK[who]
    if op.name == "POST /packs":
        return op.ok if rank >= Role.WRITE else 403
    if op.name == "POST /runs" and rank < Role.WRITE:
        return 403  # no write grant anywhere: refused before the body (and its project) is read
    if op.name in ("POST /chunks/missing", "POST /chunks/locate") and rank == 0:
        return 403  # a key with no grant: refused before the body is read
    if op.need is None:
        return op.ok  # chunk queries and the project list answer everyone (filtered)
    if where == "other" or rank == 0:
        return 404  # no role: as if the project did not exist
    return op.ok if rank >= op.need else 403


def may_see(who: str, where: str) -> bool:
    return who in ("read", "write", "admin") and where == "own"


def test_the_matrix_has_every_case() -> None:
    # 25 project-scoped operations x 5 callers x 2 projects + 2 others x 5 callers.
    assert len(CASES) == 25 * 5 * 2 + 2 * 5 == 260


@pytest.mark.parametrize(("op", "who", "where"), CASES)
async def test_authorization_matrix(world: World, op: Op, who: str, where: str) -> None:
    status, body, headers = await op.send(world, who, where)
    want = expected_status(op, who, where)
    assert status == want, (op.name, who, where, body)
    if status >= 400:
        assert set(body) == {"code", "message", "request_id"}
        assert body["code"] == {401: "unauthenticated", 403: "forbidden"}.get(status, body["code"])
        assert "Traceback" not in body["message"]
    if status == 401:
        assert headers["WWW-Authenticate"] == 'Bearer realm="asyncart"'
    chunk = h(world.seeded[where].chunk)
    if op.name == "POST /chunks/missing" and status == 200:
        assert body["missing"] == ([] if may_see(who, where) else [chunk])
    if op.name == "POST /chunks/locate" and status == 200:
        assert (chunk in body["locations"]) == may_see(who, where)
    if op.name == "GET /projects" and status == 200:
        assert body["projects"] == ([] if who == "no-grant" else ["proj-a"])
    if op.name == "GET /packs/{pack}" and status == 206:
        assert body == world.seeded[where].chunk


async def test_a_hidden_project_answers_exactly_like_a_missing_one(world: World) -> None:
    """Same status, code and message (but for the name) for proj-b and for a project that
    does not exist, on every project route and for every caller without a role there."""
    for who in ("no-grant", "read", "write", "admin"):
        for tail in (
            "/artifacts",
            "/artifacts/data/versions",
            "/artifacts/data/versions/v0",
            "/artifacts/data/versions/v0/manifest",
            "/audit",
        ):
            hidden = await call(world, who, "GET", f"/v1/projects/proj-b{tail}")
            absent = await call(world, who, "GET", f"/v1/projects/proj-zz{tail}")
            assert hidden[0] == absent[0] == 404
            assert hidden[1]["code"] == absent[1]["code"]
            assert hidden[1]["message"].replace("proj-b", "X") == absent[1]["message"].replace(
                "proj-zz", "X"
            )
        run_b = world.seeded["other"].run_id
        hidden = await call(world, who, "GET", f"/v1/runs/{run_b}")
        absent = await call(world, who, "GET", "/v1/runs/0123456789ab")
        assert hidden[0] == absent[0] == 404
        assert hidden[1]["message"].replace(run_b, "X") == absent[1]["message"].replace(
            "0123456789ab", "X"
        )


async def test_lineage_and_run_lists_leave_out_hidden_projects(world: World) -> None:
    """A proj-a run that used data of both projects (made by a user who may read both):
    a proj-a reader sees only the proj-a input; proj-b's admin sees no proj-a consumer."""
    status, run, _ = await call(
        world,
        "bridge",
        "POST",
        "/v1/runs",
        json={"project": "proj-a", "job_type": "mix", "id": os.urandom(6).hex()},
    )
    assert status == 201
    both = run["id"]
    for project in ("proj-a", "proj-b"):
        status, _, _ = await call(
            world,
            "bridge",
            "POST",
            f"/v1/runs/{both}/inputs",
            json={"project": project, "name": "data", "ref": "v0"},
        )
        assert status == 200
    # proj-b's admin may not touch a proj-a run: it does not exist for it.
    status, _, _ = await call(
        world,
        world.owner["other"],
        "POST",
        f"/v1/runs/{both}/inputs",
        json={"project": "proj-b", "name": "data", "ref": "v0"},
    )
    assert status == 404
    status, body, _ = await call(world, "bridge", "GET", f"/v1/runs/{both}/inputs")
    assert [v["project"] for v in body["versions"]] == ["proj-a", "proj-b"]
    status, body, _ = await call(world, "read", "GET", f"/v1/runs/{both}/inputs")
    assert status == 200 and [v["project"] for v in body["versions"]] == ["proj-a"]
    consumers = "/v1/projects/proj-b/artifacts/data/versions/v0/consumers"
    status, body, _ = await call(world, "bridge", "GET", consumers)
    assert both in {r["id"] for r in body["runs"]}
    status, body, _ = await call(world, world.owner["other"], "GET", consumers)
    assert status == 200 and {r["project"] for r in body["runs"]} == {"proj-b"}


# -- existence oracles: ids of another project's things ---------------------------------------


def _reply_shape(reply: tuple[int, Any, dict[str, str]], *ids: str) -> tuple[int, Any]:
    """Status and body with the given ids (and run fields that always differ) masked."""
    status, body, _ = reply
    if isinstance(body, dict):  # fresh per answer: a run's id and start, a request id
        body = {k: v for k, v in body.items() if k not in ("id", "started_at", "request_id")}
    text = repr(body)
    for i in ids:
        text = text.replace(i, "X")
    return status, text


@pytest.mark.parametrize("who", ["write", "admin", "bridge"])
@pytest.mark.parametrize("taken", ["client id", "run id"])
async def test_creating_a_run_with_another_projects_run_id_reveals_nothing(
    world: World, who: str, taken: str
) -> None:
    """A run id used in proj-b, sent as the id of a new proj-a run, answers exactly like an
    id nobody used: 201, a run of the caller's project; proj-b's run is untouched."""
    other = world.seeded["other"]
    foreign = other.client_run_id if taken == "client id" else other.run_id
    fresh = os.urandom(6).hex() if taken == "client id" else os.urandom(12).hex()
    body = {"project": "proj-a", "job_type": "train", "name": None, "config": {}}
    clash = await call(world, who, "POST", "/v1/runs", json={**body, "id": foreign})
    unused = await call(world, who, "POST", "/v1/runs", json={**body, "id": fresh})
    assert clash[0] == unused[0] == 201, (clash, unused)
    assert _reply_shape(clash, foreign) == _reply_shape(unused, fresh)
    assert clash[1]["project"] == "proj-a" and clash[1]["id"] != other.run_id
    again = await call(world, who, "POST", "/v1/runs", json={**body, "id": foreign})
    assert again[0] == 201 and again[1]["id"] == clash[1]["id"]  # a retry finds the same run
    status, run_b, _ = await call(world, world.owner["other"], "GET", f"/v1/runs/{other.run_id}")
    assert status == 200 and run_b["project"] == "proj-b" and run_b["job_type"] == "train"


async def test_a_same_project_id_conflict_stays_visible(world: World) -> None:
    client_id = os.urandom(6).hex()
    body = {"project": "proj-a", "job_type": "train", "id": client_id}
    first = await call(world, "write", "POST", "/v1/runs", json=body)
    clash = await call(world, "write", "POST", "/v1/runs", json={**body, "job_type": "other"})
    assert (first[0], clash[0]) == (201, 409)


@pytest.mark.parametrize("who", ["write", "admin"])
async def test_foreign_run_ids_answer_like_missing_ones_everywhere(world: World, who: str) -> None:
    """Every route taking a run id, with proj-b's run and with an id nobody used."""
    foreign, absent = world.seeded["other"].run_id, "0123456789ab"
    commit = {"type": "dataset", "manifest": manifest_json(world.seeded["own"].chunk)}
    for method, tail, payload in [
        ("GET", "", None),
        ("POST", "/finish", {"status": "finished"}),
        ("POST", "/inputs", {"project": "proj-a", "name": "data", "ref": "best"}),
        ("GET", "/inputs", None),
        ("GET", "/outputs", None),
    ]:
        hidden = await call(world, who, method, f"/v1/runs/{foreign}{tail}", json=payload)
        missing = await call(world, who, method, f"/v1/runs/{absent}{tail}", json=payload)
        assert hidden[0] == missing[0] == 404, (tail, hidden, missing)
        assert _reply_shape(hidden, foreign) == _reply_shape(missing, absent)
    name = world.fresh("from-foreign-run")
    versions = _art("proj-a", name, "/versions")
    hidden = await call(world, who, "POST", versions, json={**commit, "run_id": foreign})
    missing = await call(world, who, "POST", versions, json={**commit, "run_id": absent})
    assert hidden[0] == missing[0] == 404, (hidden, missing)
    assert _reply_shape(hidden, foreign) == _reply_shape(missing, absent)


async def test_audit_log_records_who_did_what(world: World) -> None:
    name = await _victim(world, "own")
    await call(world, "read", "GET", _art("proj-a", name, "/versions/v0/manifest"))
    status, _, _ = await call(world, "admin", "DELETE", _art("proj-a", name))
    assert status == 200
    status, body, _ = await call(world, "admin", "GET", "/v1/projects/proj-a/audit?limit=1000")
    assert status == 200
    mine = [e for e in body["events"] if e["artifact"] == name]
    assert [(e["action"], e["user"]) for e in mine] == [
        ("delete", "admin"),
        ("pull", "read"),
        ("push", "admin"),
    ]
    assert all(e["project"] == "proj-a" for e in body["events"])
    assert mine[2]["version"] == "v0" and mine[2]["detail"]["aliases"] == ["latest"]
    assert mine[0]["request_id"]
    # Paging: the events before the newest one.
    newest = body["events"][0]["id"]
    status, page, _ = await call(
        world, "admin", "GET", f"/v1/projects/proj-a/audit?limit=2&before={newest}"
    )
    ids = [e["id"] for e in page["events"]]
    assert status == 200 and len(ids) == 2 and newest > ids[0] > ids[1]
    status, bad, _ = await call(world, "admin", "GET", "/v1/projects/proj-a/audit?limit=0")
    assert status == 400 and "limit" in bad["message"]


async def test_audit_log_records_collection_changes_and_deletions(world: World) -> None:
    """A collection's rename, retype, description and tags are audited as ``update`` (under
    the name it had); its deletion as ``delete``, naming the versions and aliases it took."""
    name = await _victim(world, "own")
    status, _, _ = await call(
        world, "admin", "PUT", _art("proj-a", name, "/aliases/keep"), json={"version": "v0"}
    )
    assert status == 200
    renamed = f"{name}-renamed"
    body = {"name": renamed, "type": "model", "description": "d", "tags_add": ["t1"]}
    status, answer, _ = await call(world, "write", "PATCH", _art("proj-a", name), json=body)
    assert status == 200
    assert (answer["name"], answer["type"], answer["description"], answer["tags"]) == (
        renamed,
        "model",
        "d",
        ["t1"],
    )
    status, _, _ = await call(world, "write", "DELETE", _art("proj-a", renamed))
    assert status == 403  # deleting needs admin, as deleting a version does
    status, _, _ = await call(
        world, "admin", "DELETE", _art("proj-a", renamed) + "?delete_aliases=true"
    )
    assert status == 200
    status, events, _ = await call(world, "admin", "GET", "/v1/projects/proj-a/audit?limit=1000")
    assert status == 200
    update = next(e for e in events["events"] if e["artifact"] == name and e["action"] == "update")
    assert update["user"] == "write" and update["version"] is None
    detail = update["detail"]
    assert (detail["changed"], detail["new_name"], detail["new_type"]) == (
        ["name", "type", "description"],
        renamed,
        "model",
    )
    assert (detail["tags_added"], detail["tags_removed"]) == (["t1"], [])
    deleted = next(e for e in events["events"] if e["artifact"] == renamed)
    assert (deleted["action"], deleted["user"]) == ("delete", "admin")
    assert deleted["detail"] == {"versions": ["v0"], "aliases": ["keep", "latest"]}


async def test_a_revoked_grant_takes_effect_on_the_next_request(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    accounts = await AccountStore.open_dir(root)
    try:
        await accounts.create_user("eve")
        await accounts.grant("eve", "p", Role.READ)
        _, key = await accounts.create_key("eve")
        with live_server(root) as server:
            w = World(server, {"eve": key}, owner={})
            assert (await call(w, "eve", "GET", "/v1/projects/p/artifacts"))[0] == 200
            await accounts.revoke_grant("eve", "p")
            assert (await call(w, "eve", "GET", "/v1/projects/p/artifacts"))[0] == 404
            await accounts.grant("eve", "*", Role.READ)
            assert (await call(w, "eve", "GET", "/v1/projects/p/artifacts"))[0] == 200
            assert (await call(w, "eve", "GET", "/v1/projects/other/artifacts"))[0] == 200
    finally:
        await accounts.close()
