"""Many processes, one download: pulls into the same directory take turns on a file lock.

Real `asyncart pull` processes against a live server through the fault proxy (which
counts the pack reads and can hold them); no sleeps, every process stopped here.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import blake3
import pytest

import asyncart
from asyncart import aio
from asyncart.client import journal
from asyncart.client.pull_lock import lock_path, pull_lock
from asyncart.config import Settings
from asyncart.errors import ConfigError, PullLockTimeout
from tests.support.fault_proxy import Fault, FaultProxy, running_fault_proxy
from tests.support.live_server import LiveServer
from tests.support.transfers import use_small_transfers

MiB = 1 << 20
PACKS = "/v1/packs/"
SIZE = 12 * MiB
WORKERS = 4
DEADLINE = 120.0
SIDECARS = (".asyncart-part", ".asyncart-journal")


@pytest.fixture(autouse=True)
def small_transfers(monkeypatch: pytest.MonkeyPatch) -> None:
    """1 MiB packs read one range at a time: a pull's requests are the same every time."""
    use_small_transfers(monkeypatch, MiB, one_at_a_time=True)
    # These are about the directory lock: with the download cache (test_cache.py) every
    # pull after the first would be served from it and read no pack at all.
    monkeypatch.setenv("ASYNCART_CACHE_MAX_SIZE", "0")


def _log(server: LiveServer, files: dict[str, bytes]) -> None:
    src = Path("src")
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    run = asyncart.init(job_type="train", url=server.url)
    art = asyncart.Artifact("model", type="model")
    art.add_dir(src)
    run.log_artifact(art)
    run.finish()


@pytest.fixture
def model(server: LiveServer) -> bytes:
    data = random.Random(8).randbytes(SIZE)
    _log(server, {"model.bin": data})
    return data


