"""``asyncart server --root DIR --host 127.0.0.1 --port 8765``: serve a store over HTTP."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from asyncart.config import Settings


@click.command()
@click.option("--root", type=click.Path(path_type=Path), default=None,
              help="Store directory (default: ASYNCART_DIR or ~/.asyncart/store).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8765, show_default=True, type=int,
              help="Port (0 picks a free one).")
def server(root: Path | None, host: str, port: int) -> None:
    """Serve a store over HTTP until interrupted."""
    from asyncart.server.main import serve

    asyncio.run(serve(root or Settings.from_env().store_dir, host, port))
