"""``asyncart server``: serve a store over HTTP; ``asyncart server fsck|gc``: maintain one.

``asyncart server [--root DIR] [--host H] [--port P]`` with no subcommand serves,
exactly as it always has; the maintenance subcommands live in ``fsck.py`` and ``gc.py``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from asyncart.cli import fsck, gc
from asyncart.config import Settings


@click.group(invoke_without_command=True)
@click.option("--root", type=click.Path(path_type=Path), default=None,
              help="Store directory (default: ASYNCART_DIR or ~/.asyncart/store).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8765, show_default=True, type=int,
              help="Port (0 picks a free one).")
@click.pass_context
def server(ctx: click.Context, root: Path | None, host: str, port: int) -> None:
    """Serve a store over HTTP until interrupted; or check (fsck) or clean (gc) one."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = root  # the subcommands' default --root
        return
    from asyncart.server.main import serve

    asyncio.run(serve(root or Settings.from_env().store_dir, host, port))


server.add_command(fsck.fsck)
server.add_command(gc.gc)
