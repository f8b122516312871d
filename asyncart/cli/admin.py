"""``asyncart server admin``: users, API keys, project grants and the audit log of a store
(run on the server's machine, against the store directory)."""

from __future__ import annotations

import getpass
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import click

from asyncart.cli.maintenance import check_exists, open_store, store_location, store_options
from asyncart.core.humanize import human_size, human_time, parse_size
from asyncart.core.storage import QuotaUsage
from asyncart.repo.access import Role
from asyncart.repo.accounts import AccountStore, KeyInfo
from asyncart.repo.audit import ACTIONS, MAX_QUERY, AuditEvent, AuditLog
from asyncart.repo.location import StoreLocation
from asyncart.repo.metastores.database import Database

T = TypeVar("T")


def _with_accounts(
    location: StoreLocation,
    work: Callable[[AccountStore], Awaitable[T]],
    *,
    create: bool = False,
    init_hint: str | None = None,
    audit: Callable[[T], AuditEvent] | None = None,
) -> T:
    """Run ``work`` on the accounts of the store at ``location`` (made first if ``create``),
    then append ``audit(result)`` to the store's audit log."""
    if create:
        location.prepare()
    else:
        check_exists(location, create_with=init_hint)

    async def run() -> T:
        database = Database(location.db)  # one connection pool for both
        accounts, log = AccountStore(database), AuditLog(database)
        try:
            await accounts.open()
            result = await work(accounts)
            if audit is not None:
                await log.open()
                await log.record(audit(result))
        finally:
            await log.close()
            await accounts.close()
        return result

    return anyio.run(run)


def _by_admin_cli(action: str, project: str | None = None, **detail: object) -> AuditEvent:
    """An audit event for a change made with this CLI (by the OS user running it)."""
    try:
        os_user = getpass.getuser()
    except (OSError, KeyError):
        os_user = "unknown"
    return AuditEvent(
        action=action,
        user=None,
        project=project,
        detail={"via": "asyncart server admin", "os_user": os_user, **detail},
    )


def _store(ctx: click.Context) -> StoreLocation:
    """``--root`` / ``--db``, else the ``asyncart server`` group's, else the configured store."""
    return store_location(ctx)


EXAMPLES = """\b
Examples:
  asyncart server admin create-user alice --root /srv/asyncart --init
  asyncart server admin grant alice vision write --root /srv/asyncart
  asyncart server admin create-key alice --label laptop --root /srv/asyncart
"""

QUOTA_EXAMPLES = """\b
Examples:
  asyncart server admin quota vision 20GB --root /srv/asyncart
  asyncart server admin quota vision --root /srv/asyncart      # quota and usage
  asyncart server admin quota vision --clear --root /srv/asyncart
"""


@click.group(epilog=EXAMPLES)
@click.pass_context
def admin(ctx: click.Context) -> None:
    """Manage a store's users and API keys (once it has a user, the server needs keys)."""


@admin.command("create-user")
@click.argument("name")
@store_options
@click.option(
    "--init",
    is_flag=True,
    help="Create the store if there is none yet (without it a missing store is an error).",
)
@click.pass_context
def create_user(ctx: click.Context, name: str, init: bool) -> None:
    """Add user NAME to the store (with --init, create the store first if there is none)."""
    user = _with_accounts(
        _store(ctx),
        lambda a: a.create_user(name),
        create=init,
        init_hint="--init",
        audit=lambda u: _by_admin_cli("user", created=u.name),
    )
    click.echo(f"created user {user.name}")


@admin.command("create-key")
@click.argument("user")
@store_options
@click.option("--label", default=None, help="A note to tell keys apart (e.g. 'laptop').")
@click.pass_context
def create_key(ctx: click.Context, user: str, label: str | None) -> None:
    """Create an API key for USER and print it once (it cannot be shown again)."""
    info, key = _with_accounts(
        _store(ctx),
        lambda a: a.create_key(user, label),
        audit=lambda made: _by_admin_cli("key", created=made[0].id, for_user=user),
    )
    click.echo(
        f"created key {info.id} for {info.user}; store it now, it is not shown again:", err=True
    )
    click.echo(key)


@admin.command("revoke-key")
@click.argument("key_id", type=int)
@store_options
@click.pass_context
def revoke_key(ctx: click.Context, key_id: int) -> None:
    """Revoke the key KEY_ID (see list-keys): requests with it are refused from now on."""
    info = _with_accounts(
        _store(ctx),
        lambda a: a.revoke_key(key_id),
        audit=lambda k: _by_admin_cli("key", revoked=k.id, for_user=k.user),
    )
    click.echo(f"revoked key {info.id} of {info.user}")


