"""The one Database object: a server's metastore, accounts and audit log share one engine and
connection pool; write transactions that lose a real race run again; accounts and audit log
on every database.

Tests taking ``db_url`` run on SQLite and PostgreSQL (tests/repo/conftest.py); those taking
``postgres_url`` need PostgreSQL's concurrent writers (SQLite runs one write transaction at
a time, so its writers never race).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import QueuePool, text
from sqlalchemy.ext.asyncio import AsyncConnection

from asyncart.core import protocol as P
from asyncart.errors import ConflictError, MetadataStoreError
from asyncart.repo.access import Role
from asyncart.repo.accounts import AccountStore
from asyncart.repo.audit import AuditEvent, AuditLog
from asyncart.repo.location import StoreLocation
from asyncart.repo.metastores import SqlMetaStore
from asyncart.repo.metastores.database import MAX_ATTEMPTS, Database, Work
from asyncart.server.app import create_app
from asyncart.server.keys import ACCOUNTS, AUDIT, REPO
from tests.support.stores import run_sql

# -- one pool per server ------------------------------------------------------------------

_BACKENDS = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND pid <> pg_backend_pid()"
)


async def backends(url: str) -> int:
    """Connections to ``url``'s database, not counting the one asking."""
    return int((await run_sql(url, _BACKENDS))[0][0])


async def until_backends(url: str, expected: int) -> None:
    """Wait until ``url``'s database has ``expected`` other connections (a connection a
    pool closed leaves ``pg_stat_activity`` a moment after it was closed)."""
    deadline = time.monotonic() + 60
    while (found := await backends(url)) != expected:
        assert time.monotonic() < deadline, f"{found} connection(s), expected {expected}"
        await asyncio.sleep(0.05)


async def test_a_server_on_postgresql_uses_one_pool(postgres_url: str, tmp_path: Path) -> None:
    """A real server (create_app on 127.0.0.1, port 0) under concurrent requests that
    authenticate (accounts), list projects (metastore) and read the audit log, while it
    records events: every connection to the database belongs to the one pool, and
    closing the server closes them all."""
    app = create_app(StoreLocation.of(tmp_path / "store", db=postgres_url))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()  # opens the store
    try:
        repo, accounts, audit = app[REPO], app[ACCOUNTS], app[AUDIT]
        assert isinstance(repo.meta, SqlMetaStore)
        database = repo.meta.database
        assert accounts.database is database and audit.database is database
        await accounts.create_user("alice")
        await accounts.grant("alice", "proj", Role.ADMIN)
        _, key = await accounts.create_key("alice")
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {key}"}
        async with aiohttp.ClientSession(base, headers=headers) as http:

            async def get(path: str) -> None:
                async with http.get(path) as answer:
                    assert answer.status == 200, await answer.text()

            work = [get(P.PROJECTS) for _ in range(20)]
            work += [get(P.AUDIT.format(project="proj")) for _ in range(20)]
            work += [audit.record(AuditEvent("user", None, detail={"n": n})) for n in range(20)]
            await asyncio.gather(*work)
        assert len(await audit.query(action="user")) == 20
        pool = database.engine.pool
        assert isinstance(pool, QueuePool)
        await until_backends(postgres_url, pool.checkedin())
        assert pool.checkedin() >= 1
    finally:
        await runner.cleanup()  # closes the audit log, the accounts and the repository
    await until_backends(postgres_url, 0)


async def test_the_last_user_closes_a_shared_database(db_url: str) -> None:
    database = Database(db_url)
    meta, accounts, audit = SqlMetaStore(database), AccountStore(database), AuditLog(database)
    for store in (meta, accounts, audit):
        await store.open()
        await store.open()  # idempotent: one share each
    engine = database.engine
    await meta.close()
    await accounts.close()
    await accounts.close()
    assert database.engine is engine  # the audit log still uses it
    assert await audit.query() == []
    with pytest.raises(MetadataStoreError, match="not open"):
        await accounts.list_users()
    await audit.close()
    with pytest.raises(MetadataStoreError, match="not open"):
        _ = database.engine


# -- lost races run again ------------------------------------------------------------------


async def test_a_deadlock_is_retried(postgres_url: str) -> None:
    """Two write transactions lock two rows in opposite orders; PostgreSQL aborts one
    (deadlock detected), which runs again and commits after the other."""
    database = Database(postgres_url)
    await database.open()
    try:
        await run_sql(postgres_url, "CREATE TABLE pair (id INTEGER PRIMARY KEY, n INTEGER)")
        await run_sql(postgres_url, "INSERT INTO pair VALUES (1, 0), (2, 0)")
        attempts: Counter[int] = Counter()
        holding = [asyncio.Event(), asyncio.Event()]

        def update_both(first: int, second: int) -> Work[None]:
            async def work(conn: AsyncConnection) -> None:
                attempts[first] += 1
                bump = text("UPDATE pair SET n = n + 1 WHERE id = :id")
                await conn.execute(bump, {"id": first})
                holding[first - 1].set()
                await holding[second - 1].wait()  # each holds one row, then wants the other
                await conn.execute(bump, {"id": second})

            return work

        await asyncio.gather(
            database.run("update 1 then 2", update_both(1, 2), write=True),
            database.run("update 2 then 1", update_both(2, 1), write=True),
        )
        assert sorted(attempts.values()) == [1, 2]  # the deadlock's victim ran twice
        rows = await run_sql(postgres_url, "SELECT id, n FROM pair ORDER BY id")
        assert [tuple(r) for r in rows] == [(1, 2), (2, 2)]  # each committed once
    finally:
        await database.close()


