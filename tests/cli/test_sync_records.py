"""``asyncart sync`` records its mapping at the destination and copies links, ttls and
collection fields: an offline store to a server, that server to another embedded store,
re-runs copying nothing; the access route refusing a read-only key before any byte
moves (and a server without it handled by the old probe); the progress bar on a
terminal only.

Every transfer to or from the server crosses the fault proxy, which counts requests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import asyncart
from asyncart.client.remote_factory import open_remote
from asyncart.config import Settings
from asyncart.core import protocol as P
from asyncart.core.models import CollectionInfo, VersionInfo
from asyncart.core.origins import VersionOrigin
from asyncart.repo.access import Role
from asyncart.repo.location import StoreLocation
from tests.support.accounts import users_with_keys
from tests.support.cli import run_cli, run_in_pty
from tests.support.fault_proxy import FaultProxy, running_fault_proxy
from tests.support.live_server import LiveServer, live_server
from tests.support.stores import run_sql

PROJECT = "offline"
PACKS = "/v1/packs"
DAY = 86_400


@pytest.fixture
def proxy(server: LiveServer) -> Iterator[FaultProxy]:
    with running_fault_proxy(server.url) as p:
        yield p


def offline_store() -> Path:
    return Path(os.environ["ASYNCART_DIR"])


def log_offline() -> None:
    """Two dataset versions from one run; v0 gets a ttl, v1 a link into a portfolio with
    an alias; both collections a description, the dataset tags."""
    run = asyncart.init(project=PROJECT, job_type="prepare", name="prep")
    for i in range(2):
        Path(f"{i}.bin").write_bytes(bytes([i]) * 20_000)
        art = asyncart.Artifact(name="data", type="dataset")
        art.add_file(f"{i}.bin")
        run.log_artifact(art)
    run.finish()
    api = asyncart.Api(url=None, project=PROJECT)
    try:
        v0 = api.artifact("data:v0")
        v0.ttl = timedelta(days=30)
        v0.save()
        api.artifact("data:v1").link(f"{PROJECT}/best-data", aliases=["prod"])
        for name, description in (("data", "raw rows"), ("best-data", "the chosen ones")):
            coll = api.artifact_collection("dataset", name)
            coll.description = description
            if name == "data":
                coll.tags = ["team-a"]
            coll.save()
    finally:
        api.close()


def sync(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = run_cli("sync", *args, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # not a terminal: no progress bar
    return dict(json.loads(proc.stdout))


@dataclasses.dataclass
class Seen:
    """What one store holds of the project, read through its Remote."""

    versions: list[VersionInfo]
    origins: list[VersionOrigin]
    links: list[VersionInfo]
    collections: dict[str, CollectionInfo]


def look(where: str, linked: str = "v1") -> Seen:
    base = Settings.from_env()
    if where.startswith("http"):
        settings = dataclasses.replace(base, url=where)
    else:
        settings = dataclasses.replace(base, url=None, store_dir=Path(where))

    async def read() -> Seen:
        remote = await open_remote(settings)
        try:
            return Seen(
                await remote.list_versions(PROJECT, "data"),
                await remote.list_origins(PROJECT, "data") or [],
                await remote.list_links(PROJECT, "data", linked),
                {c.name: c for c in await remote.list_collections(PROJECT)},
            )
        finally:
            await remote.close()

    return asyncio.run(read())


def audit_syncs(url: str) -> list[dict[str, Any]]:
    import urllib.request

    with urllib.request.urlopen(url + P.path(P.AUDIT, project=PROJECT)) as resp:
        events = json.load(resp)["events"]
    return [e for e in events if e["action"] == "sync"]


def assert_copied(src: Seen, dst: Seen, source_store: str) -> None:
    """``dst`` holds ``src``'s versions with their origins, ttl expiry, link and fields."""
    assert [v.digest for v in dst.versions] == [v.digest for v in src.versions]
    assert [(o.source_store, o.source_index, o.index, o.source_digest) for o in dst.origins] == [
        (source_store, v.index, v.index, v.digest) for v in src.versions
    ]
    s0, d0 = src.versions[0], dst.versions[0]
    assert s0.ttl is not None and d0.ttl is not None
    assert abs((s0.created_at + s0.ttl) - (d0.created_at + d0.ttl)) <= 1  # the same expiry
    assert dst.versions[1].ttl is None
    assert [(v.name, v.aliases) for v in dst.links] == [("best-data", ("latest", "prod"))]
    for name in ("data", "best-data"):
        assert dst.collections[name].description == src.collections[name].description
    assert dst.collections["data"].tags == ("team-a",)


