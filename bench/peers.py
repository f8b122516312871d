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
import shutil
import sys
import tempfile
from collections.abc import Collection
from pathlib import Path

from bench.measure import CaseResult, dump
from bench.peers_common import MiB
from bench.peers_mlflow import mlflow_pull, mlflow_push
from bench.peers_nginx import nginx_pulls
from bench.peers_rclone import rclone_webdav_pull, rclone_webdav_push

__all__ = ["run_peer_pulls", "run_peer_pushes"]


def run_peer_pushes(workdir: Path, source: Path, repeats: int) -> list[CaseResult]:
    """Push ``source`` with each peer ``repeats`` times (group ``peer-push``)."""
    workdir.mkdir(parents=True, exist_ok=True)
    return [
        mlflow_push(workdir / "mlflow-push", source, repeats),
        rclone_webdav_push(workdir / "rclone-push", source, repeats),
    ]


def run_peer_pulls(
    workdir: Path, source: Path, repeats: int, nginx_tools: Collection[str] | None = None
) -> list[CaseResult]:
    """Pull ``source`` with each peer ``repeats`` times (group ``peer-pull``).

    ``nginx_tools`` limits the clients pulling from nginx (default: all of them);
    ``python -m bench`` times curl, aria2c and hf_transfer in its rotation instead
    (:mod:`bench.rotation`) and keeps only rclone's http backend here.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    return [
        mlflow_pull(workdir / "mlflow-pull", source, repeats),
        rclone_webdav_pull(workdir / "rclone-pull", source, repeats),
        *nginx_pulls(workdir / "nginx", source, repeats, nginx_tools),
    ]


def mib(value: float | None) -> str:
    """Bytes as MiB for the table."""
    return "-" if value is None else f"{value / MiB:.0f}"


def seconds(value: float | None) -> str:
    """CPU seconds for the table."""
    return "-" if value is None else f"{value:.2f}"


def table(results: list[CaseResult]) -> str:
    """A plain-text table of median figures (or why a case was skipped)."""
    cols = ("MB/s", "cli CPU s", "srv CPU s", "cli MiB", "srv MiB")
    head = f"{'case':<22} " + " ".join(f"{c:>9}" for c in cols)
    rows = [head, "-" * len(head)]
    for r in results:
        if r.skipped:
            rows.append(f"{r.name:<22} skipped: {r.skipped}")
            continue
        med = r.to_json()["median"]
        cells = (
            f"{med['mb_s']:.0f}",
            seconds(med["client_cpu_s"]),
            seconds(med["server_cpu_s"]),
            mib(med["client_peak_rss"]),
            mib(med["server_peak_rss"]),
        )
        rows.append(f"{r.name:<22} " + " ".join(f"{c:>9}" for c in cells))
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