async def test_a_unique_key_race_is_retried(postgres_url: str) -> None:
    """Two transactions both find a name free and insert it: the loser's insert fails on
    the unique key once the winner commits; its second attempt finds the row."""
    database = Database(postgres_url)
    await database.open()
    try:
        await run_sql(postgres_url, "CREATE TABLE names (name TEXT PRIMARY KEY, by TEXT)")
        attempts: Counter[str] = Counter()
        checked = [asyncio.Event(), asyncio.Event()]

        def claim(me: int) -> Work[str]:
            async def work(conn: AsyncConnection) -> str:
                attempts[f"w{me}"] += 1
                found = await conn.execute(text("SELECT by FROM names WHERE name = 'x'"))
                owner = found.scalar_one_or_none()
                if owner is not None:
                    return str(owner)
                checked[me].set()
                await checked[1 - me].wait()  # both saw the name free
                await conn.execute(text("INSERT INTO names VALUES ('x', :me)"), {"me": f"w{me}"})
                return f"w{me}"

            return work

        owners = await asyncio.gather(
            database.run("claim x", claim(0), write=True),
            database.run("claim x", claim(1), write=True),
        )
        assert owners[0] == owners[1]  # both answer with the one owner
        assert sorted(attempts.values()) == [1, 2]
        assert attempts[str(owners[0])] == 1  # the winner ran once; the loser ran again
    finally:
        await database.close()


async def test_other_failures_are_not_retried_and_are_wrapped(db_url: str) -> None:
    database = Database(db_url)
    await database.open()
    attempts = 0

    async def broken(conn: AsyncConnection) -> None:
        nonlocal attempts
        attempts += 1
        await conn.execute(text("SELECT * FROM no_such_table"))

    try:
        with pytest.raises(MetadataStoreError, match=r"could not read the void: .*no_such_table"):
            await database.run("read the void", broken, write=True)
        assert attempts == 1 < MAX_ATTEMPTS
    finally:
        await database.close()


async def test_racing_creations_of_one_user_give_one_user(db_url: str) -> None:
    """Each loser of the race gets ConflictError (on PostgreSQL a unique-key failure
    first, retried into that answer), never a driver error."""
    stores = [await AccountStore.open_url(db_url) for _ in range(4)]
    try:
        outcomes = await asyncio.gather(
            *(s.create_user("same") for s in stores for _ in range(2)), return_exceptions=True
        )
        assert sum(not isinstance(o, BaseException) for o in outcomes) == 1
        assert all(isinstance(o, ConflictError) for o in outcomes if isinstance(o, Exception))
        assert [u.name for u in await stores[0].list_users()] == ["same"]
    finally:
        await asyncio.gather(*(s.close() for s in stores))


# -- accounts and audit log on every database ---------------------------------------------


async def test_accounts_and_audit_on_every_database(db_url: str) -> None:
    accounts = await AccountStore.open_url(db_url)
    audit = await AuditLog.open_url(db_url)
    try:
        for name in ("zoe", "Bob", "alice"):
            await accounts.create_user(name)
        with pytest.raises(ConflictError):
            await accounts.create_user("zoe")
        assert [u.name for u in await accounts.list_users()] == ["Bob", "alice", "zoe"]
        info, key = await accounts.create_key("alice", label="laptop")
        await accounts.grant("alice", "proj", Role.READ)
        await accounts.grant("alice", "proj", Role.WRITE)  # replaces the role
        await accounts.grant("alice", "*", Role.READ)
        await accounts.grant("Bob", "proj", Role.ADMIN)
        grants = [(g.user, g.project, g.role) for g in await accounts.list_grants()]
        assert grants == [
            ("Bob", "proj", Role.ADMIN), ("alice", "*", Role.READ), ("alice", "proj", Role.WRITE)
        ]
        principal = await accounts.principal(key)
        assert principal is not None and principal.user == "alice"
        assert principal.grants == {"*": Role.READ, "proj": Role.WRITE}
        assert await accounts.revoke_grant("alice", "*")
        assert not await accounts.revoke_grant("alice", "*")
        assert (await accounts.revoke_key(info.id)).revoked
        assert await accounts.principal(key) is None

        for n in range(3):
            await audit.record(
                AuditEvent("push", "alice", project="proj", artifact="a", version=n,
                           detail={"n": n}, request_id=f"req-{n}")
            )
        events = await audit.query(project="proj", limit=2)
        assert [(e.version, e.detail, e.request_id) for e in events] == [
            (2, {"n": 2}, "req-2"), (1, {"n": 1}, "req-1")
        ]
        assert [e.version for e in await audit.query(before_id=events[-1].id)] == [0]
    finally:
        await accounts.close()
        await audit.close()


async def test_concurrent_grants_to_one_user_and_project(db_url: str) -> None:
    """Each grant replaces the role in one statement, so racing grants never collide on
    the key (PostgreSQL runs them at once; SQLite one after another)."""
    stores = [await AccountStore.open_url(db_url) for _ in range(4)]
    try:
        await stores[0].create_user("u")
        await asyncio.gather(*(s.grant("u", "proj", role) for s in stores for role in Role))
        [only] = await stores[0].list_grants()
        assert (only.user, only.project) == ("u", "proj")
    finally:
        await asyncio.gather(*(s.close() for s in stores))
