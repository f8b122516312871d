"""Users, grants and keys written into a store directory before a test serves it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from asyncart.repo.access import Role
from asyncart.repo.accounts import AccountStore


async def users_with_keys(
    root: Path, grants: Mapping[str, Sequence[tuple[str, Role]]]
) -> dict[str, str]:
    """Create each user of ``grants`` in the store at ``root`` with its ``(project, role)``
    grants and one API key; the keys by user."""
    keys: dict[str, str] = {}
    accounts = await AccountStore.open_dir(root)
    try:
        for user, user_grants in grants.items():
            await accounts.create_user(user)
            for project, role in user_grants:
                await accounts.grant(user, project, role)
            keys[user] = (await accounts.create_key(user))[1]
    finally:
        await accounts.close()
    return keys
