"""Helpers for the peer benchmarks (:mod:`bench.peers`): tools, servers, probes, checks."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.measure import (
    CaseResult,
    Measurement,
    Service,
    cpu_seconds,
    peak_rss,
    reset_peak_rss,
    run_measured,
)

BENCH = Path(__file__).resolve().parent
#: The peers' own venv (MLflow, hf_transfer): ``bench/.venv-peers`` unless
#: ``ASYNCART_BENCH_PEERS_VENV`` names another (e.g. a worktree using the main checkout's).
PEERS_VENV = Path(os.environ.get("ASYNCART_BENCH_PEERS_VENV") or BENCH / ".venv-peers")
PEERS_PYTHON = PEERS_VENV / "bin" / "python"
CLIENT = BENCH / "peers_client.py"
SETUP_HINT = "run bench/setup-peers.sh"
PUSH, PULL = "peer-push", "peer-pull"
MiB = 1024 * 1024

RunOnce = Callable[[int], Measurement]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_binary(name: str) -> str | None:
    """Path of an executable, also looking in the sbin directories (nginx lives there)."""
    extra = os.pathsep.join(["/usr/sbin", "/usr/local/sbin", "/sbin"])
    return shutil.which(name, path=os.environ.get("PATH", "") + os.pathsep + extra)


def venv_has(module: str) -> bool:
    """Whether the peers venv exists and can import ``module`` (found, not imported)."""
    if not PEERS_PYTHON.exists():
        return False
    probe = f"import importlib.util,sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([str(PEERS_PYTHON), "-c", probe], capture_output=True).returncode == 0


def missing(tool: str) -> str:
    """The ``skipped`` text of a case whose tool is not installed."""
    return f"{tool} not installed: {SETUP_HINT}"


def tool_version(args: list[str]) -> str:
    """First line of a tool's version output ("?" if it fails)."""
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0] if lines else "?"


def client_timeout(nbytes: int) -> float:
    """Generous client timeout: 30 min, or 5 MB/s, whichever is longer."""
    return max(1800.0, nbytes / 5e6)


@dataclass
class TreeProbe:
    """CPU and peak RSS of a server's whole process tree (leader + all descendants).

    :meth:`Service.begin`/:meth:`Service.end` see only the leader: nginx's
    workers and MLflow's uvicorn workers are its children and are not reaped
    while it runs, so their CPU would be missed. Peak RSS here is the sum of
    each process's VmHWM since :meth:`begin` (an upper bound of the tree's peak,
    counting shared pages once per process); ``largest`` is the biggest single one.
    """

    service: Service
    cpu_before: dict[int, float] = field(default_factory=dict)

    def processes(self) -> list[psutil.Process]:
        """The leader and all of its live descendants."""
        leader = psutil.Process(self.service.pid)
        return [leader, *leader.children(recursive=True)]

    def begin(self) -> None:
        """Reset every process's peak RSS and remember its CPU so far."""
        self.cpu_before = {}
        for proc in self.processes():
            reset_peak_rss(proc.pid)
            with suppress(psutil.NoSuchProcess):
                self.cpu_before[proc.pid] = cpu_seconds(proc.pid)

    def end(self) -> tuple[float, int | None, dict[str, int]]:
        """(CPU s since begin, summed peak RSS, extra) of the tree."""
        cpu, rss, largest, count = 0.0, 0, 0, 0
        for proc in self.processes():
            try:
                cpu += cpu_seconds(proc.pid) - self.cpu_before.get(proc.pid, 0.0)
            except psutil.NoSuchProcess:
                continue
            peak = peak_rss(proc.pid) or 0
            rss, largest, count = rss + peak, max(largest, peak), count + 1
        extra = {"server_processes": count, "server_peak_rss_largest": largest}
        return cpu, rss or None, extra


