"""Pulls from nginx (sendfile, byte ranges): curl, aria2c, hf_transfer, rclone http.

See :mod:`bench.peers`. nginx is measured over master + workers.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.measure import CaseResult, Measurement, Service, service
from bench.peers_common import (
    CLIENT,
    PEERS_PYTHON,
    PULL,
    AccessLog,
    MiB,
    RunOnce,
    TreeProbe,
    discard,
    fill,
    find_binary,
    free_port,
    measured_run,
    missing,
    nginx_args,
    reaping,
    settle,
    tool_version,
    venv_has,
    verify_copy,
    wait_http,
)
from bench.peers_rclone import RCLONE_FLAGS, rclone_config, streams_used

HF = {"max_files": 16, "chunk_size": 10 * MiB, "parallel_failures": 3, "max_retries": 5}


@contextmanager
def nginx_server(
    nginx: str, work: Path, source: Path
) -> Iterator[tuple[Service, TreeProbe, AccessLog]]:
    """nginx (master + workers) serving only ``source``, with sendfile and byte ranges."""
    port = free_port()
    args = nginx_args(nginx, work, source, port)
    with (
        service(
            args, ready="start worker process", url=f"http://127.0.0.1:{port}", timeout=60
        ) as svc,
        reaping(svc),
    ):
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
        (
            "curl pull",
            "curl",
            lambda base, d: ["curl", "-sS", "--fail", "-o", str(d / name), f"{base}/{path}"],
            {"flags": "-sS --fail", "streams": 1},
        ),
        (
            "aria2c -x16 pull",
            "aria2c",
            lambda base, d: [
                "aria2c",
                *aria,
                "--no-conf",
                "-q",
                "-d",
                str(d),
                "-o",
                name,
                f"{base}/{path}",
            ],
            {"flags": " ".join(aria)},
        ),
        (
            "hf_transfer pull",
            "hf_transfer",
            lambda base, d: [
                str(PEERS_PYTHON),
                str(CLIENT),
                "hf-pull",
                f"{base}/{path}",
                str(d / name),
                *hf,
            ],
            dict(HF),
        ),
        (
            "rclone http pull",
            "rclone",
            lambda base, d: [
                "rclone",
                "copy",
                "--http-url",
                f"{base}/",
                f":http:{name}",
                str(d),
                *RCLONE_FLAGS,
                "--config",
                rclone_config(d.parent),
                "--log-file",
                str(d.parent / f"{d.name}.log"),
            ],
            {"flags": " ".join(RCLONE_FLAGS)},
        ),
    ]


def client_version(tool: str) -> str | None:
    """Version of an nginx pull client, or None if it is not installed."""
    if tool == "hf_transfer":
        if not venv_has("hf_transfer"):
            return None
        return tool_version(
            [
                str(PEERS_PYTHON),
                "-c",
                "import importlib.metadata as m; print(m.version('hf_transfer'))",
            ]
        )
    binary = find_binary(tool)
    if binary is None:
        return None
    return tool_version([binary, "version" if tool == "rclone" else "--version"])


def nginx_pulls(
    work: Path, source: Path, repeats: int, tools: Collection[str] | None = None
) -> list[CaseResult]:
    """Pull ``source`` from nginx with curl, aria2c, hf_transfer and rclone http (or ``tools``)."""
    size, nginx = source.stat().st_size, find_binary("nginx")
    work.mkdir(parents=True, exist_ok=True)
    cases: list[tuple[CaseResult, MakeArgs]] = []
    for name, tool, make, params in nginx_clients(source.name):
        if tools is not None and tool not in tools:
            continue
        case = CaseResult(
            name=name,
            group=PULL,
            tool=tool,
            size=size,
            params={**params, "server": "nginx sendfile, worker_processes auto"},
        )
        version = client_version(tool)
        case.skipped = (
            missing("nginx") if nginx is None else missing(tool) if version is None else None
        )
        case.params["version"] = version
        cases.append((case, make))
    if nginx is None or all(c.skipped for c, _ in cases):
        return [c for c, _ in cases]
    server_version = tool_version([nginx, "-v"])
    with nginx_server(nginx, work, source) as (svc, probe, log):
        for case, make in cases:
            if not case.skipped:
                case.params["server_version"] = server_version
                fill(case, repeats, nginx_once(case.name, make, svc.url, work, source, probe, log))
    return [c for c, _ in cases]


def nginx_once(
    name: str, make: MakeArgs, base: str, work: Path, source: Path, probe: TreeProbe, log: AccessLog
) -> RunOnce:
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
            m.extra["streams"] = streams_used(work / f"{dst.name}.log")
        verify_copy(dst / source.name, source, name)
        discard(dst)
        return m

    return once
