"""rclone peer: ``rclone copy`` to and from ``rclone serve webdav`` (see :mod:`bench.peers`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.measure import CaseResult, Measurement, Service, service
from bench.peers_common import (
    PULL,
    PUSH,
    TreeProbe,
    discard,
    fill,
    find_binary,
    free_port,
    link_or_copy,
    measured_run,
    missing,
    reaping,
    tool_version,
    verify_copy,
)

STREAMS = 4  # --multi-thread-streams (rclone 1.60: downloads only)
RCLONE_FLAGS = [
    "--multi-thread-streams",
    str(STREAMS),
    "--multi-thread-cutoff",
    "16Mi",
    "--retries",
    "1",
    "--log-level",
    "DEBUG",
]


def rclone_case(name: str, group: str, size: int, **params: Any) -> tuple[CaseResult, str | None]:
    """A rclone case and the rclone binary (skipped if there is none)."""
    rclone = find_binary("rclone")
    case = CaseResult(
        name=name,
        group=group,
        tool="rclone",
        size=size,
        params={"flags": " ".join(RCLONE_FLAGS), **params},
    )
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
    args = [
        rclone,
        "serve",
        "webdav",
        str(root),
        "--addr",
        f"127.0.0.1:{port}",
        "--config",
        rclone_config(work),
    ]
    with (
        service(
            args, ready="WebDav Server started", url=f"http://127.0.0.1:{port}/", timeout=60
        ) as svc,
        reaping(svc),
    ):
        yield svc, TreeProbe(svc), root


def rclone_config(work: Path) -> str:
    """An empty rclone config file (remotes are given on the command line)."""
    conf = work / "rclone.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.touch()
    return str(conf)


def rclone_args(rclone: str, work: Path, src: str, dst: str, i: int, *extra: str) -> list[str]:
    """``rclone copy src dst`` with the benchmark's flags and a per-run DEBUG log."""
    return [
        rclone,
        "copy",
        src,
        dst,
        *extra,
        *RCLONE_FLAGS,
        "--config",
        rclone_config(work),
        "--log-file",
        str(work / f"rclone-{i}.log"),
    ]


def streams_used(log: Path) -> int:
    """Streams of the transfer per rclone's DEBUG log (1 unless it says multi-thread)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    found = re.search(r"Starting multi-thread copy with (\d+) parts", text)
    return int(found.group(1)) if found else 1


def rclone_webdav_push(work: Path, source: Path, repeats: int) -> CaseResult:
    """``rclone copy`` to ``rclone serve webdav`` (one PUT: 1.60 has no multi-thread upload)."""
    size = source.stat().st_size
    case, rclone = rclone_case(
        "rclone webdav push",
        PUSH,
        size,
        multi_thread_upload="none before rclone 1.64; the flags only affect downloads",
    )
    if rclone is None:
        return case
    with rclone_webdav(rclone, work) as (svc, probe, root):

        def once(i: int) -> Measurement:
            args = rclone_args(
                rclone, work, str(source), f":webdav:push-{i}", i, "--webdav-url", svc.url
            )
            m, _ = measured_run(args, probe, size)
            m.extra["streams"] = streams_used(work / f"rclone-{i}.log")
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
            args = rclone_args(
                rclone, work, f":webdav:data/{source.name}", str(dst), i, "--webdav-url", svc.url
            )
            m, _ = measured_run(args, probe, size)
            m.extra["streams"] = streams_used(work / f"rclone-{i}.log")
            verify_copy(dst / source.name, source, "rclone webdav pull")
            discard(dst)
            return m

        return fill(case, repeats, once)
