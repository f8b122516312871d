"""What the store-maintenance commands (``asyncart server fsck`` / ``gc``) share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import click

from asyncart.config import Settings
from asyncart.errors import ConfigError
from asyncart.repo.service import Repository

root_option = click.option(
    "--root", type=click.Path(path_type=Path), default=None,
    help="Store directory (default: the server group's --root, else ASYNCART_DIR).",
)


def store_root(ctx: click.Context, root: Path | None) -> Path:
    """``--root``, else the ``server`` group's ``--root``, else the configured store."""
    parent = ctx.parent.obj if ctx.parent is not None else None
    return root or (parent if isinstance(parent, Path) else Settings.from_env().store_dir)


@asynccontextmanager
async def open_store(root: Path) -> AsyncIterator[Repository]:
    """Open an existing store (never create one: a typo must not look like an empty store)."""
    if not (root / "meta.db").is_file():
        raise ConfigError(f"{root} is not an asyncart store (it has no meta.db); check --root")
    repo = await Repository.open_dir(root)
    try:
        yield repo
    finally:
        await repo.close()
