"""Users and API keys: the admin CLI, the server's enforcement, and the client's key.

Real subprocesses throughout: the admin commands and ``asyncart login`` run as CLI
processes, the server is an ``asyncart server`` process on 127.0.0.1, and the SDK talks
to it over HTTP.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
from contextlib import closing
from pathlib import Path

import aiohttp
import pytest

import asyncart
from asyncart import aio
from asyncart.repo.accounts import AccountStore, hash_api_key
from asyncart.server.auth import check_bind, is_loopback
from tests.support.cli import run_cli
from tests.support.live_server import live_server


def ok(*args: str, **kw: str) -> subprocess.CompletedProcess[str]:
    proc = run_cli(*args, **kw)  # type: ignore[arg-type]
    assert proc.returncode == 0, proc.stderr
    return proc


def make_key(
    root: Path, user: str = "alice", label: str | None = None, grant: str | None = "*:write"
) -> str:
    """Create ``user`` (if new) with role ``grant`` ("project:role", e.g. every project's
    write by default) and a key for it with the admin CLI; returns the key."""
    run_cli("server", "admin", "create-user", user, "--root", str(root), "--init")
    if grant is not None:
        project, role = grant.rsplit(":", 1)
        ok("server", "admin", "grant", user, project, role, "--root", str(root))
    extra = [] if label is None else ["--label", label]
    proc = ok("server", "admin", "create-key", user, "--root", str(root), *extra)
    key = proc.stdout.strip()
    assert key.startswith("acart_") and len(key) > 40
    assert key not in proc.stderr
    return key


async def get(url: str, key: str | None = None, header: str | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    headers = {}
    if header is not None:
        headers["Authorization"] = header
    elif key is not None:
        headers["Authorization"] = f"Bearer {key}"
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        return resp.status, await resp.json()


def test_loopback_rule() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert is_loopback("127.0.0.2") and is_loopback("[::1]")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert not is_loopback("::") and not is_loopback("example.com")
    check_bind("127.0.0.1", has_users=False, insecure_anonymous=False)
    check_bind("0.0.0.0", has_users=True, insecure_anonymous=False)
    check_bind("0.0.0.0", has_users=False, insecure_anonymous=True)
    with pytest.raises(asyncart.ConfigError, match="--insecure-anonymous"):
        check_bind("0.0.0.0", has_users=False, insecure_anonymous=False)


async def test_account_store_keeps_only_hashes(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    accounts = await AccountStore.open_dir(root)
    try:
        assert not await accounts.has_users()
        await accounts.create_user("alice")
        assert await accounts.has_users()
        info, key = await accounts.create_key("alice", "laptop")
        assert await accounts.authenticate(key) == "alice"
        assert await accounts.authenticate(key + "x") is None
        assert await accounts.authenticate("not-a-key") is None
        await accounts.revoke_key(info.id)
        assert await accounts.authenticate(key) is None
        assert (await accounts.list_keys())[0].revoked
        with pytest.raises(asyncart.NotFoundError):
            await accounts.create_key("bob")
    finally:
        await accounts.close()
    raw = (root / "meta.db").read_bytes()
    assert key.encode() not in raw
    with closing(sqlite3.connect(root / "meta.db")) as db:
        (stored,) = db.execute("SELECT key_hash FROM api_keys").fetchone()
    assert stored == hash_api_key(key)


async def test_server_needs_a_valid_key_once_the_store_has_a_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "server-store"
    key = make_key(root, label="ci")
    with live_server(root) as srv:
        projects = f"{srv.url}/v1/projects"
        assert (await get(f"{srv.url}/v1/health"))[0] == 200
        assert (await get(f"{srv.url}/openapi.json"))[0] == 200
        for status, body in [
            await get(projects),
            await get(projects, "acart_" + "A" * 43),
            await get(projects, header=f"Basic {key}"),
            await get(f"{srv.url}/v1/no/such/route"),
        ]:
            assert status == 401
            assert body["code"] == "unauthenticated"
            assert set(body) == {"code", "message", "request_id"}
            assert "Traceback" not in body["message"]
        assert await get(projects, key) == (200, {"projects": [], "next": None})

        # The SDK with ASYNCART_API_KEY: push and pull.
        monkeypatch.setenv("ASYNCART_URL", srv.url)
        monkeypatch.setenv("ASYNCART_API_KEY", key)
        Path("model.bin").write_bytes(os.urandom(300_000))
        async with await aio.init(job_type="train") as run:
            art = aio.Artifact("model", type="model")
            art.add_file("model.bin")
            await run.log_artifact(art)
        async with aio.Api() as api:
            got = await api.artifact("model:latest")
            out = await got.download("out")
        assert Path(out, "model.bin").read_bytes() == Path("model.bin").read_bytes()

        # A wrong key: AuthError, and the key is in no message.
        monkeypatch.setenv("ASYNCART_API_KEY", key[:-4] + "AAAA")
        with pytest.raises(asyncart.AuthError, match="unknown or revoked") as caught:
            async with aio.Api() as api:
                await api.artifact("model:latest")
        assert key[:-4] not in str(caught.value)

        # Revoked with the CLI while the server runs: refused at once.
        listed = ok("server", "admin", "list-keys", "--root", str(root)).stdout
        assert listed.split() == ["1", "alice", "active", "ci"]
        ok("server", "admin", "revoke-key", "1", "--root", str(root))
        assert "revoked" in ok("server", "admin", "list-keys", "--root", str(root)).stdout
        status, body = await get(projects, key)
        assert (status, body["code"]) == (401, "unauthenticated")
        proc = run_cli("ls", "--url", srv.url, env={"ASYNCART_API_KEY": key})
        assert proc.returncode == 1 and "unknown or revoked" in proc.stderr
        assert key not in proc.stderr + proc.stdout
    assert key not in "".join(srv.log)


def test_login_writes_a_private_file_and_the_client_uses_it(tmp_path: Path) -> None:
    root = tmp_path / "server-store"
    key = make_key(root)
    config = tmp_path / "cfg"
    env = {"XDG_CONFIG_HOME": str(config)}
    with live_server(root) as srv:
        denied = run_cli("ls", "--url", srv.url, env=env)
        assert denied.returncode == 1 and "needs an API key" in denied.stderr
        proc = ok("login", "--url", srv.url + "/", "--key-stdin", env=env, stdin=key + "\n")
        assert key not in proc.stdout + proc.stderr
        path = config / "asyncart" / "credentials.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert [p.name for p in path.parent.iterdir()] == ["credentials.json"]
        listed = ok("ls", "--url", srv.url, env=env)
        assert key not in listed.stdout + listed.stderr
        # ASYNCART_API_KEY wins over the stored key.
        wrong = run_cli("ls", "--url", srv.url, env={**env, "ASYNCART_API_KEY": "acart_nope"})
        assert wrong.returncode == 1 and "acart_nope" not in wrong.stderr


def test_no_users_on_a_public_address_refuses_to_start(tmp_path: Path) -> None:
    root = tmp_path / "store"
    proc = run_cli("server", "--root", str(root), "--init", "--host", "0.0.0.0", "--port", "0")
    assert proc.returncode == 1
    assert proc.stderr.startswith("asyncart: error: refusing to serve a store without users")
    assert "--insecure-anonymous" in proc.stderr and len(proc.stderr.splitlines()) == 1
    # Explicitly insecure: it starts (and is stopped at once).
    with live_server(root, extra_args=["--host", "0.0.0.0", "--insecure-anonymous"]) as srv:
        assert "0.0.0.0" in srv.url


def test_grants_and_the_audit_log_from_the_admin_cli(tmp_path: Path) -> None:
    """grant / list-grants / revoke and audit, as CLI subprocesses against a live server."""
    root = tmp_path / "server-store"
    key = make_key(root, user="dana", grant="vision:write")
    listed = json.loads(ok("server", "admin", "list-grants", "--json", "--root", str(root)).stdout)
    assert [(g["user"], g["project"], g["role"]) for g in listed] == [("dana", "vision", "write")]
    bad = run_cli("server", "admin", "grant", "nobody", "vision", "read", "--root", str(root))
    assert bad.returncode == 1 and "no user 'nobody'" in bad.stderr
    Path("w.bin").write_bytes(os.urandom(50_000))
    env = {"ASYNCART_API_KEY": key}
    with live_server(root) as srv:
        push = ("push", "w.bin", "--name", "w", "--type", "model", "--url", srv.url)
        ok(*push, "--project", "vision", env=env)
        ok("pull", "w:latest", "--project", "vision", "--url", srv.url, "-o", "out", env=env)
        refused = run_cli(*push, "--project", "other", env=env)
        assert refused.returncode == 1 and "no access" in refused.stderr
        ok("server", "admin", "revoke", "dana", "vision", "--root", str(root))
        gone = run_cli(
            "pull", "w:latest", "--project", "vision", "--url", srv.url, "-o", "o2", env=env
        )
        assert gone.returncode == 1 and "no access" in gone.stderr
    lines = ok("server", "admin", "audit", "--json", "--root", str(root)).stdout.splitlines()
    events = [json.loads(line) for line in lines]
    assert [(e["action"], e["user"]) for e in events] == [
        ("grant", None),
        ("pull", "dana"),
        ("push", "dana"),
        ("key", None),
        ("grant", None),
        ("user", None),
    ]
    assert events[0]["detail"]["role"] is None and events[4]["detail"]["role"] == "write"
    assert events[2]["project"] == "vision" and events[2]["version"] == "v0"
    pulls = ok("server", "admin", "audit", "--action", "pull", "--root", str(root)).stdout
    assert len(pulls.splitlines()) == 1 and "\tdana\tpull\tvision/w:v0\t" in pulls
    assert key not in "".join(lines) + pulls
