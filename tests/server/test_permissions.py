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

import base64
import itertools
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from asyncart.core.artifact_uris import version_id_for
from asyncart.repo.access import Role
from tests.support.packs import h, pack_body
from tests.support.permission_world import (
    CALLERS,
    PROJECT,
    RANK,
    World,
    art_path,
    call,
    manifest_json,
    seeded_world,
    victim,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from seeded_world(tmp_path_factory)


# -- the operations ------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One endpoint: how to call it on a project, what role it needs, what success is."""

    name: str
    need: Role | None  # None: no project role (any authenticated caller)
    ok: int
    send: Callable[[World, str, str], Awaitable[tuple[int, Any, dict[str, str]]]]
    per_project: bool = True


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


async def op_put_pack_for(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    """A pack upload naming the project it is for: write access to that project."""
    path = f"/v1/packs?project={PROJECT[where]}"
    return await call(w, who, "POST", path, data=pack_body([os.urandom(500)])[1])


async def op_direct_upload_for(
    w: World, who: str, where: str
) -> tuple[int, Any, dict[str, str]]:
    header = base64.b64encode(pack_body([os.urandom(500)])[0].encode()).decode()
    path = f"/v1/packs/direct?project={PROJECT[where]}"
    return await call(w, who, "POST", path, json={"header": header})


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
        art_path(PROJECT[where], w.fresh("copy"), "/versions"),
        json={"type": "dataset", "manifest": manifest_json(w.seeded[where].chunk)},
    )


async def op_upsert_pending(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    return await call(
        w,
        who,
        "POST",
        art_path(PROJECT[where], w.fresh("ddp"), "/pending?distributed_id=job-1"),
        json={"type": "dataset", "manifest": manifest_json(w.seeded[where].chunk)},
    )


async def op_finish_pending(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    return await call(
        w,
        who,
        "POST",
        art_path(PROJECT[where], w.fresh("ddp"), "/pending/finish?distributed_id=job-1"),
        json={"type": "dataset", "manifest": manifest_json(w.seeded[where].chunk)},
    )


async def op_delete_version(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    name = await victim(w, where)
    return await call(w, who, "DELETE", art_path(PROJECT[where], name, "/versions/v0"))


async def op_delete_artifact(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    name = await victim(w, where)
    return await call(w, who, "DELETE", art_path(PROJECT[where], name))


async def op_update_version(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    return await call(
        w,
        who,
        "PATCH",
        art_path(PROJECT[where], "data", "/versions/v0"),
        json={"tags_add": ["seen"]},
    )


async def op_update_collection(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    """A fresh artifact (made by the project's admin) renamed, described and tagged."""
    name = await victim(w, where)
    body = {"name": f"{name}-renamed", "description": "seen", "tags_add": ["seen"]}
    return await call(w, who, "PATCH", art_path(PROJECT[where], name), json=body)


async def op_set_retention(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    body = {"keep_last": 5, "max_age": 86400}
    return await call(w, who, "PUT", art_path(PROJECT[where], "data", "/retention"), json=body)


async def op_clear_retention(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    return await call(w, who, "DELETE", art_path(PROJECT[where], "data", "/retention"))


async def op_set_alias(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    alias = w.fresh("pinned")
    return await call(
        w, who, "PUT", art_path(PROJECT[where], "data", f"/aliases/{alias}"), json={"version": "v0"}
    )


async def op_remove_alias(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    """An alias made by the project's admin, removed by the caller."""
    path = art_path(PROJECT[where], "data", f"/aliases/{w.fresh('doomed')}")
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


async def op_set_run_config(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    run_id = w.seeded[where].run_id
    return await call(w, who, "PUT", f"/v1/runs/{run_id}/config", json={"config": {"lr": 1}})


async def op_version_by_id(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    return await call(w, who, "GET", f"/v1/version-ids/{version_id_for(PROJECT[where], 'data', 0)}")


async def op_add_input(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    return await call(
        w,
        who,
        "POST",
        f"/v1/runs/{w.seeded[where].run_id}/inputs",
        json={"project": PROJECT[where], "name": "data", "ref": "best"},
    )


_ORIGINS = itertools.count()


async def op_record_origin(w: World, who: str, where: str) -> tuple[int, Any, dict[str, str]]:
    """A new origin each call (a repeated one answers 200)."""
    body = {
        "source_store": "/offline/store",
        "source_project": "offline",
        "source_name": "data",
        "source_index": next(_ORIGINS),
        "source_digest": "0" * 64,
    }
    return await call(
        w, who, "PUT", art_path(PROJECT[where], "data", "/versions/v0/origin"), json=body
    )


V = "/v1/projects/{project}/artifacts/data/versions"
OPS = [
    Op("POST /chunks/missing", None, 200, op_missing),
    Op("POST /chunks/locate", None, 200, op_locate),
    Op("GET /packs/{pack}", Role.READ, 206, op_get_pack),
    Op("POST /packs", None, 201, op_put_pack, per_project=False),
    Op("POST /packs?project=", Role.WRITE, 201, op_put_pack_for),
    Op("POST /packs/direct?project=", Role.WRITE, 200, op_direct_upload_for),
    Op("GET /projects", None, 200, op_projects, per_project=False),
    Op("GET /projects/{p}/artifacts", Role.READ, 200, _get("/v1/projects/{project}/artifacts")),
    Op("GET .../versions", Role.READ, 200, _get(V)),
    Op("POST .../versions", Role.WRITE, 201, op_commit),
    Op("POST .../pending", Role.WRITE, 200, op_upsert_pending),
    Op("POST .../pending/finish", Role.WRITE, 201, op_finish_pending),
    Op("GET .../versions/{ref}", Role.READ, 200, _get(V + "/best")),
    Op("GET /version-ids/{id}", Role.READ, 200, op_version_by_id),
    Op("GET .../manifest", Role.READ, 200, _get(V + "/best/manifest")),
    Op("GET .../consumers", Role.READ, 200, _get(V + "/v0/consumers")),
    Op("GET .../producers", Role.READ, 200, _get(V + "/v0/producers")),
    Op("PATCH .../versions/{ref}", Role.WRITE, 200, op_update_version),
    Op("PUT .../aliases/{alias}", Role.WRITE, 200, op_set_alias),
    Op("DELETE .../aliases/{alias}", Role.WRITE, 200, op_remove_alias),
    Op("DELETE .../versions/{ref}", Role.ADMIN, 200, op_delete_version),
    Op("PATCH .../artifacts/{name}", Role.WRITE, 200, op_update_collection),
    Op("DELETE .../artifacts/{name}", Role.ADMIN, 200, op_delete_artifact),
    Op(
        "GET .../retention", Role.READ, 200, _get("/v1/projects/{project}/artifacts/data/retention")
    ),
    Op("PUT .../retention", Role.ADMIN, 200, op_set_retention),
    Op("DELETE .../retention", Role.ADMIN, 200, op_clear_retention),
    Op("GET /projects/{p}/quota", Role.READ, 200, _get("/v1/projects/{project}/quota")),
    Op("GET /projects/{p}/audit", Role.ADMIN, 200, _get("/v1/projects/{project}/audit")),
    Op("GET /projects/{p}/access", Role.READ, 200, _get("/v1/projects/{project}/access")),
    Op("PUT .../versions/{ref}/origin", Role.WRITE, 201, op_record_origin),
    Op(
        "GET .../artifacts/{name}/origins",
        Role.READ,
        200,
        _get("/v1/projects/{project}/artifacts/data/origins"),
    ),
    Op("POST /runs", Role.WRITE, 201, op_create_run),
    Op("GET /runs/{id}", Role.READ, 200, _get("/v1/runs/{run}")),
    Op("PUT /runs/{id}/config", Role.WRITE, 200, op_set_run_config),  # before the finish
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
    # 36 project-scoped operations x 5 callers x 2 projects + 2 others x 5 callers.
    assert len(CASES) == 36 * 5 * 2 + 2 * 5 == 370


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
            "/artifacts/data/origins",
            "/access",
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
