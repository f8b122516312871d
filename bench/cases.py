"""asyncart's own cases: push and pull through a server and through the embedded store."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from bench.data import drop, tree_size
from bench.measure import CaseResult, Measurement, python_module, run_measured, service


def _server(root: Path, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return service(
        python_module(
            "asyncart", "server", "--root", str(root), "--init", "--host", "127.0.0.1",
            "--port", "0",
        ),
        ready="asyncart server listening on",
        env=env,
    )


@contextlib.contextmanager
def _reach(url: str, rtt_ms: float | None) -> Iterator[str]:
    """``url`` itself, or a latency relay in front of it when ``rtt_ms`` is given."""
    if rtt_ms is None:
        yield url
        return
    relay = python_module("bench.latency_proxy", "--target", url, "--rtt-ms", str(rtt_ms))
    with service(relay, ready="latency proxy listening on") as proxy:
        yield proxy.url


def _worker(*args: str, env: dict[str, str]) -> tuple[float, float, int | None, dict[str, object]]:
    # Cold pushes: no hash cache unless a case asks for one (a repeat would otherwise hit it).
    env = {"ASYNCART_HASH_CACHE": "0", **env}
    wall, cpu, rss, out = run_measured(python_module("bench.client_worker", *args), env=env)
    return wall, cpu, rss, json.loads(out.strip().splitlines()[-1])


def server_round_trip(
    label: str,
    source: Path,
    workdir: Path,
    repeats: int,
    env: dict[str, str] | None = None,
    params: dict[str, object] | None = None,
    rtt_ms: float | None = None,
) -> tuple[CaseResult, CaseResult]:
    """Push ``source`` to a fresh (cold) server store, then pull it into an empty directory.

    Each repeat starts a new server on a new store, so every push finds no chunk there.
    With ``rtt_ms``, the client reaches the server through a relay adding that round trip.
    """
    size, files = tree_size(source)
    env = dict(env or {})
    push = CaseResult(
        f"push {label} (server)", "push", "asyncart", size, files, params=dict(params or {})
    )
    pull = CaseResult(
        f"pull {label} (server)", "pull", "asyncart", size, files, params=dict(params or {})
    )
    for i in range(repeats):
        store = workdir / f"server-store-{i}"
        out = workdir / f"pulled-{i}"
        try:
            with _server(store, env) as srv, _reach(srv.url, rtt_ms) as url:
                before = srv.begin()
                wall, cpu, rss, info = _worker(
                    "push", str(source), "--name", "bench", "--url", url, env=env
                )
                scpu, srss = srv.end(before)
                push.runs.append(_measurement(size, files, wall, cpu, rss, scpu, srss, info))
                before = srv.begin()
                wall, cpu, rss, info = _worker(
                    "pull", "bench", "--out", str(out), "--url", url, env=env
                )
                scpu, srss = srv.end(before)
                pull.runs.append(_measurement(size, files, wall, cpu, rss, scpu, srss, info))
            if tree_size(out) != (size, files):
                raise RuntimeError(f"pulled tree {out} differs in size from {source}")
        finally:
            drop(out)
            shutil.rmtree(store, ignore_errors=True)
    return push, pull


def unchanged_repush(label: str, source: Path, workdir: Path, repeats: int) -> CaseResult:
    """Push ``source`` again, unchanged, with the hash cache on: no file byte should be read."""
    size, files = tree_size(source)
    case = CaseResult(
        f"re-push {label} unchanged (hash cache)",
        "push",
        "asyncart",
        size,
        files,
        params={"hash_cache": True},
    )
    store, cache = workdir / "repush-store", workdir / "repush-cache"
    env = {"ASYNCART_HASH_CACHE": "1", "ASYNCART_CACHE_DIR": str(cache)}
    try:
        with _server(store) as srv:
            _worker("push", str(source), "--name", "bench", "--url", srv.url, env=env)
            for _ in range(repeats):
                before = srv.begin()
                wall, cpu, rss, info = _worker(
                    "push", str(source), "--name", "bench", "--url", srv.url, env=env
                )
                scpu, srss = srv.end(before)
                case.runs.append(_measurement(size, files, wall, cpu, rss, scpu, srss, info))
    finally:
        shutil.rmtree(store, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
    return case


def edited_round_trip(
    label: str, base: Path, edited: Path, changed: int, workdir: Path, repeats: int
) -> tuple[CaseResult, CaseResult]:
    """Push ``base`` and pull it; then time the push of ``edited`` and its pull over ``base``.

    What a team re-logging an hourly checkpoint pays: the push should send about the
    changed bytes, and the pull into the directory holding the old version should
    fetch about as much (the rest is copied from the old file).
    """
    size, files = tree_size(edited)
    params = {"changed_bytes": changed}
    push = CaseResult(
        f"push {label} edited (server)", "push", "asyncart", size, files, params=params
    )
    pull = CaseResult(
        f"pull {label} edited, over the previous version (server)",
        "pull",
        "asyncart",
        size,
        files,
        params=params,
    )
    for i in range(repeats):
        store, out = workdir / f"edit-store-{i}", workdir / f"edit-out-{i}"
        staged = workdir / f"edit-src-{i}"
        try:
            with _server(store) as srv:
                staged.mkdir()
                os.link(base, staged / "model.safetensors")
                _worker("push", str(staged), "--name", "ckpt", "--url", srv.url, env={})
                _worker("pull", "ckpt", "--out", str(out), "--url", srv.url, env={})
                (staged / "model.safetensors").unlink()
                os.link(edited, staged / "model.safetensors")
                before = srv.begin()
                wall, cpu, rss, info = _worker(
                    "push", str(staged), "--name", "ckpt", "--url", srv.url, env={}
                )
                scpu, srss = srv.end(before)
                push.runs.append(_measurement(size, files, wall, cpu, rss, scpu, srss, info))
                before = srv.begin()
                wall, cpu, rss, info = _worker(
                    "pull", "ckpt", "--out", str(out), "--url", srv.url, env={}
                )
                scpu, srss = srv.end(before)
                pull.runs.append(_measurement(size, files, wall, cpu, rss, scpu, srss, info))
            if tree_size(out) != (size, files):
                raise RuntimeError(f"pulled tree {out} differs in size from {edited}")
        finally:
            drop(out)
            shutil.rmtree(staged, ignore_errors=True)
            shutil.rmtree(store, ignore_errors=True)
    return push, pull


def embedded_round_trip(
    label: str, source: Path, workdir: Path, repeats: int, env: dict[str, str] | None = None
) -> tuple[CaseResult, CaseResult]:
    """The same through the embedded store (client and store in one process)."""
    size, files = tree_size(source)
    push = CaseResult(f"push {label} (embedded)", "push", "asyncart", size, files)
    pull = CaseResult(f"pull {label} (embedded)", "pull", "asyncart", size, files)
    for i in range(repeats):
        store = workdir / f"embedded-store-{i}"
        out = workdir / f"pulled-{i}"
        run_env = {**(env or {}), "ASYNCART_DIR": str(store)}
        try:
            wall, cpu, rss, info = _worker("push", str(source), "--name", "bench", env=run_env)
            push.runs.append(_measurement(size, files, wall, cpu, rss, None, None, info))
            wall, cpu, rss, info = _worker("pull", "bench", "--out", str(out), env=run_env)
            pull.runs.append(_measurement(size, files, wall, cpu, rss, None, None, info))
        finally:
            drop(out)
            shutil.rmtree(store, ignore_errors=True)
    return push, pull


def _measurement(
    size: int,
    files: int,
    process_wall: float,
    cpu: float,
    rss: int | None,
    server_cpu: float | None,
    server_rss: int | None,
    info: dict[str, object],
) -> Measurement:
    # The transfer's own wall time, measured inside the client: interpreter start-up
    # and imports (~0.3 s) are not part of moving bytes and are reported apart.
    # Likewise the client CPU is the transfer's (all threads); the process total is in extra.
    wall = float(info["wall_s"])  # type: ignore[arg-type]
    return Measurement(
        wall_s=wall,
        nbytes=size,
        files=files,
        client_cpu_s=float(info["cpu_s"]),  # type: ignore[arg-type]
        server_cpu_s=server_cpu,
        client_peak_rss=rss,
        server_peak_rss=server_rss,
        requests=int(info["requests"]),  # type: ignore[call-overload]
        wire_bytes=int(info["wire_bytes"]),  # type: ignore[call-overload]
        extra={
            "process_wall_s": process_wall,
            "process_cpu_s": cpu,
            "retries": info.get("retries"),
            "concurrency": info.get("concurrency"),
            "bytes_read": info.get("bytes_read"),
            "bytes_uploaded": info.get("bytes_uploaded"),
            "bytes_downloaded": info.get("bytes_downloaded"),
            "bytes_reused": info.get("bytes_reused"),
        },
    )
