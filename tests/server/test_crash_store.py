"""SIGKILL the server during concurrent pushes, again and again: the store stays sound.

Each round starts a real ``asyncart server`` on the same store directory, starts
four ``asyncart push`` processes of 2-14 MiB files (1 MiB packs) against it, SIGKILLs
the server once a random number of packs is stored (and then the pushes), and checks
the store: fsck finds nothing damaged (no partial file under a final name, no corrupt
chunk, every version complete); unfinished writes and stored-but-unindexed packs left
by the kill are the only findings allowed. At the end every push is run again: each
completes and commits its content exactly once, and a repair leaves the store clean.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from asyncart.repo import fsck as checker
from asyncart.repo.service import Repository
from tests.support.live_server import live_server

ROUNDS = 3
SIZES = (2 << 20, 5 << 20, 9 << 20, 14 << 20)  # small ones commit while large ones upload
#: What a SIGKILL may leave: unfinished writes and stored-but-unindexed packs.
LEFTOVERS = {checker.PARTIAL, checker.ORPHAN_PACK}


def start_push(url: str, path: Path, name: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "asyncart",
            "push",
            str(path),
            "--name",
            name,
            "--type",
            "dataset",
            "--url",
            url,
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "ASYNCART_PACK_SIZE": str(1 << 20)},  # many packs per push
    )


def packs_stored(root: Path) -> int:
    return sum(1 for p in (root / "blobs" / "packs").rglob("*") if p.is_file())


def wait_for_packs(root: Path, count: int, pushes: list[subprocess.Popen[str]]) -> None:
    """Return once ``count`` packs are stored, or every push has exited (or 60 s passed)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and packs_stored(root) < count:
        if all(p.poll() is not None for p in pushes):
            return
        time.sleep(0.002)


def check_store(root: Path, *, repair: bool = False) -> checker.FsckReport:
    async def run() -> checker.FsckReport:
        repo = await Repository.open_dir(root)
        try:
            return await checker.fsck(repo, repair=repair, grace=0)
        finally:
            await repo.close()

    return asyncio.run(run())


def test_sigkilled_server_leaves_a_sound_store_and_pushes_commit_once(tmp_path: Path) -> None:
    root = tmp_path / "store"
    rnd = random.Random(20240605)
    sources: dict[str, Path] = {}
    for round_ in range(ROUNDS):
        paths = []
        for i, size in enumerate(SIZES):
            path = tmp_path / f"round{round_}-{i}.bin"
            path.write_bytes(rnd.randbytes(size))
            sources[f"set {i}"] = path  # the last round's content is pushed again below
            paths.append(path)
        pushes: list[subprocess.Popen[str]] = []
        try:
            with live_server(root) as srv:  # the server (re)starts on the crashed store
                stored = packs_stored(root)
                pushes = [start_push(srv.url, p, f"set {i}") for i, p in enumerate(paths)]
                # Each round's pushes send ~30 packs of 1 MiB; kill after a random number
                # of them, so the small pushes may have committed, others be committing,
                # and the large ones still uploading.
                wait_for_packs(root, stored + rnd.randrange(1, sum(SIZES) >> 20), pushes)
                srv.kill()
        finally:
            for proc in pushes:
                proc.kill()
                proc.communicate(timeout=30)
        report = check_store(root)
        damage = report.kinds() - LEFTOVERS
        assert not damage, [f.line() for f in report.problems]

    with live_server(root) as srv:
        for name, path in sources.items():
            first = start_push(srv.url, path, name)
            out, _ = first.communicate(timeout=120)
            assert first.returncode == 0, out
            again = start_push(srv.url, path, name)
            out2, _ = again.communicate(timeout=120)
            assert again.returncode == 0, out2
            one, two = json.loads(out), json.loads(out2)
            assert one["version"] == two["version"] and two["created"] is False
            assert two["bytes_uploaded"] == 0
            listing = subprocess.run(
                [sys.executable, "-m", "asyncart", "ls", name, "--url", srv.url, "--json"],
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            )
            digests = [v["digest"] for v in json.loads(listing.stdout)]
            assert digests.count(one["digest"]) == 1
        srv.kill()
    repaired = check_store(root, repair=True)
    assert repaired.clean, [f.line() for f in repaired.problems]
    final = check_store(root)
    assert final.clean and not [f for f in final.findings if f.problem]
    assert final.versions >= len(SIZES)
