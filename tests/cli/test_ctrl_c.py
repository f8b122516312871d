"""Ctrl-C during a transfer (issue 20): a newline, ``asyncart: aborted``, what was kept and
how to resume, exit code 130; a pull's part files removed by ``pull --clean`` or by the
next pull of another version; ``run.finish()`` waiting for an upload.

The transfers go through the fault-injecting proxy, which holds pack requests (a
``stall`` with a gate) so SIGINT lands mid-transfer, whatever the machine's speed.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from blake3 import blake3

from asyncart.client import journal
from asyncart.core.paths import RESERVED_SUFFIX
from tests.support.cli import HANG_LIMIT, run_cli
from tests.support.fault_proxy import Fault, FaultProxy, running_fault_proxy
from tests.support.live_server import LiveServer, live_server

MiB = 1 << 20
SMALL_PACKS = {
    "ASYNCART_PACK_SIZE": str(MiB),
    "ASYNCART_CONCURRENCY": "1",
    "ASYNCART_MAX_CONCURRENCY": "1",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("ctrl-c") / "store") as srv:
        yield srv


@pytest.fixture
def proxy(server: LiveServer) -> Iterator[FaultProxy]:
    with running_fault_proxy(server.url) as p:
        yield p


def hold(proxy: FaultProxy, method: str, path: str, after: int) -> Fault:
    """Let ``after`` matching requests through, then hold every later one (until the gate)."""
    return proxy.add(
        Fault(
            "stall",
            method=method,
            path=path,
            seconds=HANG_LIMIT,
            skip=after,
            times=1000,
            gate=asyncio.Event(),
        )
    )


def release(proxy: FaultProxy, fault: Fault) -> None:
    """Let the held requests go on, and hold no more."""
    fault.times = 0
    proxy.open_gate(fault)


_started: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _stop_processes() -> Iterator[None]:
    """Kill what a failed test left running."""
    yield
    while _started:
        proc = _started.pop()
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=HANG_LIMIT)


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return _popen(
        [sys.executable, "-m", "asyncart", *args], env={**os.environ, **SMALL_PACKS, **(env or {})}
    )


def _popen(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    _started.append(proc)
    return proc


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + HANG_LIMIT  # a hang guard, not a timing assertion
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def interrupt(proc: subprocess.Popen[str]) -> str:
    """SIGINT (what Ctrl-C sends); its stderr, after checking it exited 130."""
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=HANG_LIMIT)
    assert proc.returncode == 130, err
    return err


def aborted_line(err: str) -> str:
    """The abort message: on a line of its own (after the terminal's ``^C``), last."""
    assert "Traceback" not in err, err
    lines = err.split("\n")
    at = max(i for i, line in enumerate(lines) if line.startswith("asyncart: aborted"))
    assert at > 0 and lines[at - 1] == "", err  # a newline came first
    return lines[at]


def push(proxy_or_server: str, path: str, name: str) -> dict[str, object]:
    proc = run_cli(
        "push", path, "-n", name, "-t", "model", "--url", proxy_or_server, "--json", env=SMALL_PACKS
    )
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def random_file(name: str, size: int, seed: int) -> Path:
    Path(name).write_bytes(random.Random(seed).randbytes(size))
    return Path(name)


def test_interrupted_pull_says_what_it_kept_and_resumes(
    server: LiveServer, proxy: FaultProxy
) -> None:
    data = random_file("model.bin", 12 * MiB, 1)
    push(server.url, "model.bin", "ckpt")
    gate = hold(proxy, "GET", "/v1/packs/", after=2)
    proc = start("pull", "ckpt", "-o", "out", "--url", proxy.url)
    part = Path("out") / f"model.bin{RESERVED_SUFFIX}"
    log = journal.journal_path(Path("out") / "model.bin")
    digest = blake3(data.read_bytes()).hexdigest()

    def journaled() -> int:
        return sum(length for _, length in journal.read(log, digest, 12 * MiB) or [])

    # The held read is the third; the whole chunks of the first two packs are verified
    # and journaled on their own time (chunks straddle packs: less than 2 MiB).
    wait_for(
        lambda: gate.fired >= 1 and part.exists() and journaled() >= MiB,
        "a pack read held, the chunks read before it verified and journaled",
    )
    kept = journaled()
    line = aborted_line(interrupt(proc))
    assert "verified and kept in out" in line and "run the same command to resume" in line
    assert "1 part file there already takes" in line and "allocated up front" in line
    assert "asyncart pull ckpt -o out --url" in line and line.endswith("--clean")
    assert os.stat(part).st_blocks * 512 >= 12 * MiB  # what the message warns of
    release(proxy, gate)

    again = run_cli("pull", "ckpt", "-o", "out", "--url", server.url, "--json")
    assert again.returncode == 0, again.stderr
    stats = json.loads(again.stdout)
    assert stats["bytes_resumed"] >= kept  # what was verified before the Ctrl-C
    assert stats["bytes_downloaded"] <= 12 * MiB - kept + MiB  # a straddling chunk's pack again
    assert Path("out/model.bin").read_bytes() == data.read_bytes() and not part.exists()


def test_pull_clean_and_a_pull_of_another_version_remove_the_part_file(
    server: LiveServer, proxy: FaultProxy
) -> None:
    random_file("big.bin", 8 * MiB, 2)
    push(server.url, "big.bin", "leftover")
    Path("big.bin").unlink()
    random_file("small.bin", 1000, 3)
    push(server.url, "small.bin", "leftover")  # v1: another file
    part = Path("dir") / f"big.bin{RESERVED_SUFFIX}"

    def interrupted_pull() -> None:
        gate = hold(proxy, "GET", "/v1/packs/", after=1)
        proc = start("pull", "leftover:v0", "-o", "dir", "--url", proxy.url)
        wait_for(lambda: gate.fired >= 1 and part.exists(), "a held read and a part file")
        interrupt(proc)
        release(proxy, gate)
        assert part.exists()

    interrupted_pull()
    cleaned = run_cli("pull", "leftover:v0", "-o", "dir", "--url", server.url, "--clean")
    assert cleaned.returncode == 0, cleaned.stderr
    assert cleaned.stdout.startswith("dir: removed 1 part file (")
    assert not part.exists() and not list(Path("dir").glob("*.asyncart-*"))
    assert not Path("dir/big.bin").exists()  # --clean pulls nothing

    interrupted_pull()
    other = run_cli("pull", "leftover:v1", "-o", "dir", "--url", server.url)
    assert other.returncode == 0, other.stderr
    assert "removed what an interrupted pull of other files left there (2 files" in other.stdout
    assert sorted(p.name for p in Path("dir").iterdir()) == ["small.bin"]


def test_interrupted_push_keeps_what_it_uploaded(server: LiveServer, proxy: FaultProxy) -> None:
    random_file("weights.bin", 6 * MiB, 4)
    gate = hold(proxy, "POST", "/v1/packs", after=2)
    proc = start("push", "weights.bin", "-n", "weights", "-t", "model", "--url", proxy.url)
    wait_for(lambda: gate.fired >= 1, "a third pack upload held")  # one at a time: 2 are in
    line = aborted_line(interrupt(proc))
    assert re.fullmatch(
        r"asyncart: aborted; \d\.\d MiB uploaded and kept by the store \(nothing committed "
        r"yet\); run the same command to resume",
        line,
    ), line
    release(proxy, gate)
    assert run_cli("ls", "--url", server.url).stdout.count("weights") == 0
    again = push(server.url, "weights.bin", "weights")
    # What the message said was kept is not sent again (the held pack may have landed too).
    kept = float(line.split()[2]) * MiB
    assert isinstance(again["bytes_skipped"], int) and again["bytes_skipped"] >= kept - 0.05 * MiB
    assert again["bytes_uploaded"] == 6 * MiB - again["bytes_skipped"]


_FINISHING = textwrap.dedent(
    """
    import asyncart, sys
    run = asyncart.init(job_type="train", url=sys.argv[1])
    art = asyncart.Artifact(sys.argv[2], type="model")
    art.add_file("held.bin")
    run.log_artifact(art)
    run.finish()
    print("finished", art.version)
    """
)


def test_ctrl_c_while_finish_waits_says_so_and_keeps_waiting(
    server: LiveServer, proxy: FaultProxy
) -> None:
    random_file("held.bin", 3 * MiB, 5)
    gate = hold(proxy, "POST", "/v1/packs", after=1)
    proc = _popen(
        [sys.executable, "-c", _FINISHING, proxy.url, "held"], {**os.environ, **SMALL_PACKS}
    )
    err: list[str] = []
    assert proc.stderr is not None
    pump = threading.Thread(target=lambda: err.extend(proc.stderr or ()), daemon=True)
    pump.start()
    wait_for(lambda: any("waiting for 1 upload to commit" in e for e in err), "finish() waits")
    proc.send_signal(signal.SIGINT)
    wait_for(lambda: any("Ctrl-C again" in e for e in err), "the one line about Ctrl-C")
    release(proxy, gate)
    pump.join(timeout=HANG_LIMIT)  # stderr is the pump's alone: read to its end
    out = proc.stdout.read() if proc.stdout else ""
    proc.wait(timeout=HANG_LIMIT)
    text = "".join(err)
    assert proc.returncode == 0, text
    assert out == "finished v0\n"
    assert "Traceback" not in text
    assert "asyncart: waiting for 1 upload (" in text and "Ctrl-C again to abandon it" in text
    assert "upload(s)" not in text and "0.0 of 0.0" not in text
    assert "asyncart: 1 upload settled" in text


def test_a_second_ctrl_c_abandons_the_upload(server: LiveServer, proxy: FaultProxy) -> None:
    random_file("held.bin", 3 * MiB, 6)
    gate = hold(proxy, "POST", "/v1/packs", after=1)
    proc = _popen(
        [sys.executable, "-c", _FINISHING, proxy.url, "abandoned"], {**os.environ, **SMALL_PACKS}
    )
    err: list[str] = []
    pump = threading.Thread(target=lambda: err.extend(proc.stderr or ()), daemon=True)
    pump.start()
    wait_for(lambda: any("waiting for 1 upload to commit" in e for e in err), "finish() waits")
    proc.send_signal(signal.SIGINT)
    wait_for(lambda: any("Ctrl-C again" in e for e in err), "the one line about Ctrl-C")
    proc.send_signal(signal.SIGINT)
    pump.join(timeout=HANG_LIMIT)  # stderr is the pump's alone: read to its end
    out = proc.stdout.read() if proc.stdout else ""
    proc.wait(timeout=HANG_LIMIT)
    release(proxy, gate)
    text = "".join(err)
    assert proc.returncode != 0 and out == ""
    assert "asyncart: abandoned 1 upload ('abandoned'): nothing of it was committed" in text
    listed = run_cli("ls", "--url", server.url)
    assert "abandoned" not in listed.stdout
