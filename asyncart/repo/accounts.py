"""Users and API keys of a store (tables ``users`` and ``api_keys``, schema v3).

A key is ``acart_`` followed by 32 random bytes (URL-safe base64). It is shown once, when
it is created; the store keeps only its SHA-256. A fast hash is enough here (unlike for
passwords): a key has 256 bits of entropy, so nobody can guess it from its hash by trying
candidates, and a slow hash would only slow every request down. The hash found in the
database is still compared to the presented one in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from asyncart.core.names import validate_name
from asyncart.errors import ConflictError, MetadataStoreError, NotFoundError
from asyncart.repo.metastores.migrations import WRITE_OPTION, async_url, make_engine, migrate
from asyncart.repo.metastores.schema import api_keys, users

KEY_PREFIX = "acart_"
T = TypeVar("T")


def new_api_key() -> str:
    """A fresh random API key (``acart_`` + 32 random bytes, URL-safe base64)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> bytes:
    """The 32-byte SHA-256 of a key: what the store keeps instead of the key."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True)
class UserInfo:
    """A user of the store."""

    name: str
    created_at: float


@dataclass(frozen=True)
class KeyInfo:
    """An API key's record (never the key itself)."""

    id: int
    user: str
    label: str | None
    created_at: float
    revoked_at: float | None

    @property
    def revoked(self) -> bool:
        """Whether the key was revoked."""
        return self.revoked_at is not None


class AccountStore:
    """Users and API keys in a store's metadata database (its own connection pool).

    Args:
        url: the metadata database, e.g. ``sqlite:///store/meta.db``.
    """

    def __init__(self, url: str) -> None:
        self.url = async_url(url)
        self._engine: AsyncEngine | None = None

    @classmethod
    async def open_dir(cls, root: Path) -> AccountStore:
        """Open the accounts of the store directory ``root`` (migrating its schema)."""
        store = cls(f"sqlite:///{root / 'meta.db'}")
        await store.open()
        return store

    async def open(self) -> None:
        """Connect and bring the schema up to date."""
        if self._engine is not None:
            return
        engine = make_engine(self.url, busy_timeout=30.0)
        try:
            await migrate(engine)
        except BaseException:
            await engine.dispose()
            raise
        self._engine = engine

    async def close(self) -> None:
        """Dispose of the connection pool (idempotent)."""
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.dispose()

    async def _run(
        self, what: str, work: Callable[[AsyncConnection], Awaitable[T]], *, write: bool
    ) -> T:
        if self._engine is None:
            raise MetadataStoreError("the account store is not open")
        try:
            async with self._engine.connect() as conn:
                if write:
                    conn = await conn.execution_options(**{WRITE_OPTION: True})
                async with conn.begin():
                    return await work(conn)
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            detail = getattr(exc, "orig", None) or exc
            raise MetadataStoreError(f"account store: could not {what}: {detail}") from None

    # -- users ---------------------------------------------------------------------

    async def create_user(self, name: str) -> UserInfo:
        """Add a user.

        Raises:
            InvalidNameError: the name breaks the naming rules.
            ConflictError: a user of that name exists.
        """
        validate_name(name, what="user name")
        now = time.time()

        async def work(conn: AsyncConnection) -> None:
            await conn.execute(insert(users).values(name=name, created_at=now))

        try:
            await self._run("create a user", work, write=True)
        except IntegrityError:
            raise ConflictError(f"user {name!r} already exists") from None
        return UserInfo(name, now)

    async def has_users(self) -> bool:
        """Whether the store has any user (then every request needs a key)."""

        async def work(conn: AsyncConnection) -> bool:
            count = (await conn.execute(select(func.count()).select_from(users))).scalar_one()
            return int(count) > 0

        return await self._run("count users", work, write=False)

    async def list_users(self) -> list[UserInfo]:
        """Every user, by name."""

        async def work(conn: AsyncConnection) -> list[UserInfo]:
            query = select(users.c.name, users.c.created_at).order_by(users.c.name)
            rows = await conn.execute(query)
            return [UserInfo(r.name, r.created_at) for r in rows]

        return await self._run("list users", work, write=False)

    # -- keys ----------------------------------------------------------------------

    async def create_key(self, user: str, label: str | None = None) -> tuple[KeyInfo, str]:
        """A new key for ``user``: its record and the key itself (shown once, never stored).

        Raises:
            NotFoundError: no such user.
        """
        if label is not None:
            validate_name(label, what="key label")
        key = new_api_key()
        now = time.time()

        async def work(conn: AsyncConnection) -> int:
            user_id = (
                await conn.execute(select(users.c.id).where(users.c.name == user))
            ).scalar_one_or_none()
            if user_id is None:
                raise NotFoundError(
                    f"no user {user!r}; create it first with 'asyncart server admin create-user'"
                )
            result = await conn.execute(
                insert(api_keys).values(
                    user_id=user_id, key_hash=hash_api_key(key), label=label, created_at=now
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

        key_id = await self._run("create a key", work, write=True)
        return KeyInfo(key_id, user, label, now, None), key

    async def revoke_key(self, key_id: int) -> KeyInfo:
        """Revoke a key by id (a second revocation keeps the first time).

        Raises:
            NotFoundError: no key has that id.
        """
        now = time.time()

        async def work(conn: AsyncConnection) -> None:
            await conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )

        await self._run("revoke a key", work, write=True)
        for info in await self.list_keys():
            if info.id == key_id:
                return info
        raise NotFoundError(f"no API key with id {key_id}; see 'asyncart server admin list-keys'")

    async def list_keys(self) -> list[KeyInfo]:
        """Every key's record (ids, users, labels, times), oldest first."""

        async def work(conn: AsyncConnection) -> list[KeyInfo]:
            rows = await conn.execute(
                select(
                    api_keys.c.id, users.c.name, api_keys.c.label, api_keys.c.created_at,
                    api_keys.c.revoked_at,
                )
                .select_from(api_keys.join(users, api_keys.c.user_id == users.c.id))
                .order_by(api_keys.c.id)
            )
            return [KeyInfo(r[0], r[1], r[2], r[3], r[4]) for r in rows]

        return await self._run("list keys", work, write=False)

    async def authenticate(self, key: str) -> str | None:
        """The user owning ``key`` if it is a known, unrevoked key, else None."""
        if not key.startswith(KEY_PREFIX) or len(key) > 128:
            return None
        presented = hash_api_key(key)

        async def work(conn: AsyncConnection) -> tuple[bytes, str, float | None] | None:
            row = (
                await conn.execute(
                    select(api_keys.c.key_hash, users.c.name, api_keys.c.revoked_at)
                    .select_from(api_keys.join(users, api_keys.c.user_id == users.c.id))
                    .where(api_keys.c.key_hash == presented)
                )
            ).first()
            return None if row is None else (bytes(row[0]), row[1], row[2])

        found = await self._run("check a key", work, write=False)
        if found is None or not hmac.compare_digest(found[0], presented):
            return None
        return None if found[2] is not None else found[1]