@admin.command("list-keys")
@store_options
@click.option("--json", "json_output", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_keys(ctx: click.Context, json_output: bool) -> None:
    """List key ids, users, labels and states (never the keys themselves)."""
    keys = _with_accounts(_store(ctx), lambda a: a.list_keys())
    if json_output:
        click.echo(json.dumps([_key_json(k) for k in keys]))
        return
    for k in keys:
        state = "revoked" if k.revoked else "active"
        click.echo(f"{k.id}\t{k.user}\t{state}\t{k.label or '-'}")


def _key_json(info: KeyInfo) -> dict[str, object]:
    return {
        "id": info.id,
        "user": info.user,
        "label": info.label,
        "created_at": info.created_at,
        "revoked_at": info.revoked_at,
    }


@admin.command("grant")
@click.argument("user")
@click.argument("project")
@click.argument("role", type=click.Choice(["read", "write", "admin"]))
@store_options
@click.pass_context
def grant(ctx: click.Context, user: str, project: str, role: str) -> None:
    """Give USER the ROLE (read, write or admin) on PROJECT ('*': every project),
    replacing any role it had there. The project need not exist yet."""
    info = _with_accounts(
        _store(ctx),
        lambda a: a.grant(user, project, Role.parse(role)),
        audit=lambda g: _by_admin_cli("grant", g.project, user=g.user, role=g.role.label),
    )
    click.echo(f"{info.user} has {info.role.label} access to {info.project}")


@admin.command("revoke")
@click.argument("user")
@click.argument("project")
@store_options
@click.pass_context
def revoke(ctx: click.Context, user: str, project: str) -> None:
    """Take away USER's role on PROJECT (a '*' grant is revoked with PROJECT '*')."""
    had = _with_accounts(
        _store(ctx),
        lambda a: a.revoke_grant(user, project),
        audit=lambda _: _by_admin_cli("grant", project, user=user, role=None),
    )
    click.echo(
        f"{user} no longer has a role on {project}" if had else f"{user} had no role on {project}"
    )


@admin.command("list-grants")
@click.argument("user", required=False)
@store_options
@click.option("--json", "json_output", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_grants(ctx: click.Context, user: str | None, json_output: bool) -> None:
    """List who has which role on which project (USER's only, if given)."""
    found = _with_accounts(_store(ctx), lambda a: a.list_grants(user))
    if json_output:
        click.echo(
            json.dumps(
                [
                    {
                        "user": g.user,
                        "project": g.project,
                        "role": g.role.label,
                        "granted_at": g.granted_at,
                    }
                    for g in found
                ]
            )
        )
        return
    for g in found:
        click.echo(f"{g.user}\t{g.project}\t{g.role.label}")


@admin.command("audit")
@store_options
@click.option("--project", default=None, help="Only events of this project.")
@click.option("--user", default=None, help="Only events by this user.")
@click.option(
    "--action", type=click.Choice(sorted(ACTIONS)), default=None, help="Only events of this kind."
)
@click.option("--limit", type=click.IntRange(1, MAX_QUERY), default=100, show_default=True)
@click.option("--json", "json_output", is_flag=True, help="One JSON object per line.")
@click.pass_context
def audit(
    ctx: click.Context,
    project: str | None,
    user: str | None,
    action: str | None,
    limit: int,
    json_output: bool,
) -> None:
    """Show the audit log, newest first: who pushed, pulled, aliased, deleted what, when."""
    store = _store(ctx)
    check_exists(store)

    async def read() -> list[AuditEvent]:
        log = await AuditLog.open_url(store.db)
        try:
            return await log.query(project=project, user=user, action=action, limit=limit)
        finally:
            await log.close()

    for event in anyio.run(read):
        if json_output:
            click.echo(json.dumps(event.to_json(), sort_keys=True))
            continue
        when = human_time(event.at, utc=True)
        what = "/".join(x for x in (event.project, event.artifact) if x)
        version = "" if event.version is None else f":v{event.version}"
        click.echo(
            f"{when}\t{event.user or '-'}\t{event.action}\t{what}{version}\t"
            f"{json.dumps(event.detail, sort_keys=True)}"
        )


async def _audit_quota(
    location: StoreLocation, project: str, quota_bytes: int | None, had: bool
) -> None:
    """Record a quota set (``quota_bytes``) or cleared (None; ``had``: there was one)."""
    detail: dict[str, object] = {"quota_bytes": quota_bytes}
    if quota_bytes is None:
        detail["had_quota"] = had
    log = AuditLog(location.db)
    try:
        await log.open()
        await log.record(_by_admin_cli("quota", project, **detail))
    finally:
        await log.close()


@admin.command("quota", epilog=QUOTA_EXAMPLES)
@click.argument("project")
@click.argument("size", required=False)
@click.option("--clear", is_flag=True, help="Remove the project's quota.")
@store_options
@click.option("--json", "json_output", is_flag=True, help="Machine-readable output.")
@click.pass_context
def quota(
    ctx: click.Context, project: str, size: str | None, clear: bool, json_output: bool
) -> None:
    """Set PROJECT's quota on its deduplicated bytes to SIZE (e.g. 20GB, 500MiB), remove it
    (--clear), or, with neither, show the quota and usage. A push that would take the
    project past its quota is refused (docs/quotas.md)."""
    if size is not None and clear:
        raise click.UsageError("give SIZE or --clear, not both")
    limit = None
    if size is not None:
        try:
            limit = parse_size(size, what="quota")
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="SIZE") from None
    location = _store(ctx)

    async def run() -> tuple[bool, QuotaUsage]:
        async with open_store(location) as repo:
            had = True
            if clear:
                had = await repo.meta.clear_quota(project)
            elif limit is not None:
                await repo.meta.set_quota(project, limit)
            if clear or limit is not None:
                await _audit_quota(location, project, limit, had)
            return had, await repo.meta.quota_usage(project)

    had, found = anyio.run(run)
    if json_output:
        click.echo(json.dumps(found.to_json()))
        return
    usage = human_size(found.stored_bytes)
    if found.pending_bytes:
        usage += f", {human_size(found.pending_bytes)} more uploaded but not committed"
    if clear:
        click.echo(f"{project}: quota removed" if had else f"{project} had no quota")
    elif found.quota_bytes is None:
        click.echo(f"{project}: no quota; stores {usage} (deduplicated)")
    else:
        click.echo(
            f"{project}: quota {human_size(found.quota_bytes)}; stores {usage} (deduplicated)"
        )