@contextmanager
def reaping(svc: Service) -> Iterator[Service]:
    """Yield ``svc``; on exit also kill descendants that left its process group."""
    try:
        yield svc
    finally:
        try:
            tree = psutil.Process(svc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            tree = []
        for proc in tree:
            with suppress(psutil.NoSuchProcess):
                proc.terminate()
        svc.process.terminate()
        with suppress(subprocess.TimeoutExpired):  # else service() SIGKILLs the group
            svc.process.wait(timeout=20)
        _, alive = psutil.wait_procs(tree, timeout=10)
        for proc in alive:
            with suppress(psutil.NoSuchProcess):
                proc.kill()


def wait_http(url: str, timeout: float, ok: Callable[[int], bool] = lambda s: s < 500) -> None:
    """Poll ``url`` until it answers with an acceptable status, or raise."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if ok(resp.status):
                    return
                last = resp.status
        except urllib.error.HTTPError as err:
            if ok(err.code):
                return
            last = err.code
        except OSError as err:
            last = err
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not answer in {timeout:.0f}s: {last}")


def measured_run(
    args: list[str], probe: TreeProbe, nbytes: int, env: dict[str, str] | None = None
) -> tuple[Measurement, str]:
    """Run one client command against a probed server; return its measurement and stdout."""
    probe.begin()
    wall, cpu, rss, out = run_measured(args, env=env, timeout=client_timeout(nbytes))
    server_cpu, server_rss, extra = probe.end()
    m = Measurement(
        wall_s=wall,
        nbytes=nbytes,
        client_cpu_s=cpu,
        client_peak_rss=rss,
        server_cpu_s=server_cpu,
        server_peak_rss=server_rss,
        extra=dict(extra),
    )
    return m, out


def verify_copy(result: Path, source: Path, what: str) -> None:
    """Raise unless ``result`` has the size and bytes of ``source`` (run outside timing)."""
    if not result.is_file():
        raise RuntimeError(f"{what}: no file at {result}")
    size, want = result.stat().st_size, source.stat().st_size
    if size != want:
        raise RuntimeError(f"{what}: {result} has {size} bytes, expected {want}")
    if subprocess.run(["cmp", "-s", str(result), str(source)]).returncode != 0:
        raise RuntimeError(f"{what}: {result} differs from {source}")


def discard(path: Path) -> None:
    """Remove a file or tree and flush dirty pages, so the next run starts clean."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    os.sync()


def link_or_copy(source: Path, dest: Path) -> None:
    """Hard-link ``source`` to ``dest`` (same page cache); copy across file systems."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, dest)
    except OSError:
        shutil.copyfile(source, dest)


NGINX_CONF = """\
user root;
daemon off;
worker_processes auto;
pid {work}/nginx.pid;
error_log {work}/error.log notice;
error_log stderr notice;
events {{ worker_connections 1024; }}
http {{
    log_format bench '$status $body_bytes_sent';
    access_log {work}/access.log bench;
    client_body_temp_path {work}/tmp/body;
    proxy_temp_path {work}/tmp/proxy;
    fastcgi_temp_path {work}/tmp/fastcgi;
    uwsgi_temp_path {work}/tmp/uwsgi;
    scgi_temp_path {work}/tmp/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ return 404; }}
        location = "/{name}" {{ }}
    }}
}}
"""


def nginx_args(nginx: str, work: Path, source: Path, port: int) -> list[str]:
    """Write a minimal nginx config serving ``source`` alone (sendfile, ranges); its command."""
    (work / "tmp").mkdir(parents=True, exist_ok=True)
    conf = work / "nginx.conf"
    conf.write_text(NGINX_CONF.format(work=work, root=source.parent, name=source.name, port=port))
    return [nginx, "-p", str(work), "-c", str(conf), "-e", str(work / "error.log")]


@dataclass
class AccessLog:
    """Requests and body bytes nginx logged since :meth:`mark` (format ``status bytes``)."""

    path: Path
    offset: int = 0

    def mark(self) -> None:
        """Remember the current end of the log."""
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def since_mark(self, timeout: float = 5.0) -> tuple[int, int]:
        """(requests, body bytes sent) logged since :meth:`mark`.

        nginx writes a line when it finalises a request, which can be just after the
        client exits: poll until lines are there and their count stops changing.
        """
        deadline = time.monotonic() + timeout
        rows: list[list[str]] = []
        while True:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                lines = f.read().decode().split("\n")
            now = [line.split() for line in lines if line.strip()]
            if (now and len(now) == len(rows)) or time.monotonic() > deadline:
                rows = now
                break
            rows = now
            time.sleep(0.1)
        return len(rows), sum(int(r[1]) for r in rows)


def fill(case: CaseResult, repeats: int, once: RunOnce) -> CaseResult:
    """Append ``repeats`` measurements of ``once(i)`` to ``case``."""
    case.runs.extend(once(i) for i in range(repeats))
    return case


def last_json(out: str) -> dict[str, Any]:
    """The last JSON object line a client printed."""
    line = next(x for x in reversed(out.splitlines()) if x.startswith("{"))
    return dict(json.loads(line))


def settle(probe: TreeProbe, timeout: float = 180) -> None:
    """Wait until the server tree is idle (workers done starting up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        probe.begin()
        time.sleep(0.5)
        if probe.end()[0] < 0.05:
            return