def test_sync_records_the_mapping_and_copies_links_ttl_and_collection_fields_both_ways(
    tmp_path: Path, server: LiveServer, proxy: FaultProxy
) -> None:
    log_offline()
    store = offline_store()
    first = sync(str(store), proxy.url)
    assert [(v["source"], v["destination"], v["copied"]) for v in first["versions"]] == [
        ("v0", "v0", True),
        ("v1", "v1", True),
    ]
    assert [v["origin"]["source_store"] for v in first["versions"]] == [str(store.resolve())] * 2
    assert (first["links"], first["collections_updated"]) == (1, 2)
    origin_puts = proxy.count("PUT", "/v1/projects/")
    assert origin_puts == 2 and proxy.count("GET", P.path(P.ACCESS, project=PROJECT)) == 1
    offline, team = look(str(store)), look(server.url)
    assert_copied(offline, team, str(store.resolve()))
    assert [e["detail"]["source"] for e in audit_syncs(server.url)] == [
        f"{PROJECT}/data:v1",
        f"{PROJECT}/data:v0",
    ]

    listed = run_cli("ls", f"{PROJECT}/data", "--json", "--url", server.url)
    assert listed.returncode == 0, listed.stderr
    assert [[o["source_version"] for o in v["origins"]] for v in json.loads(listed.stdout)] == [
        ["v0"],
        ["v1"],
    ]

    # A re-run copies nothing and finds the mapping in the records (no record written).
    uploads = proxy.count("POST", PACKS)
    again = sync(str(store), proxy.url)
    assert [v["copied"] for v in again["versions"]] == [False, False]
    assert (again["bytes_sent"], again["links"], again["collections_updated"]) == (0, 0, 0)
    assert [v["origin"] for v in again["versions"]] == [v["origin"] for v in first["versions"]]
    assert proxy.count("POST", PACKS) == uploads and proxy.count("PUT", "/v1/projects/") == 2
    assert len(audit_syncs(server.url)) == 2

    # Versions synced before records existed: the digest derivation maps them, and the
    # re-run records them.
    asyncio.run(run_sql(StoreLocation.of(server.root).db, "DELETE FROM version_origins"))
    derived = sync(str(store), proxy.url)
    assert [(v["destination"], v["copied"]) for v in derived["versions"]] == [
        ("v0", False),
        ("v1", False),
    ]
    assert proxy.count("POST", PACKS) == uploads and proxy.count("PUT", "/v1/projects/") == 4
    assert len(look(server.url).origins) == 2

    # The server to another embedded store: the same records there, naming the server.
    copy = tmp_path / "copy"
    back = sync(proxy.url, str(copy), f"{PROJECT}/data")
    assert [(v["destination"], v["copied"]) for v in back["versions"]] == [
        ("v0", True),
        ("v1", True),
    ]
    assert back["links"] == 1
    assert_copied(look(server.url), look(str(copy)), proxy.url)
    rows = run_cli("ls", f"{PROJECT}/data", env={"ASYNCART_DIR": str(copy)}).stdout.splitlines()
    assert [r.split("\t")[-1] for r in rows] == [
        f"{PROJECT}/data:v{i} ({proxy.url})" for i in range(2)
    ]
    api = asyncart.Api(url=server.url, project=PROJECT)
    try:
        assert [(o.index, o.source_index) for o in api.origins("data")] == [(0, 0), (1, 1)]
    finally:
        api.close()
    reads = proxy.bytes_sent("GET", PACKS)
    rerun = sync(proxy.url, str(copy), f"{PROJECT}/data")
    assert [v["copied"] for v in rerun["versions"]] == [False, False] and rerun["links"] == 0
    assert proxy.bytes_sent("GET", PACKS) == reads  # not one pack byte read again


