"""Peers: the tools a user would pick instead of asyncart, on the same file and machine.

Pushes (group ``peer-push``): MLflow's artifact proxy (``mlflow server
--serve-artifacts``) and rclone to ``rclone serve webdav``. Pulls (group
``peer-pull``): the same two back, plus curl, aria2c, hf_transfer and rclone's
http backend from nginx serving the file with sendfile and Range support.

Every server binds 127.0.0.1 on a free port and is stopped afterwards. The
client is measured by :func:`bench.measure.run_measured`; the server over its
whole process tree by :class:`bench.peers_common.TreeProbe`. Every result is
checked for size and bytes outside the timed region; a wrong file raises.
A peer that is not installed is a skipped case, never a missing one.

Manual check: ``python -m bench.peers /path/to/file [repeats] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.measure import CaseResult, Measurement, Service, dump, service
from bench.peers_common import (
    CLIENT, PEERS_PYTHON, PEERS_VENV, AccessLog, TreeProbe, discard, find_binary, free_port,
    link_or_copy, measured_run, missing, nginx_args, reaping, tool_version, venv_has, verify_copy,
    wait_http,
)

PUSH, PULL = "peer-push", "peer-pull"
MiB = 1024 * 1024
STREAMS = 4  # rclone --multi-thread-streams
RCLONE_FLAGS = ["--multi-thread-streams", str(STREAMS), "--multi-thread-cutoff", "16Mi",
                "--retries", "1", "--log-level", "INFO"]
HF = {"max_files": 16, "chunk_size": 10 * MiB, "parallel_failures": 3, "max_retries": 5}
MLFLOW_ENV = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "3600", "PYTHONUNBUFFERED": "1"}
# The job runner (7 huey consumer processes by default in MLflow 3) has nothing to
# do with artifacts; disabled so the server tree measured is the artifact server.
MLFLOW_SERVER_ENV = {**MLFLOW_ENV, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}

RunOnce = Callable[[int], Measurement]


def run_peer_pushes(workdir: Path, source: Path, repeats: int) -> list[CaseResult]:
    """Push ``source`` with each peer ``repeats`` times (group ``peer-push``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    return [mlflow_push(workdir / "mlflow-push", source, repeats),
            rclone_webdav_push(workdir / "rclone-push", source, repeats)]


def run_peer_pulls(workdir: Path, source: Path, repeats: int) -> list[CaseResult]:
    """Pull ``source`` with each peer ``repeats`` times (group ``peer-pull``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    return [mlflow_pull(workdir / "mlflow-pull", source, repeats),
            rclone_webdav_pull(workdir / "rclone-pull", source, repeats),
            *nginx_pulls(workdir / "nginx", source, repeats)]


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


# --- MLflow -------------------------------------------------------------------------------

def mlflow_case(name: str, group: str, size: int) -> CaseResult:
    """A MLflow case, skipped if the peers venv has no mlflow."""
    case = CaseResult(name=name, group=group, tool="mlflow", size=size, params={
        "server": "mlflow server --serve-artifacts (uvicorn, default workers), sqlite backend",
        "job_execution": False, "client": "peers venv python, one process per run"})
    if not venv_has("mlflow"):
        case.skipped = missing("mlflow")
    else:
        case.params["version"] = tool_version([str(PEERS_PYTHON), "-c",
                                               "import mlflow; print(mlflow.__version__)"])
    return case


@contextmanager
def mlflow_server(work: Path) -> Iterator[tuple[Service, TreeProbe, Path]]:
    """A fresh MLflow tracking server proxying artifacts to ``work/artifacts``."""
    work.mkdir(parents=True, exist_ok=True)
    port, artifacts = free_port(), work / "artifacts"
    args = [str(PEERS_VENV / "bin" / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
            "--serve-artifacts", "--artifacts-destination", str(artifacts),
            "--backend-store-uri", f"sqlite:///{work}/mlflow.db"]
    with service(args, ready="Uvicorn running on", url=f"http://127.0.0.1:{port}",
                 env=MLFLOW_SERVER_ENV, timeout=300, cwd=work) as svc, reaping(svc):
        wait_http(svc.url + "/health", timeout=300, ok=lambda status: status == 200)
        probe = TreeProbe(svc)
        settle(probe)
        yield svc, probe, artifacts


def mlflow_push_args(url: str, source: Path) -> list[str]:
    """Client command: create a run and log ``source`` under artifact dir ``data``."""
    return [str(PEERS_PYTHON), str(CLIENT), "mlflow-push", url, str(source), "data"]


def stored_artifact(artifacts: Path, info: dict[str, Any], name: str) -> Path:
    """Where the server stored a pushed artifact (``mlflow-artifacts:/<exp>/<run>/artifacts``)."""
    uri = str(info["artifact_uri"])
    if not uri.startswith("mlflow-artifacts:"):
        raise RuntimeError(f"mlflow: run not proxied through the server: {uri}")
    return artifacts / uri.removeprefix("mlflow-artifacts:").lstrip("/") / "data" / name


def mlflow_push(work: Path, source: Path, repeats: int) -> CaseResult:
    """``mlflow.log_artifact`` of ``source`` in a new run, through the artifact proxy."""
    size = source.stat().st_size
    case = mlflow_case("mlflow push", PUSH, size)
    if case.skipped:
        return case
    with mlflow_server(work) as (svc, probe, artifacts):
        def once(i: int) -> Measurement:
            m, out = measured_run(mlflow_push_args(svc.url, source), probe, size, env=MLFLOW_ENV)
            info = last_json(out)
            m.extra["transfer_s"] = info["transfer_s"]
            stored = stored_artifact(artifacts, info, source.name)
            verify_copy(stored, source, "mlflow push")
            discard(stored.parent.parent.parent)  # the run's directory
            return m
        return fill(case, repeats, once)


def mlflow_pull(work: Path, source: Path, repeats: int) -> CaseResult:
    """``mlflow.artifacts.download_artifacts`` of a file pushed (untimed) beforehand."""
    size = source.stat().st_size
    case = mlflow_case("mlflow pull", PULL, size)
    if case.skipped:
        return case
    with mlflow_server(work) as (svc, probe, _):
        setup = subprocess.run(mlflow_push_args(svc.url, source), env={**os.environ, **MLFLOW_ENV},
                               capture_output=True, text=True, check=True)
        run_id = last_json(setup.stdout)["run_id"]
        settle(probe)

        def once(i: int) -> Measurement:
            dst = work / f"out-{i}"
            dst.mkdir()
            args = [str(PEERS_PYTHON), str(CLIENT), "mlflow-pull", svc.url, run_id,
                    f"data/{source.name}", str(dst)]
            m, out = measured_run(args, probe, size, env=MLFLOW_ENV)
            info = last_json(out)
            m.extra["transfer_s"] = info["transfer_s"]
            verify_copy(Path(info["path"]), source, "mlflow pull")
            discard(dst)
            return m
        return fill(case, repeats, once)


# --- rclone webdav ------------------------------------------------------------------------

def rclone_case(name: str, group: str, size: int, **params: Any) -> tuple[CaseResult, str | None]:
    """A rclone case and the rclone binary (skipped if there is none)."""
    rclone = find_binary("rclone")
    case = CaseResult(name=name, group=group, tool="rclone", size=size, params={
        "flags": " ".join(RCLONE_FLAGS), **params})
    if rclone is None:
        case.skipped = missing("rclone")
    else:
        case.params["version"] = tool_version([rclone, "version"])
    return case, rclone


@contextmanager
def rclone_webdav(rclone: str, work: Path) -> Iterator[tuple[Service, TreeProbe, Path]]:
    """``rclone serve webdav`` of ``work/root``; yields (service, probe, served root)."""
    root, port = work / "root", free_port()
    root.mkdir(parents=True, exist_ok=True)
    args = [rclone, "serve", "webdav", str(root), "--addr", f"127.0.0.1:{port}",
            "--config", rclone_config(work)]
    with service(args, ready="WebDav Server started", url=f"http://127.0.0.1:{port}/",
                 timeout=60) as svc, reaping(svc):
        yield svc, TreeProbe(svc), root


def rclone_config(work: Path) -> str:
    """An empty rclone config file (remotes are given on the command line)."""
    conf = work / "rclone.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.touch()
    return str(conf)


def rclone_args(rclone: str, work: Path, src: str, dst: str, i: int, *extra: str) -> list[str]:
    """``rclone copy src dst`` with the benchmark's flags and a per-run INFO log."""
    return [rclone, "copy", src, dst, *extra, *RCLONE_FLAGS, "--config", rclone_config(work),
            "--log-file", str(work / f"rclone-{i}.log")]


def multi_thread_used(work: Path, i: int) -> bool:
    """Whether rclone's log of run ``i`` says it used a multi-thread copy."""
    log = work / f"rclone-{i}.log"
    return log.exists() and "multi-thread copy" in log.read_text(errors="replace")


def rclone_webdav_push(work: Path, source: Path, repeats: int) -> CaseResult:
    """``rclone copy`` to ``rclone serve webdav`` (one PUT: rclone 1.60 has no multi-thread upload)."""
    size = source.stat().st_size
    case, rclone = rclone_case("rclone webdav push", PUSH, size,
                               multi_thread_upload="not in rclone < 1.64; flags only affect downloads")
    if rclone is None:
        return case
    with rclone_webdav(rclone, work) as (svc, probe, root):
        def once(i: int) -> Measurement:
            args = rclone_args(rclone, work, str(source), f":webdav:push-{i}", i,
                               "--webdav-url", svc.url)
            m, _ = measured_run(args, probe, size)
            m.extra["multi_thread"] = multi_thread_used(work, i)
            verify_copy(root / f"push-{i}" / source.name, source, "rclone webdav push")
            discard(root / f"push-{i}")
            return m
        return fill(case, repeats, once)


def rclone_webdav_pull(work: Path, source: Path, repeats: int) -> CaseResult:
    """``rclone copy`` from ``rclone serve webdav`` with multi-thread (ranged) download."""
    size = source.stat().st_size
    case, rclone = rclone_case("rclone webdav pull", PULL, size)
    if rclone is None:
        return case
    with rclone_webdav(rclone, work) as (svc, probe, root):
        link_or_copy(source, root / "data" / source.name)

        def once(i: int) -> Measurement:
            dst = work / f"out-{i}"
            args = rclone_args(rclone, work, f":webdav:data/{source.name}", str(dst), i,
                               "--webdav-url", svc.url)
            m, _ = measured_run(args, probe, size)
            m.extra["multi_thread"] = multi_thread_used(work, i)
            verify_copy(dst / source.name, source, "rclone webdav pull")
            discard(dst)
            return m
        return fill(case, repeats, once)


# --- pulls from nginx ---------------------------------------------------------------------

@contextmanager
def nginx_server(nginx: str, work: Path, root: Path) -> Iterator[tuple[Service, TreeProbe, AccessLog]]:
    """nginx (master + workers) serving ``root`` with sendfile and byte ranges."""
    port = free_port()
    args = nginx_args(nginx, work, root, port)
    with service(args, ready="start worker process", url=f"http://127.0.0.1:{port}",
                 timeout=60) as svc, reaping(svc):
        wait_http(svc.url + "/", timeout=30)
        probe = TreeProbe(svc)
        settle(probe)
        yield svc, probe, AccessLog(work / "access.log")


MakeArgs = Callable[[str, Path], list[str]]  # (server base URL, output dir) -> command


def nginx_clients(name: str) -> list[tuple[str, str, MakeArgs, dict[str, Any]]]:
    """(case name, tool, command maker, params) of each client pulling file ``name``."""
    aria = ["-x16", "-s16", "-k1M", "--file-allocation=none", "--allow-overwrite=true"]
    hf = [str(HF[k]) for k in ("max_files", "chunk_size", "parallel_failures", "max_retries")]
    path = urllib.parse.quote(name)
    return [
        ("curl pull", "curl",
         lambda base, d: ["curl", "-sS", "--fail", "-o", str(d / name), f"{base}/{path}"],
         {"flags": "-sS --fail", "streams": 1}),
        ("aria2c -x16 pull", "aria2c",
         lambda base, d: ["aria2c", *aria, "--no-conf", "-q", "-d", str(d), "-o", name,
                          f"{base}/{path}"],
         {"flags": " ".join(aria)}),
        ("hf_transfer pull", "hf_transfer",
         lambda base, d: [str(PEERS_PYTHON), str(CLIENT), "hf-pull", f"{base}/{path}",
                          str(d / name), *hf],
         dict(HF)),
        ("rclone http pull", "rclone",
         lambda base, d: ["rclone", "copy", "--http-url", f"{base}/", f":http:{name}", str(d),
                          *RCLONE_FLAGS, "--config", rclone_config(d.parent),
                          "--log-file", str(d.parent / f"{d.name}.log")],
         {"flags": " ".join(RCLONE_FLAGS)}),
    ]


def client_version(tool: str) -> str | None:
    """Version of an nginx pull client, or None if it is not installed."""
    if tool == "hf_transfer":
        if not venv_has("hf_transfer"):
            return None
        return tool_version([str(PEERS_PYTHON), "-c",
                             "import importlib.metadata as m; print(m.version('hf_transfer'))"])
    binary = find_binary(tool)
    if binary is None:
        return None
    return tool_version([binary, "version" if tool == "rclone" else "--version"])


def nginx_pulls(work: Path, source: Path, repeats: int) -> list[CaseResult]:
    """Pull ``source`` from nginx with curl, aria2c, hf_transfer and rclone http."""
    size, nginx = source.stat().st_size, find_binary("nginx")
    work.mkdir(parents=True, exist_ok=True)
    cases: list[tuple[CaseResult, MakeArgs]] = []
    for name, tool, make, params in nginx_clients(source.name):
        case = CaseResult(name=name, group=PULL, tool=tool, size=size,
                          params={**params, "server": "nginx sendfile, worker_processes auto"})
        version = client_version(tool)
        case.skipped = (missing("nginx") if nginx is None
                        else missing(tool) if version is None else None)
        case.params["version"] = version
        cases.append((case, make))
    if nginx is None or all(c.skipped for c, _ in cases):
        return [c for c, _ in cases]
    with nginx_server(nginx, work, source.parent) as (svc, probe, log):
        for case, make in cases:
            if not case.skipped:
                case.params["server_version"] = tool_version([nginx, "-v"])
                fill(case, repeats, nginx_once(case.name, make, svc.url, work, source, probe, log))
    return [c for c, _ in cases]


def nginx_once(name: str, make: MakeArgs, base: str, work: Path, source: Path,
               probe: TreeProbe, log: AccessLog) -> RunOnce:
    """One measured pull from nginx into a fresh directory, checked, then removed."""
    slug = name.split()[0].replace("_", "-")

    def once(i: int) -> Measurement:
        dst = work / f"out-{slug}-{i}"
        dst.mkdir()
        args = make(base, dst)
        log.mark()
        m, _ = measured_run(args, probe, source.stat().st_size)
        m.requests, m.wire_bytes = log.since_mark()
        if "rclone" in name:
            m.extra["multi_thread"] = "multi-thread copy" in (work / f"{dst.name}.log").read_text()
        verify_copy(dst / source.name, source, name)
        discard(dst)
        return m
    return once


# --- manual check -------------------------------------------------------------------------

def mib(value: float | None) -> str:
    """Bytes as MiB for the table."""
    return "-" if value is None else f"{value / MiB:.0f}"


def table(results: list[CaseResult]) -> str:
    """A plain-text table of median figures (or why a case was skipped)."""
    head = f"{'case':<22} {'MB/s':>8} {'cli CPU s':>9} {'srv CPU s':>9} {'cli MiB':>8} {'srv MiB':>8}"
    rows = [head, "-" * len(head)]
    for r in results:
        if r.skipped:
            rows.append(f"{r.name:<22} skipped: {r.skipped}")
            continue
        med = r.to_json()["median"]
        cpu = (lambda v: "-" if v is None else f"{v:.2f}")
        rows.append(f"{r.name:<22} {med['mb_s']:>8.0f} {cpu(med['client_cpu_s']):>9} "
                    f"{cpu(med['server_cpu_s']):>9} {mib(med['client_peak_rss']):>8} "
                    f"{mib(med['server_peak_rss']):>8}")
    return "\n".join(rows)


def warm(path: Path) -> None:
    """Read a file once so it is in the page cache."""
    with path.open("rb") as f:
        while f.read(8 * MiB):
            pass


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.peers FILE [REPEATS] [--json OUT]``: run all peers, print a table."""
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__)
    parser.add_argument("file", type=Path)
    parser.add_argument("repeats", type=int, nargs="?", default=1)
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    opts = parser.parse_args(argv)
    source = opts.file.resolve()
    warm(source)
    workdir = Path(tempfile.mkdtemp(prefix="asyncart-peers-"))
    try:
        results = run_peer_pushes(workdir / "push", source, opts.repeats)
        results += run_peer_pulls(workdir / "pull", source, opts.repeats)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{source} ({source.stat().st_size / MiB:.0f} MiB), median of {opts.repeats}")
    print(table(results))
    if opts.json:
        dump(opts.json, [r.to_json() for r in results])


if __name__ == "__main__":
    main(sys.argv[1:])
