"""Running the server process: bind, announce the URL, serve until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import errno
import gc
import signal
import ssl
import sys
from pathlib import Path

from aiohttp import web

from asyncart.core import protocol as P
from asyncart.errors import ConfigError
from asyncart.repo.location import StoreLocation
from asyncart.server.app import create_app
from asyncart.server.auth import check_bind
from asyncart.server.bodies import BodyTiming
from asyncart.server.keys import ACCOUNTS
from asyncart.server.malformed import SafeAppRunner

READY_PREFIX = "asyncart server listening on "


def server_ssl_context(certfile: Path, keyfile: Path | None) -> ssl.SSLContext:
    """A TLS server context from a PEM certificate (chain) and its private key.

    Raises:
        ConfigError: naming the file that could not be loaded.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot load the TLS certificate {certfile} / key {keyfile}: {exc}; "
            "pass PEM files with --certfile and --keyfile"
        ) from None
    return context


def bind_error(exc: OSError, host: str, port: int) -> ConfigError | None:
    """What a failure to listen on ``host:port`` means, naming the option to change (None:
    no better words than the error's own)."""
    if exc.errno == errno.EADDRINUSE:
        return ConfigError(
            f"port {port} on {host} is already in use (another server?); pick another "
            "with --port (--port 0: any free port)"
        )
    if exc.errno == errno.EACCES:
        return ConfigError(
            f"no permission to listen on port {port} (ports below 1024 need privileges); "
            "pick another with --port"
        )
    if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
        return ConfigError(f"cannot listen on {host}: not an address of this machine; check --host")
    return None


async def serve(
    location: StoreLocation,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    header_timeout: float = P.HEADER_TIMEOUT,
    body_timeout: float = P.BODY_IDLE_TIMEOUT,
    body_grace: float = P.BODY_GRACE,
    body_min_rate: float = P.BODY_MIN_RATE,
    ssl_context: ssl.SSLContext | None = None,
    insecure_anonymous: bool = False,
    direct_transfer: bool = True,
) -> None:
    """Serve the store at ``location`` until a termination signal; prints the bound URL once ready.

    ``header_timeout``: seconds a connection may take to send a request's headers (from
    connecting, or from the previous answer on a kept-alive connection) before it is closed.
    ``body_timeout``: seconds a request body may stall before the request is answered 408.
    ``body_grace`` / ``body_min_rate``: once a body has taken ``body_grace`` seconds, it
    must average ``body_min_rate`` bytes/s since it began, else the request is answered 408.
    ``ssl_context``: serve HTTPS with it (see :func:`server_ssl_context`).
    ``insecure_anonymous``: serve a store without users on a non-loopback address.
    ``direct_transfer``: hand out presigned object-store URLs (when the blob store can).

    Raises:
        ConfigError: the store has no user, ``host`` is not loopback and
            ``insecure_anonymous`` is false (see :func:`asyncart.server.auth.check_bind`).
    """
    timing = BodyTiming(idle=body_timeout, grace=body_grace, min_rate=body_min_rate)
    app = create_app(location, timing=timing, direct_transfer=direct_transfer)
    # SafeAppRunner: a malformed request's answer and log line never quote what it sent
    # (its Authorization header). A 4 MiB read buffer instead of aiohttp's 64 KiB: pack
    # uploads are multi-MiB bodies.
    # aiohttp's keep-alive timer runs from the connection's start (or its previous answer)
    # until a full request head has arrived, so it is also the slow-headers timeout.
    runner = SafeAppRunner(
        app,
        access_log=None,
        handle_signals=False,
        read_bufsize=4 << 20,
        keepalive_timeout=header_timeout,
    )
    try:
        await runner.setup()  # opens the store (the app's cleanup_ctx)
        has_users = await app[ACCOUNTS].has_users()
        check_bind(host, has_users=has_users, insecure_anonymous=insecure_anonymous)
        # Everything loaded so far lives as long as the server: move it out of the cyclic
        # collector's sight, so a full collection during a large commit walks only the
        # request's own objects (a full walk of the loaded modules stalled the loop ~0.1 s).
        gc.collect()
        gc.freeze()
        site = web.TCPSite(runner, host, port, backlog=1024, ssl_context=ssl_context)
        try:
            await site.start()
        except OSError as exc:
            explained = bind_error(exc, host, port)
            if explained is None:
                raise
            raise explained from None
    except BaseException:
        await runner.cleanup()  # closes whatever the failed start opened
        raise
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound_port = sockets[0].getsockname()[1] if sockets else port
    shown_host = f"[{host}]" if ":" in host else host
    scheme = "https" if ssl_context is not None else "http"
    where = location.root or location.description
    print(f"{READY_PREFIX}{scheme}://{shown_host}:{bound_port} (store {where})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        print("asyncart server stopped", file=sys.stderr, flush=True)
