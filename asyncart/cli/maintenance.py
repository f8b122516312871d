"""What the store commands (``asyncart server`` and its ``fsck`` / ``gc`` / ``admin``
subcommands) share: where the store is, and opening it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from asyncart.config import Settings
from asyncart.errors import ConfigError
from asyncart.repo.location import StoreLocation
from asyncart.repo.service import Repository

F = TypeVar("F", bound=Callable[..., Any])
_KEY = "asyncart.store"


def _remember(ctx: click.Context, param: click.Parameter, value: object) -> object:
    if value is not None:
        ctx.meta.setdefault(_KEY, {})[param.name] = value
    return value


def store_options(f: F) -> F:
    """``--root``, ``--db`` and ``--blobs`` on a command; read them with :func:`store_location`
    (a subcommand's own values win over its group's)."""
    f = click.option(
        "--blobs",
        default=None,
        expose_value=False,
        callback=_remember,
        help="Blob store: a directory, or s3://bucket/prefix (default: ROOT/blobs).",
    )(f)
    f = click.option(
        "--db",
        default=None,
        expose_value=False,
        callback=_remember,
        help="Metadata database URL: sqlite:////path/meta.db or postgresql://user@host/db "
        "(default: ROOT/meta.db).",
    )(f)
    return click.option(
        "--root",
        type=click.Path(path_type=Path),
        default=None,
        expose_value=False,
        callback=_remember,
        help="Store directory (default: ASYNCART_DIR, else ~/.asyncart/store).",
    )(f)


def store_location(ctx: click.Context) -> StoreLocation:
    """The store the command's (and its groups') ``--root`` / ``--db`` / ``--blobs`` name."""
    given: dict[str, Any] = {}
    for level in reversed(list(_lineage(ctx))):
        given.update(level.meta.get(_KEY, {}))
    root = given.get("root")
    if root is None and not ("db" in given and "blobs" in given):
        root = Settings.from_env().store_dir
    return StoreLocation.of(root, db=given.get("db"), blobs=given.get("blobs"))


def _lineage(ctx: click.Context | None) -> list[click.Context]:
    out = []
    while ctx is not None:
        out.append(ctx)
        ctx = ctx.parent
    return out


@asynccontextmanager
async def open_store(location: StoreLocation) -> AsyncIterator[Repository]:
    """Open an existing store (never create one: a typo must not look like an empty store)."""
    check_exists(location)
    repo = await Repository.open(location)
    try:
        yield repo
    finally:
        await repo.close()


def check_exists(location: StoreLocation, create_with: str | None = None) -> None:
    """Refuse a default-layout SQLite store whose database file does not exist (never make
    one: a mistyped --root must not become a new, empty store). ``create_with``: the flag
    that would create it, for the message."""
    prefix = "sqlite:///"
    if location.db.startswith(prefix) and not Path(location.db[len(prefix) :]).is_file():
        where = location.root or location.db
        fix = "check --root" + (
            f", or add {create_with} to create a new store" if create_with else ""
        )
        raise ConfigError(f"{where} is not an asyncart store (it has no meta.db); {fix}")