def _wait_for(what: str, condition: Callable[[], bool], procs: list[subprocess.Popen[str]]) -> None:
    """Poll ``condition`` until it holds; fail (with the processes' state) past the deadline."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        codes = [p.poll() for p in procs]
        failed = any(code not in (None, 0) for code in codes)
        if failed or time.monotonic() > deadline:
            why = "a process failed" if failed else "timed out"
            errors = "".join(f"\n--- {e}:\n{e.read_text()}" for e in sorted(Path().glob("*.err")))
            pytest.fail(f"{why} waiting until {what}; exit codes {codes}{errors}")
        time.sleep(0.01)


@contextmanager
def _pulls(
    url: str, count: int, out: Path | None = None, tag: str = "pull"
) -> Iterator[list[subprocess.Popen[str]]]:
    """Start ``count`` `asyncart pull --json` processes (output in ``<tag>-<i>.out/.err``);
    kill any still running on the way out."""
    procs: list[subprocess.Popen[str]] = []
    streams = []
    try:
        for i in range(count):
            streams += [open(f"{tag}-{i}.out", "w"), open(f"{tag}-{i}.err", "w")]  # noqa: SIM115
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "asyncart", "pull", "model:v0", "--url", url, "--json"]
                    + (["-o", str(out)] if out is not None else []),
                    stdout=streams[-2],
                    stderr=streams[-1],
                    text=True,
                )
            )
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=30)
        for stream in streams:
            stream.close()


def _err(i: int, tag: str = "pull") -> str:
    return Path(f"{tag}-{i}.err").read_text()


def _report(i: int, tag: str = "pull") -> dict[str, int]:
    return dict(json.loads(Path(f"{tag}-{i}.out").read_text()))


def _waiting(i: int) -> bool:
    # "waiting for process N", or "another process" when it read the lock file before the
    # holder wrote its pid there (a fresh lock file is empty for that moment).
    return "waiting for " in _err(i)


def test_four_processes_pulling_one_version_fetch_its_bytes_once(
    server: LiveServer, model: bytes
) -> None:
    target = Path("artifacts") / "model:v0"  # the default target, shared by all four
    with running_fault_proxy(server.url) as proxy:
        with _pulls(proxy.url, 1, Path("reference")) as (alone,):
            assert alone.wait(timeout=DEADLINE) == 0, _err(0)
        one_pull = proxy.count("GET", PACKS)
        assert one_pull >= SIZE // MiB
        # The first pack read is held until all the others are seen waiting for the lock.
        gate = proxy.add(
            Fault("stall", method="GET", path=PACKS, seconds=600, gate=asyncio.Event())
        )
        with _pulls(proxy.url, WORKERS) as procs:
            _wait_for(
                "one pull holds the lock and the others wait for it",
                lambda: gate.fired == 1 and sum(_waiting(i) for i in range(WORKERS)) == 3,
                procs,
            )
            proxy.open_gate(gate)
            codes = [p.wait(timeout=DEADLINE) for p in procs]
        assert codes == [0] * WORKERS, [_err(i) for i in range(WORKERS)]
        fetched = proxy.count("GET", PACKS) - one_pull
    assert fetched == one_pull  # the four together read the packs exactly once
    reports = [_report(i) for i in range(WORKERS)]
    assert sorted(r["bytes_downloaded"] for r in reports) == [0, 0, 0, SIZE]
    for r in reports:
        if r["bytes_downloaded"] == 0:
            assert r["files_skipped"] == 1  # found present and verified
        assert Path(str(r["path"])).resolve() == target.resolve()
    assert (target / "model.bin").read_bytes() == model
    assert [p.name for p in target.iterdir()] == ["model.bin"]  # no part files, no journals
    assert os.listdir("artifacts") == ["model:v0"]  # and no lock file left beside it


def test_a_killed_holder_hands_the_pull_to_a_waiter_which_resumes_it(
    server: LiveServer, model: bytes
) -> None:
    out = Path("out")
    log = journal.journal_path(out / "model.bin")
    digest = blake3.blake3(model).hexdigest()

    def journaled() -> int:
        return sum(length for _, length in journal.read(log, digest, SIZE) or [])

    with running_fault_proxy(server.url) as proxy:
        # Three ranges (packs of at most 1 MiB) go through; the holder's later reads are
        # held until it is killed.
        proxy.stall(600, method="GET", path=PACKS, skip=3, times=1000)
        with _pulls(proxy.url, 1, out) as (holder,):
            _wait_for(
                "the holder has journaled two ranges' verified chunks",
                lambda: journaled() >= 2 * MiB,
                [holder],
            )
            # The waiter reads straight from the server: nothing holds it but the lock.
            with _pulls(server.url, 1, out, tag="waiter") as (waiter,):
                _wait_for(
                    f"the waiter waits for process {holder.pid}",
                    lambda: f"waiting for process {holder.pid}" in _err(0, "waiter"),
                    [holder, waiter],
                )
                assert waiter.poll() is None
                holder.send_signal(signal.SIGKILL)
                holder.wait(timeout=30)
                verified_by_holder = journaled()
                assert waiter.wait(timeout=DEADLINE) == 0, _err(0, "waiter")
    report = _report(0, "waiter")
    assert report["bytes_resumed"] >= verified_by_holder >= 2 * MiB
    assert report["bytes_resumed"] + report["bytes_downloaded"] == SIZE
    assert (out / "model.bin").read_bytes() == model


def test_a_reader_polling_the_directory_never_sees_a_torn_file(server: LiveServer) -> None:
    rng = random.Random(3)
    files = {f"shard-{i}.bin": rng.randbytes(3 * MiB + i) for i in range(3)}
    files |= {f"meta/{i}.json": rng.randbytes(100 + i) for i in range(20)}
    _log(server, files)
    out = Path("out")
    seen: dict[str, int] = {}
    torn: list[str] = []
    partial_states = 0

    def look() -> bool:
        """One pass over the directory; True if every file is in place."""
        nonlocal partial_states
        names = []
        for dirpath, _, filenames in os.walk(out):
            for name in filenames:
                rel = os.path.relpath(os.path.join(dirpath, name), out).replace(os.sep, "/")
                names.append(rel)
                if rel.endswith(SIDECARS) or rel.endswith(".asyncart-lock"):
                    continue
                try:
                    data = Path(dirpath, name).read_bytes()
                except FileNotFoundError:
                    continue
                seen[rel] = seen.get(rel, 0) + 1
                if data != files.get(rel):
                    torn.append(f"{rel}: {len(data)} bytes")
        if any(n.endswith(SIDECARS) for n in names):
            partial_states += 1
        return set(names) == set(files)

    with running_fault_proxy(server.url) as proxy:
        gate = proxy.add(
            Fault("stall", method="GET", path=PACKS, skip=4, seconds=600, gate=asyncio.Event())
        )
        with _pulls(proxy.url, 2, out) as procs:
            _wait_for("a pull is half done (held)", lambda: gate.fired == 1, procs)
            look()
            proxy.open_gate(gate)
            while any(p.poll() is None for p in procs):
                look()
            assert [p.wait(timeout=DEADLINE) for p in procs] == [0, 0], [_err(0), _err(1)]
    assert look()
    assert torn == []
    assert partial_states > 0  # the reader did look while files were being assembled
    assert set(seen) == set(files)


async def test_two_downloads_in_one_process_take_turns(server: LiveServer, model: bytes) -> None:
    async with FaultProxy(server.url) as proxy, aio.Api(url=proxy.url) as api:
        await (await api.artifact("model:v0")).download("reference")
        one_pull = proxy.count("GET", PACKS)
        first, second = await api.artifact("model:v0"), await api.artifact("model:v0")
        async with anyio.create_task_group() as tg:
            tg.start_soon(first.download, "shared")
            tg.start_soon(second.download, "shared")
        assert proxy.count("GET", PACKS) - one_pull == one_pull
    stats = [a.last_transfer for a in (first, second)]
    assert sorted(s.bytes_downloaded for s in stats if s is not None) == [0, SIZE]
    assert Path("shared/model.bin").read_bytes() == model


async def test_a_lock_timeout_gives_up_while_another_process_holds_the_directory(
    server: LiveServer, model: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = Path("out")
    monkeypatch.setenv("ASYNCART_LOCK_TIMEOUT", "0")
    held = lock_path(out)
    fd = os.open(held, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # what another process's pull holds
        async with aio.Api(url=server.url) as api:
            art = await api.artifact("model:v0")
            with pytest.raises(PullLockTimeout, match="ASYNCART_LOCK_TIMEOUT"):
                await art.download(out)
            assert not out.exists()  # it waited outside; nothing was touched
            fcntl.flock(fd, fcntl.LOCK_UN)
            await art.download(out)
    finally:
        os.close(fd)
    assert (out / "model.bin").read_bytes() == model


async def test_a_target_with_no_room_beside_it_locks_in_the_cache_dir(tmp_path: Path) -> None:
    cache = tmp_path / "lock-cache"
    async with pull_lock(Path("/"), cache, None):  # nothing can be created beside "/"
        (lock,) = (cache / "locks").iterdir()
        with pytest.raises(PullLockTimeout):
            async with pull_lock(Path("/"), cache, 0):
                pass
    async with pull_lock(Path("/"), cache, 0):  # released
        assert lock.exists()
    assert not lock.exists()  # removed by its holder on the way out


def test_lock_timeout_setting() -> None:
    assert Settings.from_env({}).lock_timeout is None
    assert Settings.from_env({"ASYNCART_LOCK_TIMEOUT": "2.5"}).lock_timeout == 2.5
    with pytest.raises(ConfigError):
        Settings.from_env({"ASYNCART_LOCK_TIMEOUT": "-1"})
    with pytest.raises(ConfigError):
        Settings.from_env({"ASYNCART_LOCK_TIMEOUT": "soon"})
