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
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from asyncart.core.names import validate_name
from asyncart.errors import ConflictError, NotFoundError
from asyncart.repo.access import ALL_PROJECTS, Principal, Role
from asyncart.repo.metastores.database import Database
from asyncart.repo.metastores.lookups import bytewise, insert_or_replace
from asyncart.repo.metastores.schema import api_keys, grants, users
from asyncart.repo.sidestore import SideStore

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
class GrantInfo:
    """A user's role on a project (or on every project: ``*``)."""

    user: str
    project: str
    role: Role
    granted_at: float


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


class AccountStore(SideStore):
    """Users, API keys and per-project grants in a store's metadata database.

    Args:
        database: the shared :class:`Database`, or a URL such as ``sqlite:///store/meta.db``.
    """

    def __init__(self, database: str | Database) -> None:
        super().__init__(database)
        self._has_users = False  # users are never deleted: once true, stays true

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
            # Checked first: a racing creation of the same name makes this insert fail on
            # the unique name, and the transaction's second attempt then lands here.
            if await _find_user_id(conn, name) is not None:
                raise ConflictError(f"user {name!r} already exists")
            await conn.execute(insert(users).values(name=name, created_at=now))

        await self._run("create a user", work, write=True)
        return UserInfo(name, now)

    async def has_users(self) -> bool:
        """Whether the store has any user (then every request needs a key)."""

        if self._has_users:
            return True

        async def work(conn: AsyncConnection) -> bool:
            count = (await conn.execute(select(func.count()).select_from(users))).scalar_one()
            return int(count) > 0

        self._has_users = await self._run("count users", work, write=False)
        return self._has_users

    async def list_users(self) -> list[UserInfo]:
        """Every user, by name."""

        async def work(conn: AsyncConnection) -> list[UserInfo]:
            query = select(users.c.name, users.c.created_at).order_by(bytewise(users.c.name))
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
            user_id = await _user_id(conn, user)
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
                    api_keys.c.id,
                    users.c.name,
                    api_keys.c.label,
                    api_keys.c.created_at,
                    api_keys.c.revoked_at,
                )
                .select_from(api_keys.join(users, api_keys.c.user_id == users.c.id))
                .order_by(api_keys.c.id)
            )
            return [KeyInfo(r[0], r[1], r[2], r[3], r[4]) for r in rows]

        return await self._run("list keys", work, write=False)

    async def principal(self, key: str) -> Principal | None:
        """Who a known, unrevoked ``key`` acts as (its user and grants), else None."""
        if not key.startswith(KEY_PREFIX) or len(key) > 128:
            return None
        presented = hash_api_key(key)

        async def work(conn: AsyncConnection) -> Principal | None:
            row = (
                await conn.execute(
                    select(api_keys.c.key_hash, users.c.id, users.c.name, api_keys.c.revoked_at)
                    .select_from(api_keys.join(users, api_keys.c.user_id == users.c.id))
                    .where(api_keys.c.key_hash == presented)
                )
            ).first()
            if row is None or not hmac.compare_digest(bytes(row[0]), presented):
                return None
            if row[3] is not None:
                return None
            found = await conn.execute(
                select(grants.c.project, grants.c.role).where(grants.c.user_id == row[1])
            )
            return Principal(row[2], {project: Role.parse(role) for project, role in found})

        return await self._run("check a key", work, write=False)

    async def authenticate(self, key: str) -> str | None:
        """The user owning ``key`` if it is a known, unrevoked key, else None."""
        found = await self.principal(key)
        return None if found is None else found.user

    # -- grants --------------------------------------------------------------------

    async def grant(self, user: str, project: str, role: Role) -> GrantInfo:
        """Give ``user`` ``role`` on ``project`` (a name, or ``*`` for every project),
        replacing the role it had there.

        Raises:
            NotFoundError: no such user.
            InvalidNameError: the project name breaks the naming rules.
        """
        if project != ALL_PROJECTS:
            validate_name(project, what="project name")
        now = time.time()

        async def work(conn: AsyncConnection) -> None:
            user_id = await _user_id(conn, user)
            row = {"user_id": user_id, "project": project, "role": role.label, "granted_at": now}
            await conn.execute(insert_or_replace(conn, grants, row))

        await self._run("grant a role", work, write=True)
        return GrantInfo(user, project, role, now)

    async def revoke_grant(self, user: str, project: str) -> bool:
        """Take away ``user``'s role on ``project``; False if it had none there.

        Raises:
            NotFoundError: no such user.
        """

        async def work(conn: AsyncConnection) -> bool:
            user_id = await _user_id(conn, user)
            result = await conn.execute(
                delete(grants).where(grants.c.user_id == user_id, grants.c.project == project)
            )
            return bool(result.rowcount)

        return await self._run("revoke a role", work, write=True)

    async def list_grants(self, user: str | None = None) -> list[GrantInfo]:
        """Every grant (or ``user``'s), by user then project."""

        async def work(conn: AsyncConnection) -> list[GrantInfo]:
            query = (
                select(users.c.name, grants.c.project, grants.c.role, grants.c.granted_at)
                .select_from(grants.join(users, grants.c.user_id == users.c.id))
                .order_by(bytewise(users.c.name), bytewise(grants.c.project))
            )
            if user is not None:
                query = query.where(users.c.name == user)
            rows = await conn.execute(query)
            return [GrantInfo(r[0], r[1], Role.parse(r[2]), r[3]) for r in rows]

        return await self._run("list grants", work, write=False)


async def _find_user_id(conn: AsyncConnection, user: str) -> int | None:
    found = await conn.execute(select(users.c.id).where(users.c.name == user))
    user_id = found.scalar_one_or_none()
    return None if user_id is None else int(user_id)


async def _user_id(conn: AsyncConnection, user: str) -> int:
    user_id = await _find_user_id(conn, user)
    if user_id is None:
        raise NotFoundError(
            f"no user {user!r}; create it first with 'asyncart server admin create-user'"
        )
    return user_id
