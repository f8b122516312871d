"""Project quotas on deduplicated bytes (issue 21, docs/quotas.md), end to end: a real
server, the quota set with the ``asyncart server admin quota`` subprocess, real pushes."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

import asyncart
from asyncart.core import protocol as P
from asyncart.core.manifest import Manifest
from asyncart.errors import QuotaExceeded
from tests.server.test_http_api import SPEC, entry_for, error_of, upload
from tests.support.cli import run_cli
from tests.support.fault_proxy import running_fault_proxy
from tests.support.live_server import LiveServer
from tests.support.stores import data as random_bytes

PROJECT = "quota"


def admin(root: Path, *args: str) -> str:
    proc = run_cli("server", "admin", "quota", PROJECT, *args, "--root", str(root))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def push(name: str, data: bytes) -> None:
    Path(f"{name}.bin").write_bytes(data)
    with asyncart.init(job_type="t", project=PROJECT) as run:
        artifact = asyncart.Artifact(name, "dataset")
        artifact.add_file(f"{name}.bin")
        run.log_artifact(artifact).wait()


def test_the_admin_command_sets_shows_and_clears(server: LiveServer) -> None:
    assert "no quota" in admin(server.root)
    assert "quota" in admin(server.root, "10KB")
    shown = json.loads(admin(server.root, "--json"))
    assert shown == {
        "project": PROJECT,
        "quota_bytes": 10_000,
        "stored_bytes": 0,
        "pending_bytes": 0,
    }
    assert "quota removed" in admin(server.root, "--clear")
    assert json.loads(admin(server.root, "--json"))["quota_bytes"] is None
    audit = run_cli(
        "server", "admin", "audit", "--project", PROJECT, "--json", "--root", str(server.root)
    )
    events = [json.loads(line) for line in audit.stdout.splitlines()]
    assert [(e["action"], e["detail"]["quota_bytes"]) for e in events] == [
        ("quota", None),  # newest first; showing the quota recorded nothing
        ("quota", 10_000),
    ], audit.stdout + audit.stderr
    assert events[0]["detail"]["had_quota"] is True
    assert events[0]["detail"]["via"] == "asyncart server admin"


def test_a_push_over_quota_is_refused_before_a_pack_byte_is_sent(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin(server.root, "6000")
    with running_fault_proxy(server.url) as proxy:
        monkeypatch.setenv("ASYNCART_URL", proxy.url)
        push("a", b"a" * 4000)  # under the quota
        assert proxy.count("POST", "/v1/packs") == 1
        with pytest.raises(QuotaExceeded) as refused:
            push("c", b"c" * 3000)
        assert proxy.count("POST", "/v1/packs") == 1  # the pre-flight refused it
        assert proxy.count("POST", "/v1/projects") <= 1
    message = str(refused.value)
    assert "over its quota" in message and "a:v0" in message, message
    monkeypatch.setenv("ASYNCART_URL", server.url)
    Path("c.bin").write_bytes(b"c" * 3000)
    cli = run_cli("push", "c.bin", "--name", "c", "--type", "t", "--project", PROJECT)
    assert cli.returncode != 0 and "over its quota" in cli.stderr, cli.stdout + cli.stderr
    assert len(cli.stderr.strip().splitlines()) == 1, cli.stderr
    push("d", b"a" * 4000)  # only dedups: nothing new, fine even at the quota
    usage = json.loads(admin(server.root, "--json"))
    assert usage["quota_bytes"] == 6000 and usage["stored_bytes"] <= 6000
    seen = asyncart.Api(url=server.url).storage(PROJECT)  # a reader's view, from the route
    assert (seen.quota_bytes, seen.usage_bytes) == (6000, usage["stored_bytes"])
    with running_fault_proxy(server.url) as older:  # a server without the quota route
        older.answer(404, method="GET", path=P.path(P.QUOTA, project=PROJECT))
        seen = asyncart.Api(url=older.url).storage(PROJECT)
        assert (seen.quota_bytes, seen.usage_bytes, seen.project) == (None, None, PROJECT)
        assert older.count("GET", P.path(P.QUOTA, project=PROJECT)) == 1


async def test_the_server_refuses_a_commit_over_quota_without_the_pre_flight(
    server: LiveServer,
) -> None:
    """A client that skips the pre-flight and uploads its packs for another project (one
    without a quota, docs/quotas.md): the packs go up, the commit is refused."""
    admin(server.root, "3000")
    async with aiohttp.ClientSession(base_url=server.url) as http:
        entries = []
        for name in ("a", "b"):
            data = random_bytes(name, 2000)
            entry, chunks = entry_for(f"{name}.bin", data)
            await upload(http, chunks, project="unlimited")
            entries.append(entry)
        one = Manifest(entries=(entries[0],), chunker=SPEC).to_json()
        both = Manifest(entries=tuple(entries), chunker=SPEC).to_json()
        url = P.path(P.VERSIONS, project=PROJECT, name="x")
        async with http.post(url, json={"type": "dataset", "manifest": one}) as resp:
            assert resp.status == 201, await resp.text()
        async with http.post(url, json={"type": "dataset", "manifest": both}) as resp:
            body = await error_of(resp, 403, "quota_exceeded")
        assert "x:v0" in body["message"] and "quota" in body["message"], body
        async with http.get(P.path(P.QUOTA, project=PROJECT)) as resp:
            assert await resp.json() == {
                "project": PROJECT,
                "quota_bytes": 3000,
                "stored_bytes": 2000,
                "pending_bytes": 0,
            }
        async with http.get(P.path(P.QUOTA, project=PROJECT), params={"new_bytes": "1001"}) as r:
            await error_of(r, 403, "quota_exceeded")
