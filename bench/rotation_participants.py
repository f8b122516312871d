"""The participants of one :mod:`bench.rotation`: each a command timed as its user runs it.

Every participant moves the same file and is one subprocess, timed from the
outside: ``wall_s`` is the process's wall time (start-up included, as a user
waits for it), ``client_cpu_s`` the CPU of the process tree it waited for,
``client_peak_rss`` the leader's VmHWM. A server's CPU and peak RSS are those of
its whole process tree over the run (:class:`bench.peers_common.TreeProbe`).
Each output is checked byte for byte outside the timed region (a wrong file
raises), then removed and the dirty pages flushed so the next participant starts
clean.

The asyncart commands run with ``--json``: the CLI's own account of the
transfer (its ``seconds``, bytes uploaded or downloaded) goes into ``extra``, a
push that did not upload every byte to its cold store raises, and
``start_up_and_exit_s`` is the process wall minus the CLI's ``seconds``.

- pull group: the ``asyncart pull`` CLI from a long-lived asyncart server whose
  store got the version at setup (its files read once, so they are in the page
  cache as nginx's file is), into a fresh directory; curl, aria2c -x16 and
  hf_transfer from nginx; the bare aiohttp download (it discards the bytes).
- push group: the ``asyncart push`` CLI to a cold store (a new server and store
  each rotation, started untimed; checked by pulling the version back, untimed);
  the bare aiohttp upload (the server discards the bytes); an O_DIRECT + fsync
  copy of the file into the directory the stores live in (:mod:`bench.direct_write`).
- embedded group: ``asyncart push`` into a new embedded store (``ASYNCART_DIR``)
  and ``asyncart pull`` from one filled at setup; ``cp SRC DST && sync``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import rotation_ratios as names
from bench.bare_http import READY
from bench.data import warm
from bench.measure import Measurement, Service, python_module, run_measured, service
from bench.peers_common import (
    TreeProbe,
    client_timeout,
    discard,
    find_binary,
    measured_run,
    missing,
    settle,
    verify_copy,
)
from bench.peers_nginx import client_version, nginx_clients, nginx_once, nginx_server

REPO = Path(__file__).resolve().parent.parent
ARTIFACT = "bench"
NGINX_PEERS = {"curl": names.CURL, "aria2c": names.ARIA2C, "hf_transfer": names.HF_TRANSFER}

RunOnce = Callable[[int], Measurement]  # rotation index -> one measured, verified run


@dataclass
class Participant:
    """One command of the rotation, or why it is skipped."""

    name: str
    group: str  # "pull", "push" or "embedded"
    tool: str
    run: RunOnce | None = None
    skipped: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


def asyncart_cli(*args: str) -> list[str]:
    """The ``asyncart`` command as installed beside this interpreter (else ``python -m``)."""
    script = Path(sys.executable).parent / "asyncart"
    return [str(script), *args] if script.exists() else python_module("asyncart", *args)


def cli_env(work: Path, store: Path | None = None) -> dict[str, str]:
    """The CLI's environment: no hash cache (cold pushes), no stray key or URL.

    With ``store`` the embedded store in that directory is used.
    """
    env = {
        "ASYNCART_HASH_CACHE": "0",
        "ASYNCART_CACHE_DIR": str(work / "cli-cache"),
        "ASYNCART_CONFIG_DIR": str(work / "cli-config"),
        "ASYNCART_URL": "",
    }
    if store is not None:
        env["ASYNCART_DIR"] = str(store)
    return env


def push_args(source: Path, url: str | None) -> list[str]:
    """``asyncart push SOURCE -n bench -t bench --json [--url URL]``."""
    where = ["--url", url] if url else []
    return asyncart_cli("push", str(source), "-n", ARTIFACT, "-t", "bench", "--json", *where)


def pull_args(out: Path, url: str | None) -> list[str]:
    """``asyncart pull bench -o OUT --json [--url URL]``."""
    return asyncart_cli(
        "pull", ARTIFACT, "-o", str(out), "--json", *(["--url", url] if url else [])
    )


def note_cli(m: Measurement, out: str, what: str, cold: bool = False) -> Measurement:
    """Add the CLI's own ``--json`` account to ``m``; raise if it moved the wrong bytes.

    ``cli_seconds`` is the transfer as the CLI times it, so ``start_up_and_exit_s``
    (process wall minus that) is what interpreter start-up, imports and exit cost.
    With ``cold`` every byte must have been uploaded (the store held none of them).
    """
    report = json.loads(out[out.index("{") :])
    if report["size"] != m.nbytes:
        raise RuntimeError(f"{what}: the CLI reports {report['size']} bytes, expected {m.nbytes}")
    if cold and report["bytes_uploaded"] != m.nbytes:
        raise RuntimeError(f"{what}: uploaded {report['bytes_uploaded']} bytes to a cold store")
    m.extra.update(
        cli_seconds=report["seconds"],
        start_up_and_exit_s=m.wall_s - float(report["seconds"]),
        concurrency=report.get("concurrency"),
        bytes_uploaded=report.get("bytes_uploaded"),
        bytes_downloaded=report.get("bytes_downloaded"),
        bytes_reused=report.get("bytes_reused"),
    )
    return m


def asyncart_server(stack: ExitStack, store: Path) -> tuple[Service, TreeProbe]:
    """A started, idle asyncart server on a new store ``store`` (stopped by ``stack``)."""
    svc = stack.enter_context(
        service(
            asyncart_cli(
                "server", "--root", str(store), "--init", "--host", "127.0.0.1", "--port", "0"
            ),
            ready="asyncart server listening on",
        )
    )
    probe = TreeProbe(svc)
    settle(probe, timeout=30)
    return svc, probe


def plain_run(
    args: list[str], nbytes: int, env: dict[str, str] | None = None
) -> tuple[Measurement, str]:
    """A participant with no server: the process alone, measured from outside; its stdout."""
    wall, cpu, rss, out = run_measured(args, env=env, cwd=REPO, timeout=client_timeout(nbytes))
    return Measurement(wall_s=wall, nbytes=nbytes, client_cpu_s=cpu, client_peak_rss=rss), out


def pull_back(work: Path, source: Path, url: str | None, env: dict[str, str], what: str) -> None:
    """Check a push untimed: pull the version into a new directory and compare bytes."""
    out = work / "push-check"
    run_measured(pull_args(out, url), env=env, timeout=client_timeout(source.stat().st_size))
    verify_copy(out / source.name, source, what)
    discard(out)


# --------------------------------------------------------------------------- groups


def pull_group(stack: ExitStack, source: Path, work: Path, peers: bool) -> list[Participant]:
    """asyncart pull, the nginx peers, the bare download (servers started on ``stack``)."""
    size, env = source.stat().st_size, cli_env(work)
    svc, probe = asyncart_server(stack, work / "pull-store")
    run_measured(push_args(source, svc.url), env=env, timeout=client_timeout(size))
    warm(work / "pull-store")

    def asyncart_pull(i: int) -> Measurement:
        out = work / f"pull-out-{i}"
        m, printed = measured_run(pull_args(out, svc.url), probe, size, env)
        verify_copy(out / source.name, source, names.PULL)
        discard(out)
        return note_cli(m, printed, names.PULL)

    found = [
        Participant(names.PULL, "pull", "asyncart", asyncart_pull, params={"cli": "asyncart pull"})
    ]
    found += nginx_group(stack, source, work / "nginx", peers)
    bare, bare_probe = bare_server(stack)
    found.append(
        bare_participant(names.BARE_DOWNLOAD, "pull", "download", bare, bare_probe, source)
    )
    found.append(bare_participant(names.BARE_UPLOAD, "push", "upload", bare, bare_probe, source))
    return found


def _why_skipped(wanted: bool, nginx: str | None, tool: str, version: str | None) -> str | None:
    if not wanted:
        return "peers not wanted (--no-peers)"
    if nginx is None:
        return missing("nginx")
    return None if version else missing(tool)


def nginx_group(stack: ExitStack, source: Path, work: Path, wanted: bool) -> list[Participant]:
    """curl, aria2c -x16 and hf_transfer from one nginx (skipped if not installed or wanted)."""
    nginx = find_binary("nginx") if wanted else None
    clients = [c for c in nginx_clients(source.name) if c[1] in NGINX_PEERS]
    peers = []
    for _, tool, _, params in clients:
        version = client_version(tool) if wanted else None
        skipped = _why_skipped(wanted, nginx, tool, version)
        peers.append(
            Participant(
                NGINX_PEERS[tool], "pull", tool, None, skipped, {**params, "version": version}
            )
        )
    if nginx is None or all(p.skipped for p in peers):
        return peers
    work.mkdir(parents=True, exist_ok=True)
    svc, probe, log = stack.enter_context(nginx_server(nginx, work, source))
    for peer, (case, _, make, _) in zip(peers, clients, strict=True):
        if not peer.skipped:
            peer.run = nginx_once(case, make, svc.url, work, source, probe, log)
    return peers


def bare_server(stack: ExitStack) -> tuple[Service, TreeProbe]:
    """The bare aiohttp server of :mod:`bench.bare_http` (stopped by ``stack``)."""
    args = python_module("bench.bare_http", "serve", "--port", "0")
    svc = stack.enter_context(service(args, ready=READY, cwd=REPO))
    return svc, TreeProbe(svc)


def bare_participant(
    name: str, group: str, direction: str, svc: Service, probe: TreeProbe, source: Path
) -> Participant:
    """The bare aiohttp ``direction`` of ``source``: one stream, the bytes discarded."""
    size = source.stat().st_size
    args = python_module("bench.bare_http", direction, svc.url, str(source), "--streams", "1")

    def once(_: int) -> Measurement:
        m, out = measured_run(args, probe, size)
        report = json.loads(out.strip().splitlines()[-1])
        if report["bytes"] != size:
            raise RuntimeError(f"{name} moved {report['bytes']} bytes, expected {size}")
        m.extra.update(transfer_wall_s=report["wall_s"], transfer_cpu_s=report["cpu_s"])
        return m

    return Participant(name, group, "aiohttp", once, params={"streams": 1, "discards": True})


def push_group(source: Path, work: Path) -> list[Participant]:
    """asyncart push to a cold server store; the O_DIRECT + fsync write beside the stores."""
    size, env = source.stat().st_size, cli_env(work)

    def asyncart_push(i: int) -> Measurement:
        store = work / f"push-store-{i}"
        try:
            with ExitStack() as stack:
                svc, probe = asyncart_server(stack, store)
                m, printed = measured_run(push_args(source, svc.url), probe, size, env)
                pull_back(work, source, svc.url, env, names.PUSH)
        finally:
            discard(store)
        note_cli(m, printed, names.PUSH, cold=True)
        return m

    def direct_write(i: int) -> Measurement:
        dest = work / f"direct-{i}.bin"
        args = python_module("bench.direct_write", str(source), str(dest))
        m, out = plain_run(args, size)
        report = json.loads(out.strip().splitlines()[-1])
        verify_copy(dest, source, names.DIRECT_WRITE)
        discard(dest)
        m.extra.update(
            o_direct=report["o_direct"],
            transfer_wall_s=report["wall_s"],
            transfer_cpu_s=report["cpu_s"],
        )
        return m

    return [
        Participant(names.PUSH, "push", "asyncart", asyncart_push, params={"cli": "asyncart push"}),
        Participant(
            names.DIRECT_WRITE,
            "push",
            "python",
            direct_write,
            params={"method": "O_DIRECT writes from a 16 MiB aligned buffer, fsync file + dir"},
        ),
    ]


def embedded_group(source: Path, work: Path) -> list[Participant]:
    """asyncart push / pull with the embedded store, and ``cp`` + ``sync``."""
    size = source.stat().st_size
    filled = work / "embedded-pull-store"
    run_measured(push_args(source, None), env=cli_env(work, filled), timeout=client_timeout(size))
    warm(filled)

    def push(i: int) -> Measurement:
        store = work / f"embedded-push-store-{i}"
        env = cli_env(work, store)
        try:
            m, printed = plain_run(push_args(source, None), size, env)
            pull_back(work, source, None, env, names.EMBEDDED_PUSH)
        finally:
            discard(store)
        note_cli(m, printed, names.EMBEDDED_PUSH, cold=True)
        return m

    def pull(i: int) -> Measurement:
        out = work / f"embedded-pull-out-{i}"
        m, printed = plain_run(pull_args(out, None), size, cli_env(work, filled))
        verify_copy(out / source.name, source, names.EMBEDDED_PULL)
        discard(out)
        return note_cli(m, printed, names.EMBEDDED_PULL)

    def cp_sync(i: int) -> Measurement:
        dest = work / f"cp-{i}.bin"
        m, _ = plain_run(
            ["sh", "-c", 'cp -- "$1" "$2" && sync', "sh", str(source), str(dest)], size
        )
        verify_copy(dest, source, names.CP_SYNC)
        discard(dest)
        return m

    return [
        Participant(names.EMBEDDED_PUSH, "embedded", "asyncart", push),
        Participant(names.EMBEDDED_PULL, "embedded", "asyncart", pull),
        Participant(
            names.CP_SYNC, "embedded", "cp", cp_sync, params={"command": "cp SRC DST && sync"}
        ),
    ]


def participants(
    stack: ExitStack, source: Path, work: Path, peers: bool = True
) -> list[Participant]:
    """Every participant, set up (long-lived servers on ``stack``), in a fixed order.

    Without ``peers`` the nginx clients are skipped participants.
    """
    work.mkdir(parents=True, exist_ok=True)
    return [
        *pull_group(stack, source, work, peers),
        *push_group(source, work),
        *embedded_group(source, work),
    ]