def test_selecting_a_portfolio_copies_the_versions_it_links(server: LiveServer) -> None:
    log_offline()
    report = sync(str(offline_store()), server.url, f"{PROJECT}/best-data")
    assert [(v["name"], v["source"], v["destination"]) for v in report["versions"]] == [
        ("data", "v1", "v0")
    ]
    seen = look(server.url, linked="v0")
    assert [(v.name, v.aliases) for v in seen.links] == [("best-data", ("latest", "prod"))]


def test_a_read_only_key_is_refused_by_the_access_route_before_any_byte_moves(
    tmp_path: Path,
) -> None:
    log_offline()
    root = tmp_path / "team"
    root.mkdir()
    grants = {"reader": [(PROJECT, Role.READ)], "stranger": [("other", Role.WRITE)]}
    keys = asyncio.run(users_with_keys(root, grants))
    with live_server(root) as team, running_fault_proxy(team.url) as proxy:
        for user, says in (
            ("reader", "user 'reader' has read access; sync needs write access"),
            ("stranger", f"project {PROJECT!r} does not exist there or this key has no access"),
        ):
            proc = run_cli(
                "sync", str(offline_store()), proxy.url, env={"ASYNCART_API_KEY": keys[user]}
            )
            assert proc.returncode != 0
            assert says in proc.stderr and "nothing was copied" in proc.stderr, proc.stderr
            assert "Traceback" not in proc.stderr
        assert proxy.count("GET", P.path(P.ACCESS, project=PROJECT)) == 2
        assert proxy.count("POST", PACKS) == 0 and proxy.count("POST", "/v1/chunks") == 0
        assert proxy.count("PATCH") == 0 and proxy.count("PUT") == 0  # no probe, no write


def test_a_server_without_the_access_route_gets_the_old_write_probe(
    server: LiveServer, proxy: FaultProxy
) -> None:
    log_offline()
    access = P.path(P.ACCESS, project=PROJECT)
    origins = P.path(P.ORIGINS, project=PROJECT, name="data")
    for method, path in (("GET", access), ("PUT", "/v1/projects/"), ("GET", origins)):
        proxy.answer(404, method=method, path=path, code="http_error", times=99)
    report = sync(str(offline_store()), proxy.url)
    assert [v["copied"] for v in report["versions"]] == [True, True]
    assert [v["origin"] for v in report["versions"]] == [None, None]  # nowhere to record
    probe = P.path(P.COLLECTION, project=PROJECT, name="asyncart-sync-write-check")
    assert proxy.count("PATCH", probe) == 1
    again = sync(str(offline_store()), proxy.url)
    assert [v["copied"] for v in again["versions"]] == [False, False]  # the derivation


def test_sync_shows_progress_on_a_terminal_and_not_with_quiet(server: LiveServer) -> None:
    log_offline()
    cli = [sys.executable, "-m", "asyncart", "sync", str(offline_store()), server.url]
    code, out = run_in_pty(cli)
    assert code == 0, out
    assert "sync 2 files" in out and "━" in out, out
    assert "2 of 2 version(s) copied" in out
    code, out = run_in_pty([*cli, "-q"])
    assert code == 0, out
    assert "━" not in out and "version(s) copied" not in out, out
    assert "offline/data:v0 -> v0  present" in out  # the mapping is still printed


