"""Measurement records and process helpers shared by every benchmark case.

Processes are measured from outside where possible: CPU seconds from
``/proc/<pid>/stat`` (via psutil), peak resident memory from ``VmHWM`` (reset
between cases by writing ``5`` to ``/proc/<pid>/clear_refs``). ``getrusage``'s
``ru_maxrss`` is not used: it survives ``exec`` and starts at the parent's RSS.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped, unused-ignore]


@dataclass
class Measurement:
    """One timed run of one case."""

    wall_s: float
    nbytes: int
    files: int = 1
    client_cpu_s: float | None = None
    server_cpu_s: float | None = None
    client_peak_rss: int | None = None
    server_peak_rss: int | None = None
    requests: int | None = None
    wire_bytes: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mb_s(self) -> float:
        return self.nbytes / self.wall_s / 1e6 if self.wall_s > 0 else 0.0


@dataclass
class CaseResult:
    """All runs of one case, or why it was skipped."""

    name: str
    group: str  # e.g. "push", "pull", "ceiling", "peer-push", "peer-pull", "sweep"
    tool: str  # "asyncart", "aiohttp", "mlflow", ...
    size: int
    files: int = 1
    runs: list[Measurement] = field(default_factory=list)
    skipped: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def median(self, attr: str) -> float | None:
        values = [getattr(r, attr) for r in self.runs if getattr(r, attr) is not None]
        return statistics.median(values) if values else None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["median"] = {
            key: self.median(key)
            for key in (
                "wall_s",
                "client_cpu_s",
                "server_cpu_s",
                "client_peak_rss",
                "server_peak_rss",
                "requests",
                "wire_bytes",
            )
        }
        wall = out["median"]["wall_s"]
        out["median"]["mb_s"] = self.size / wall / 1e6 if wall else None
        out["median"]["files_s"] = self.files / wall if wall else None
        return out


def repeat(n: int, fn: Any, *args: Any, **kwargs: Any) -> list[Measurement]:
    """Run ``fn`` n times and collect its measurements."""
    return [fn(*args, **kwargs) for _ in range(n)]


def peak_rss(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def reset_peak_rss(pid: int) -> None:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0); ignored where not permitted."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children that have been waited for."""
    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system + t.children_user + t.children_system)


@dataclass
class Service:
    """A server process started by a benchmark (stopped by :func:`service`)."""

    process: subprocess.Popen[str]
    url: str
    output: list[str]

    @property
    def pid(self) -> int:
        return self.process.pid

    def begin(self) -> float:
        """Reset peak RSS; return the CPU seconds so far."""
        reset_peak_rss(self.pid)
        return cpu_seconds(self.pid)

    def end(self, cpu_before: float) -> tuple[float, int | None]:
        """CPU seconds used since ``begin`` and peak RSS since then."""
        return cpu_seconds(self.pid) - cpu_before, peak_rss(self.pid)


@contextmanager
def service(
    args: Sequence[str],
    *,
    ready: str,
    url: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    cwd: Path | None = None,
) -> Iterator[Service]:
    """Start ``args``; wait until a line of its output contains ``ready``; stop it after.

    ``url`` may contain ``{line}``-derived values: if None, the URL is taken as the
    first ``http://`` word of the ready line.
    """
    proc = subprocess.Popen(
        list(args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        start_new_session=True,
    )
    output: list[str] = []
    found = threading.Event()
    ready_line: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if ready in line and not found.is_set():
                ready_line.append(line)
                found.set()
        found.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        if not found.wait(timeout) or not ready_line:
            raise RuntimeError(f"{args[0]} did not become ready: {''.join(output)[-2000:]}")
        if url is None:
            url = next(w for w in ready_line[0].split() if w.startswith("http://")).rstrip(",")
        yield Service(proc, url, output)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def run_measured(
    args: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 1800,
) -> tuple[float, float, int | None, str]:
    """Run a client command to completion; return (wall s, CPU s, peak RSS, stdout).

    CPU comes from the child's rusage (exact for the whole process tree it waited
    for); peak RSS is sampled from VmHWM just before exit via /proc polling.
    """
    start = time.perf_counter()
    before = os.times()
    proc = subprocess.Popen(
        list(args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    hwm = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            value = peak_rss(proc.pid)
            if value:
                hwm[0] = max(hwm[0], value)
            stop.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        stop.set()
        sampler.join()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    wall = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed ({proc.returncode}): {err[-2000:]}")
    return wall, cpu, hwm[0] or None, out


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def dump(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)
