"""Permissions beyond the endpoint matrix: ids of another project's things reveal
nothing (existence oracles), the audit log records who did what, and a revoked grant
takes effect on the next request. The world is ``tests/support/permission_world.py``'s.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from asyncart.repo.access import Role
from asyncart.repo.accounts import AccountStore
from tests.support.live_server import live_server
from tests.support.permission_world import (
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
    versions = art_path("proj-a", name, "/versions")
    hidden = await call(world, who, "POST", versions, json={**commit, "run_id": foreign})
    missing = await call(world, who, "POST", versions, json={**commit, "run_id": absent})
    assert hidden[0] == missing[0] == 404, (hidden, missing)
    assert _reply_shape(hidden, foreign) == _reply_shape(missing, absent)


async def test_audit_log_records_who_did_what(world: World) -> None:
    name = await victim(world, "own")
    await call(world, "read", "GET", art_path("proj-a", name, "/versions/v0/manifest"))
    status, _, _ = await call(world, "admin", "DELETE", art_path("proj-a", name))
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
    name = await victim(world, "own")
    status, _, _ = await call(
        world, "admin", "PUT", art_path("proj-a", name, "/aliases/keep"), json={"version": "v0"}
    )
    assert status == 200
    renamed = f"{name}-renamed"
    body = {"name": renamed, "type": "model", "description": "d", "tags_add": ["t1"]}
    status, answer, _ = await call(world, "write", "PATCH", art_path("proj-a", name), json=body)
    assert status == 200
    assert (answer["name"], answer["type"], answer["description"], answer["tags"]) == (
        renamed,
        "model",
        "d",
        ["t1"],
    )
    status, _, _ = await call(world, "write", "DELETE", art_path("proj-a", renamed))
    assert status == 403  # deleting needs admin, as deleting a version does
    status, _, _ = await call(
        world, "admin", "DELETE", art_path("proj-a", renamed) + "?delete_aliases=true"
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
