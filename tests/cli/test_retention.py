"""``asyncart retention set|show|clear`` and retention applied by ``asyncart gc`` (embedded
store) and ``asyncart server gc`` (a real server's store while it serves), as real
subprocesses: the dry run changes nothing and names what the real run then frees on
disk; protected versions stay; ttl expiry (its time injected through the version's
``created_at``, never waited for); audit rows; the routes' roles and hostile bodies."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import asyncart
from asyncart.repo.access import Role
from tests.support.accounts import users_with_keys
from tests.support.cli import run_cli
from tests.support.live_server import live_server
from tests.support.stores import pack_files, run_sql

NAME = "ck"


def ok(*args: str, env: dict[str, str] | None = None) -> str:
    proc = run_cli(*args, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def push_versions(count: int, project: str, aliases: dict[int, list[str]] | None = None) -> None:
    """``count`` versions of NAME, 3000+ bytes of their own each (in this process: the
    commands under test are retention and gc)."""
    with asyncart.init(job_type="seed", project=project) as run:
        for i in range(count):
            Path("m.bin").write_bytes(bytes([i]) * 3000 + b"x" * 64)
            artifact = asyncart.Artifact(NAME, "model")
            artifact.add_file("m.bin")
            run.log_artifact(artifact, aliases=(aliases or {}).get(i, [])).wait()


def disk(root: Path) -> int:
    return sum(p.stat().st_size for p in pack_files(root))


def versions(root: Path) -> list[str]:
    sql = "SELECT idx FROM versions ORDER BY idx"
    return [f"v{r.idx}" for r in asyncio.run(run_sql(f"sqlite:///{root / 'meta.db'}", sql))]


def gc_json(*args: str) -> dict[str, Any]:
    return json.loads(ok(*args, "--grace", "0", "--json"))


def test_embedded_policy_ttl_dry_run_and_gc(tmp_path: Path) -> None:
    root = tmp_path / "embedded-store"
    push_versions(5, "default", {0: ["best"]})
    ok("retention", "set", NAME, "--keep-last", "2", "--max-age", "30d")
    shown = json.loads(ok("retention", "show", NAME, "--json"))
    assert shown["policy"] == {"keep_last": 2, "max_age": 30 * 86400, "keep_aliased": True}
    # v1 and v2 are a year old; v2 also has a ttl (W&B's artifact.ttl) and v3 an expired one
    db = f"sqlite:///{root / 'meta.db'}"
    asyncio.run(
        run_sql(db, "UPDATE versions SET created_at = created_at - 3e7 WHERE idx IN (1, 2)")
    )
    asyncio.run(run_sql(db, "UPDATE versions SET ttl_seconds = 60 WHERE idx = 3"))
    asyncio.run(run_sql(db, "UPDATE versions SET created_at = created_at - 61 WHERE idx = 3"))
    before, listed = disk(root), versions(root)

    dry = gc_json("gc", "--dry-run")

    gone = {v["version"]: v for v in dry["retention"]["versions"]}
    assert sorted(gone) == [f"default/{NAME}:v{i}" for i in (1, 2, 3)]
    assert gone[f"default/{NAME}:v3"]["reason"] == "ttl"
    assert all(v["unshared_bytes"] > 3000 for v in gone.values())
    assert (disk(root), versions(root)) == (before, listed)

    real = gc_json("gc")

    assert versions(root) == ["v0", "v4"]  # v0: aliased; v4: the newest
    assert real["deleted_bytes"] == dry["deleted_bytes"] == before - disk(root) > 9000
    events = [
        json.loads(line)
        for line in ok("server", "admin", "audit", "--root", str(root), "--json").splitlines()
    ]
    deleted = sorted(e["version"] for e in events if e["action"] == "delete")
    assert deleted == ["v1", "v2", "v3"]
    assert {e["detail"]["reason"] for e in events if e["action"] == "delete"} == {"retention"}

    assert "cleared" in ok("retention", "clear", NAME)
    refused = run_cli("retention", "set", NAME, "--keep-last", "0")
    assert refused.returncode == 1 and "keep_last" in refused.stderr


def put(url: str, key: str, body: object) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize(
    "body",
    [
        {"keep_last": -1},
        {"keep_last": 0},
        {"max_age": 10**12},
        {"max_age": "30d"},
        {"keep_last": 2, "keep_old": True},
        {},
        [],
    ],
)
def test_hostile_bodies_are_refused(body: object, served: dict[str, Any]) -> None:
    status, answer = put(served["route"], served["keys"]["owner"], body)
    assert status == 400, answer


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("retention-server") / "store"
    root.mkdir()
    grants = {
        "owner": [("p", Role.ADMIN)],
        "writer": [("p", Role.WRITE)],
        "reader": [("p", Role.READ)],
    }
    keys = asyncio.run(users_with_keys(root, grants))
    with live_server(root) as server:
        env = {
            "ASYNCART_URL": server.url,
            "ASYNCART_API_KEY": keys["owner"],
            "ASYNCART_PROJECT": "p",
        }
        yield {
            "root": root,
            "server": server,
            "keys": keys,
            "env": env,
            "route": f"{server.url}/v1/projects/p/artifacts/{NAME}/retention",
        }


def test_server_roles_and_server_gc(
    served: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    env, keys, root = served["env"], served["keys"], served["root"]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    push_versions(3, "p")
    as_writer = {**env, "ASYNCART_API_KEY": keys["writer"]}
    refused = run_cli("retention", "set", NAME, "--keep-last", "1", env=as_writer)
    assert refused.returncode == 1 and "admin" in refused.stderr, refused.stderr
    ok("retention", "set", NAME, "--keep-last", "1", "--no-keep-aliased", env=env)
    as_reader = {**env, "ASYNCART_API_KEY": keys["reader"]}
    shown = json.loads(ok("retention", "show", NAME, "--json", env=as_reader))
    assert shown["policy"] == {"keep_last": 1, "max_age": None, "keep_aliased": False}
    before = disk(root)

    dry = gc_json("server", "gc", "--root", str(root), "--dry-run")
    assert [v["version"] for v in dry["retention"]["versions"]] == ["p/ck:v0", "p/ck:v1"]
    assert (disk(root), versions(root)) == (before, ["v0", "v1", "v2"])

    real = gc_json("server", "gc", "--root", str(root))

    assert versions(root) == ["v2"]
    assert real["deleted_bytes"] == dry["deleted_bytes"] == before - disk(root) > 6000
    events = json.loads(
        ok(
            "server", "admin", "audit", "--root", str(root), "--json", "--action", "update"
        ).splitlines()[0]
    )
    assert events["detail"]["retention"]["keep_last"] == 1 and events["user"] == "owner"
