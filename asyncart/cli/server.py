"""``asyncart server``: serve a store over HTTP; ``fsck|gc|admin`` subcommands: maintain one.

``asyncart server [--root DIR | --db URL --blobs DIR|s3://B/P] [--init] [--host H] [--port P]
[--certfile F --keyfile F] [--insecure-anonymous]`` with no subcommand serves; the
subcommands live in ``fsck.py``, ``gc.py`` and ``admin.py`` (users, keys, grants, audit).

A store is created only with ``--init``: a mistyped ``--root`` is an error naming the
path, never an empty store served in its place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import click

from asyncart.cli import admin, fsck, gc
from asyncart.cli.maintenance import F, store_location, store_options
from asyncart.core import protocol as P
from asyncart.errors import ConfigError
from asyncart.repo.location import StoreLocation

_SQLITE = "sqlite:///"


def _limit(name: str, default: float, help: str) -> Callable[[F], F]:
    """A request limit (a float, checked positive by :func:`server`)."""
    return click.option(name, default=default, show_default=True, type=float, help=help)


def _pem_file(name: str, help: str) -> Callable[[F], F]:
    """A PEM file for TLS (none by default)."""
    return click.option(
        name, type=click.Path(path_type=Path, dir_okay=False), default=None, help=help
    )


EXAMPLES = """\b
Examples:
  asyncart server --root /srv/asyncart --init      # a new store, on 127.0.0.1:8765
  asyncart server --root /srv/asyncart --host 0.0.0.0 --certfile cert.pem --keyfile key.pem
  asyncart server fsck --root /srv/asyncart
"""


@click.group(invoke_without_command=True, epilog=EXAMPLES)
@store_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port (0 picks a free one).",
)
@click.option(
    "--init",
    is_flag=True,
    help="Create the store if there is none yet (without it a missing store is an error).",
)
@_pem_file("--certfile", "PEM certificate (chain): serve HTTPS instead of HTTP.")
@_pem_file("--keyfile", "PEM private key of --certfile (if not in the same file).")
@_limit(
    "--header-timeout",
    P.HEADER_TIMEOUT,
    "Seconds a connection may take to send a request's headers.",
)
@_limit(
    "--body-timeout",
    P.BODY_IDLE_TIMEOUT,
    "Seconds a request body may stall before the request is answered 408.",
)
@_limit(
    "--body-grace", P.BODY_GRACE, "Seconds a request body may take before --body-min-rate applies."
)
@_limit(
    "--body-min-rate",
    P.BODY_MIN_RATE,
    "Bytes/s a request body must average once --body-grace has passed (else 408).",
)
@click.option(
    "--direct-transfer/--no-direct-transfer",
    default=True,
    show_default=True,
    help="With an S3 blob store, let clients move pack bytes straight to and from "
    "it with presigned URLs (the server still verifies every upload).",
)
@click.option(
    "--insecure-anonymous",
    is_flag=True,
    help="Serve a store without users on a non-loopback address (anyone who "
    "can reach it may read and write).",
)
@click.pass_context
def server(
    ctx: click.Context,
    host: str,
    port: int,
    init: bool,
    certfile: Path | None,
    keyfile: Path | None,
    header_timeout: float,
    body_timeout: float,
    body_grace: float,
    body_min_rate: float,
    direct_transfer: bool,
    insecure_anonymous: bool,
) -> None:
    """Serve a store over HTTP(S) until interrupted; or check (fsck) or clean (gc) one."""
    if ctx.invoked_subcommand is not None:
        return  # the subcommands read this group's --root/--db/--blobs too
    from asyncart.server.main import serve, server_ssl_context

    if keyfile is not None and certfile is None:
        raise click.UsageError("--keyfile needs --certfile")
    if min(header_timeout, body_timeout, body_grace, body_min_rate) <= 0:
        raise click.UsageError(
            "--header-timeout, --body-timeout, --body-grace and --body-min-rate must be positive"
        )
    context = None if certfile is None else server_ssl_context(certfile, keyfile)
    location = store_location(ctx)
    if not init:
        check_store_exists(location)
    asyncio.run(
        serve(
            location,
            host,
            port,
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            body_grace=body_grace,
            body_min_rate=body_min_rate,
            ssl_context=context,
            insecure_anonymous=insecure_anonymous,
            direct_transfer=direct_transfer,
        )
    )


def check_store_exists(location: StoreLocation) -> None:
    """Refuse to serve a default-layout (SQLite) store that does not exist yet.

    Raises:
        ConfigError: naming the path and ``--init``.
    """
    if not location.db.startswith(_SQLITE):
        return  # e.g. PostgreSQL: its database exists or the connection says so
    meta = Path(location.db[len(_SQLITE) :])
    if meta.is_file():
        return
    if location.root is not None:
        root = location.root
        what = f"{root} does not exist"
        if root.exists():
            what = f"{root} holds no asyncart store (no meta.db)"
        fix = f"check --root, or create a new store there: asyncart server --root {root} --init"
    else:
        what = f"the database {meta} does not exist"
        fix = "check --db, or add --init to create a new store"
    raise ConfigError(f"{what}; {fix}")


server.add_command(fsck.fsck)
server.add_command(gc.gc)
server.add_command(admin.admin)
