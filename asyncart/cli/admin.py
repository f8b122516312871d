"""``asyncart server admin``: users and API keys of a store (run on the server's machine)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import anyio
import click

from asyncart.cli.maintenance import root_option, store_root
from asyncart.errors import ConfigError
from asyncart.repo.accounts import AccountStore, KeyInfo

T = TypeVar("T")


def _with_accounts(
    root: Path, work: Callable[[AccountStore], Awaitable[T]], *, create: bool = False
) -> T:
    """Run ``work`` on the accounts of the store at ``root`` (made first if ``create``)."""
    if create:
        root.mkdir(parents=True, exist_ok=True)
    elif not (root / "meta.db").is_file():
        raise ConfigError(f"{root} is not an asyncart store (it has no meta.db); check --root")

    async def run() -> T:
        accounts = await AccountStore.open_dir(root)
        try:
            return await work(accounts)
        finally:
            await accounts.close()

    return anyio.run(run)


def _store(ctx: click.Context, root: Path | None) -> Path:
    """``--root``, else ``asyncart server --root``, else the configured store."""
    return store_root(ctx, root)  # the admin group passes the server group's --root on


@click.group()
@click.pass_context
def admin(ctx: click.Context) -> None:
    """Manage a store's users and API keys (once it has a user, the server needs keys)."""
    ctx.obj = ctx.parent.obj if ctx.parent is not None else None


@admin.command("create-user")
@click.argument("name")
@root_option
@click.pass_context
def create_user(ctx: click.Context, name: str, root: Path | None) -> None:
    """Add user NAME to the store (creating the store if needed)."""
    user = _with_accounts(_store(ctx, root), lambda a: a.create_user(name), create=True)
    click.echo(f"created user {user.name}")


@admin.command("create-key")
@click.argument("user")
@root_option
@click.option("--label", default=None, help="A note to tell keys apart (e.g. 'laptop').")
@click.pass_context
def create_key(ctx: click.Context, user: str, root: Path | None, label: str | None) -> None:
    """Create an API key for USER and print it once (it cannot be shown again)."""
    info, key = _with_accounts(_store(ctx, root), lambda a: a.create_key(user, label))
    click.echo(f"created key {info.id} for {info.user}; store it now, it is not shown again:",
               err=True)
    click.echo(key)


@admin.command("revoke-key")
@click.argument("key_id", type=int)
@root_option
@click.pass_context
def revoke_key(ctx: click.Context, key_id: int, root: Path | None) -> None:
    """Revoke the key KEY_ID (see list-keys): requests with it are refused from now on."""
    info = _with_accounts(_store(ctx, root), lambda a: a.revoke_key(key_id))
    click.echo(f"revoked key {info.id} of {info.user}")


@admin.command("list-keys")
@root_option
@click.option("--json", "json_output", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_keys(ctx: click.Context, root: Path | None, json_output: bool) -> None:
    """List key ids, users, labels and states (never the keys themselves)."""
    keys = _with_accounts(_store(ctx, root), lambda a: a.list_keys())
    if json_output:
        click.echo(json.dumps([_key_json(k) for k in keys]))
        return
    for k in keys:
        state = "revoked" if k.revoked else "active"
        click.echo(f"{k.id}\t{k.user}\t{state}\t{k.label or '-'}")


def _key_json(info: KeyInfo) -> dict[str, object]:
    return {
        "id": info.id, "user": info.user, "label": info.label,
        "created_at": info.created_at, "revoked_at": info.revoked_at,
    }
