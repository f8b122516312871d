"""Cache, partial and lazy access (issue 18): what users' commands cost, against baselines.

    python -m bench.cache_cases [--size 2GiB | --quick] [--rotations 3] [--entries N]

One safetensors-like checkpoint (:func:`bench.data.checkpoint_file`: 16 MiB float32
tensors) is pushed to a server on this machine as ``ckpt`` (``model.safetensors``);
a first ``asyncart pull`` fills a fresh download cache. Then, timed:

* **Rotations** (``--rotations``, each in an order shuffled for it, as
  :mod:`bench.rotation`; ratios only within a rotation, then their median):
  ``cp`` of the first pulled file into a new directory (the same bytes, no asyncart);
  ``asyncart pull ckpt -o NEW`` with the cache holding the file (a second pull);
  ``asyncart pull ckpt -o NEW --no-cache``; ``cat`` of the file through
  ``asyncart mount ckpt DIR`` into a new directory (the mount started and ready
  before the timing, stopped after); :mod:`bench.lazy_worker` (``artifact.open``,
  the header, one 16 MiB tensor).
* **Eight at once**: eight ``asyncart pull`` into eight directories, started
  together, with a fresh cache; then the same with ``--no-cache``. Peak disk:
  :class:`bench.peaks.Peaks` (blocks of the pulls' and the cache's files, and the
  file system's used-space change).
* **Eviction**: :mod:`bench.cache_eviction`.

Bytes from the server are counted by the project's fault proxy
(``tests/support/fault_proxy.py``, no fault programmed: the response-body bytes it
relays) in front of the server, for the first pull, the second pull, the lazy read
and the eight pulls with the cache. The ``--no-cache`` pulls and the mount reach the
server directly: the proxy (Python, on the same cores) would slow a transfer of the
whole file; they fetch the whole file, as the first pull did. Every client command
is a subprocess and its wall time is the process's, start-up included.
``ASYNCART_CACHE_MAX_SIZE`` is always set (20GB where the cache is used, 0 where
not) and every case has its own ``ASYNCART_CACHE_DIR``, whatever the default.

``python -m bench`` runs this too (:func:`run_cache_cases`); with ``--quick`` (and
here with ``--quick``): 64 MiB, one rotation, the eight pulls without their
``--no-cache`` baseline, 20,000 entries pruned once. A run of this module alone
writes ``bench/results/cache-access-DATE.json`` (not with ``--quick``), which
``bench/cache_report.py`` draws into docs/performance.md when the main run's
results hold no such case.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncart.core.humanize import parse_size
from bench import data
from bench.cache_eviction import prune_case
from bench.cases import _server, _worker
from bench.measure import CaseResult, Measurement, dump, python_module, run_measured
from bench.peaks import Peaks
from bench.rotation import shuffled
from tests.support.fault_proxy import FaultProxy, running_fault_proxy

ROOT = Path(__file__).resolve().parent.parent
MiB, GiB = 1 << 20, 1 << 30
NAME, FILE = "ckpt", "model.safetensors"
PACKS = "/v1/packs/"
SEED = 18
MOUNT_WAIT = 60.0
GROUP = "cache"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] cache: {msg}", file=sys.stderr, flush=True)


def cache_env(cache_dir: Path, on: bool) -> dict[str, str]:
    """A cache of its own, on (20GB) or off, whatever the default."""
    return {
        "ASYNCART_CACHE_DIR": str(cache_dir),
        "ASYNCART_CACHE_MAX_SIZE": "20GB" if on else "0",
        "ASYNCART_HASH_CACHE": "0",
    }


@dataclass
class Sent:
    """Response-body bytes the server sent through the proxy during a ``counting`` block."""

    total: int = 0
    packs: int = 0


@contextlib.contextmanager
def counting(proxy: FaultProxy) -> Iterator[Sent]:
    total, packs = proxy.bytes_sent(), proxy.bytes_sent("GET", PACKS)
    sent = Sent()
    yield sent
    deadline = time.monotonic() + 30
    while not proxy.settled() and time.monotonic() < deadline:
        time.sleep(0.01)  # a response is counted once its last byte is written
    sent.total = proxy.bytes_sent() - total
    sent.packs = proxy.bytes_sent("GET", PACKS) - packs


def _case(name: str, item: str, size: int, tool: str = "asyncart") -> CaseResult:
    return CaseResult(name, GROUP, tool, size, params={"item": item})


def _check(path: Path, size: int) -> None:
    if path.stat().st_size != size:
        raise RuntimeError(f"{path} holds {path.stat().st_size} bytes, not {size}")


def fuse_unusable() -> str | None:
    """Why a mount cannot run here, or None."""
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    if not (shutil.which("fusermount3") or shutil.which("fusermount")):
        return "fusermount is missing (apt-get install fuse3)"
    try:
        import mfusepy  # type: ignore[import-not-found, import-untyped, unused-ignore]  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"mfusepy does not load: {exc}"
    return None


@contextlib.contextmanager
def mounted(url: str, mnt: Path, env: dict[str, str], log_path: Path) -> Iterator[float]:
    """``asyncart mount ckpt MNT`` running; yields the seconds it took to be mounted."""
    mnt.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(log_path, "w") as err:
        proc = subprocess.Popen(
            python_module("asyncart", "mount", NAME, str(mnt), "--url", url),
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, **env},
        )
    try:
        while not os.path.ismount(mnt):
            if proc.poll() is not None:
                raise RuntimeError(f"mount exited {proc.returncode}: {log_path.read_text()}")
            if time.perf_counter() - start > MOUNT_WAIT:
                raise RuntimeError(f"not mounted after {MOUNT_WAIT} s: {log_path.read_text()}")
            time.sleep(0.02)
        yield time.perf_counter() - start
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if os.path.ismount(mnt):
            tool = shutil.which("fusermount3") or shutil.which("fusermount") or "fusermount"
            subprocess.run([tool, "-u", str(mnt)], check=False)


class Session:
    """One server with the checkpoint, the proxy in front of it, and the first pull."""

    def __init__(self, work: Path, size: int, server_url: str, proxy: FaultProxy) -> None:
        self.work, self.size, self.url, self.proxy = work, size, server_url, proxy
        self.first = work / "first"
        self.hit_cache = work / "cache-hit"
        self.off_cache = work / "cache-off"
        self.mount_unusable = fuse_unusable()
        self._serial = 0

    def fresh(self, stem: str) -> Path:
        self._serial += 1
        return self.work / f"{stem}-{self._serial}"

    def pull(
        self, out: Path, url: str, env: dict[str, str], *extra: str
    ) -> tuple[float, float, int | None]:
        args = python_module("asyncart", "pull", NAME, "-o", str(out), "--url", url, *extra)
        wall, cpu, rss, _ = run_measured(args, env=env)
        _check(out / FILE, self.size)
        return wall, cpu, rss

    def first_pull(self) -> CaseResult:
        case = _case("first pull, cache empty (fills it)", "first", self.size)
        with counting(self.proxy) as sent:
            wall, cpu, rss = self.pull(self.first, self.proxy.url, cache_env(self.hit_cache, True))
        case.runs.append(_run(self.size, wall, cpu, rss, sent))
        data.warm(self.first / FILE)
        return case

    # -- the rotation's participants: each returns one Measurement ----------------------

    def cp(self) -> Measurement:
        out = self.fresh("cp")
        out.mkdir()
        try:
            wall, cpu, rss, _ = run_measured(["cp", str(self.first / FILE), str(out / FILE)])
            _check(out / FILE, self.size)
        finally:
            data.drop(out)
        return _run(self.size, wall, cpu, rss, None)

    def pull_hit(self) -> Measurement:
        out = self.fresh("hit")
        try:
            with counting(self.proxy) as sent:
                wall, cpu, rss = self.pull(out, self.proxy.url, cache_env(self.hit_cache, True))
        finally:
            data.drop(out)
        return _run(self.size, wall, cpu, rss, sent)

    def pull_no_cache(self) -> Measurement:
        out = self.fresh("nocache")
        try:
            wall, cpu, rss = self.pull(
                out, self.url, cache_env(self.off_cache, False), "--no-cache"
            )
        finally:
            data.drop(out)
        return _run(self.size, wall, cpu, rss, None)

    def mount_cat(self) -> Measurement:
        out, mnt = self.fresh("cat"), self.fresh("mnt")
        out.mkdir()
        try:
            env = cache_env(self.off_cache, False)
            with mounted(self.url, mnt, env, self.work / "mount.stderr") as ready:
                cmd = f"cat {mnt / FILE} > {out / FILE}"
                wall, cpu, rss, _ = run_measured(["sh", "-c", cmd])
            _check(out / FILE, self.size)
        finally:
            data.drop(out)
            with contextlib.suppress(OSError):
                mnt.rmdir()
        m = _run(self.size, wall, cpu, rss, None)
        m.extra["mount_ready_s"] = ready
        return m

    def lazy(self) -> Measurement:
        args = python_module("bench.lazy_worker", NAME, FILE, "--url", self.proxy.url)
        with counting(self.proxy) as sent:
            wall, cpu, rss, out = run_measured(args, env=cache_env(self.off_cache, False))
        info = json.loads(out.strip().splitlines()[-1])
        m = _run(int(info["tensor_bytes"]), wall, cpu, rss, sent)
        m.extra.update({k: info[k] for k in ("artifact_s", "ttfb_s", "tensor_s", "tensor")})
        return m

    # -- eight at once ------------------------------------------------------------------

    def concurrent(self, n: int, cached: bool) -> Measurement:
        cache_dir = self.fresh("eight-cache")
        outs = [self.fresh("eight") for _ in range(n)]
        url = self.proxy.url if cached else self.url
        extra = () if cached else ("--no-cache",)
        env = {**os.environ, **cache_env(cache_dir, cached)}
        errs = [self.work / f"eight-{i}.stderr" for i in range(n)]
        try:
            with counting(self.proxy) as sent, Peaks([cache_dir, *outs]) as peaks:
                start = time.perf_counter()
                procs = []
                for out, err in zip(outs, errs, strict=True):
                    with open(err, "w") as f:
                        procs.append(
                            subprocess.Popen(
                                python_module(
                                    "asyncart", "pull", NAME, "-o", str(out), "--url", url, *extra
                                ),
                                stdout=subprocess.DEVNULL,
                                stderr=f,
                                env=env,
                            )
                        )
                    peaks.watch(procs[-1].pid)
                codes = [p.wait() for p in procs]
                wall = time.perf_counter() - start
            for code, err in zip(codes, errs, strict=True):
                if code:
                    raise RuntimeError(f"a concurrent pull failed ({code}): {err.read_text()}")
            for out in outs:
                _check(out / FILE, self.size)
        finally:
            for out in outs:
                shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(cache_dir, ignore_errors=True)
            os.sync()
        m = _run(self.size * n, wall, None, peaks.rss or None, sent if cached else None)
        m.extra.update(processes=n, peak_disk_bytes=peaks.disk, peak_fs_delta_bytes=peaks.fs_delta)
        return m


def _run(
    nbytes: int, wall: float, cpu: float | None, rss: int | None, sent: Sent | None
) -> Measurement:
    extra: dict[str, Any] = {}
    if sent is not None:
        extra.update(server_bytes=sent.total, server_pack_bytes=sent.packs)
    return Measurement(
        wall_s=wall, nbytes=nbytes, client_cpu_s=cpu, client_peak_rss=rss, extra=extra
    )


def run_cache_cases(
    work: Path,
    size: int,
    rotations: int,
    entries: int,
    *,
    concurrent: int = 8,
    eviction_repeats: int = 3,
    concurrent_baseline: bool = True,
    seed: int = SEED,
) -> list[CaseResult]:
    """Every issue-18 case at ``size`` (see the module docstring)."""
    work.mkdir(parents=True, exist_ok=True)
    src_dir = work / "src"
    src_dir.mkdir(exist_ok=True)
    ckpt = data.checkpoint_file(src_dir / FILE, size)
    size = ckpt.stat().st_size
    results: list[CaseResult] = []
    label = f"{size / GiB:.0f} GiB" if size >= GiB else f"{size / MiB:.0f} MiB"
    with _server(work / "store") as srv, running_fault_proxy(srv.url) as proxy:
        _worker("push", str(src_dir), "--name", NAME, "--url", srv.url, env={})
        data.drop(ckpt)
        s = Session(work, size, srv.url, proxy)
        log(f"first pull of {label} (fills the cache)")
        results.append(s.first_pull())
        cases: dict[str, tuple[CaseResult, Callable[[], Measurement]]] = {
            "cp": (_case(f"cp of the pulled {label} file", "cp", size, "cp"), s.cp),
            "hit": (_case("second pull, new directory (cache hit)", "hit", size), s.pull_hit),
            "nocache": (_case("pull --no-cache", "nocache", size), s.pull_no_cache),
            "lazy": (
                _case("lazy read of one 16 MiB tensor (artifact.open)", "lazy", 16 * MiB),
                s.lazy,
            ),
        }
        mount = _case("cat through asyncart mount", "mount", size, "asyncart mount + cat")
        if s.mount_unusable:
            mount.skipped = s.mount_unusable
        else:
            cases["mount"] = (mount, s.mount_cat)
        orders = []
        for r in range(rotations):
            order = shuffled(sorted(cases), seed, r)
            orders.append(order)
            for position, key in enumerate(order):
                case, run = cases[key]
                m = run()
                m.extra.update(rotation=r, position=position)
                case.runs.append(m)
                log(f"rotation {r + 1}/{rotations} {key}: {m.wall_s:.2f} s")
        for case, _ in cases.values():
            case.params.update(seed=seed, orders=orders)
        results += [case for case, _ in cases.values()]
        if s.mount_unusable:
            results.append(mount)
        for cached in (True, False) if concurrent_baseline else (True,):
            which = "cache on" if cached else "--no-cache"
            log(f"{concurrent} pulls at once, {which}")
            case = _case(
                f"{concurrent} concurrent pulls into {concurrent} directories, {which}",
                "eight-cache" if cached else "eight-nocache",
                size,
            )
            case.params["processes"] = concurrent
            case.runs.append(s.concurrent(concurrent, cached))
            results.append(case)
        shutil.rmtree(s.first, ignore_errors=True)
    log(f"eviction: {entries:,} entries, {eviction_repeats} repeats")
    results += prune_case(work, entries, eviction_repeats)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cache_cases", description=__doc__)
    parser.add_argument("--size", default="2GiB", help="checkpoint size (default 2GiB)")
    parser.add_argument("--quick", action="store_true", help="the --quick profile: small sizes")
    parser.add_argument("--rotations", type=int, default=None, help="default 3 (1 with --quick)")
    parser.add_argument("--entries", type=int, default=None, help="cache entries for eviction")
    parser.add_argument("--workdir", type=Path, help="scratch directory (default: a new temp dir)")
    parser.add_argument(
        "--json",
        type=Path,
        help="results file (default: bench/results/cache-access-DATE.json; none with --quick)",
    )
    args = parser.parse_args()
    from bench.__main__ import FULL, QUICK

    profile = QUICK if args.quick else FULL
    size = profile.cache_size if args.quick else parse_size(args.size, what="--size")
    entries = args.entries or profile.cache_entries
    rotations = args.rotations or profile.cache_rotations
    work = Path(tempfile.mkdtemp(prefix="asyncart-cache-bench-", dir=args.workdir))
    started, load = time.time(), os.getloadavg()
    try:
        cases = run_cache_cases(
            work,
            size,
            rotations,
            entries,
            eviction_repeats=profile.eviction_repeats,
            concurrent_baseline=profile.cache_baselines,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    argv = " ".join(sys.argv[1:])
    meta = {
        "command": f"python -m bench.cache_cases {argv}".strip(),
        "date": datetime.date.today().isoformat(),
        "host": socket.gethostname(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "filesystem": subprocess.run(
            [
                "stat",
                "-f",
                "-c",
                "%T",
                tempfile.gettempdir() if args.workdir is None else str(args.workdir),
            ],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip(),
        "rotations": rotations,
        "seconds": round(time.time() - started, 1),
        "load_before": load,
        "load_after": os.getloadavg(),
    }
    results = {"meta": meta, "cases": [c.to_json() for c in cases]}
    out = args.json
    if out is None and not args.quick:
        out = ROOT / "bench" / "results" / f"cache-access-{meta['date']}.json"
    if out is not None:
        dump(out, results)
        log(f"results: {out}")
    from bench.cache_report import cache_lines

    print("\n".join(cache_lines(results, out.name if out else "(not written)")))


if __name__ == "__main__":
    main()
