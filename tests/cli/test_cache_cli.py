"""``asyncart cache ls|prune|clear`` and ``pull --no-cache``, as real subprocesses against a
live server; the cache directory is the per-test one (ASYNCART_CACHE_DIR)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import run_cli
from tests.support.live_server import LiveServer

MiB = 1 << 20


def ok_json(*args: str) -> Any:
    proc = run_cli(*args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def pushed(server: LiveServer) -> dict[str, int]:
    """Two files (2 MiB and 1 MiB) in ``data:v0``; their sizes by name."""
    sizes = {"big.bin": 2 * MiB, "half.bin": MiB}
    for name, size in sizes.items():
        Path("src", name).parent.mkdir(exist_ok=True)
        Path("src", name).write_bytes(random.Random(size).randbytes(size))
    proc = run_cli("push", "src", "--name", "data", "--type", "dataset", "--url", server.url)
    assert proc.returncode == 0, proc.stderr
    return sizes


def test_pull_fills_the_cache_and_ls_reports_size_entries_and_hit_rate(
    server: LiveServer, pushed: dict[str, int]
) -> None:
    url = ["--url", server.url]
    empty = ok_json("cache", "ls")
    assert (empty["bytes"], empty["entries"], empty["hit_rate"]) == (0, 0, None)
    first = ok_json("pull", "data:v0", "-o", "one", *url)
    assert first["bytes_downloaded"] == 3 * MiB and first["cache_hits"] == 0
    nocache = ok_json("pull", "data:v0", "-o", "two", "--no-cache", *url)
    assert nocache["bytes_downloaded"] == 3 * MiB and nocache["bytes_from_cache"] == 0
    second = ok_json("pull", "data:v0", "-o", "three", *url)
    assert (second["bytes_downloaded"], second["bytes_from_cache"]) == (0, 3 * MiB)
    assert Path("three/big.bin").read_bytes() == Path("src/big.bin").read_bytes()
    shown = ok_json("cache", "ls")
    assert (shown["bytes"], shown["entries"]) == (3 * MiB, 2)
    assert (shown["hits"], shown["misses"], shown["hit_rate"]) == (2, 2, 0.5)
    line = run_cli("cache", "ls")
    assert line.returncode == 0
    assert "3.0 MiB in 2 entries" in line.stdout and "hit rate 50% (2 of 4 files)" in line.stdout
    human = run_cli("pull", "data:v0", "-o", "four", *url)
    assert "3.0 MiB from the cache" in human.stdout, human.stdout


def test_prune_and_clear(server: LiveServer, pushed: dict[str, int]) -> None:
    ok_json("pull", "data:v0", "-o", "one", "--url", server.url)
    assert ok_json("cache", "prune", "--older-than", "1d")["removed"] == 0  # all fresh
    pruned = ok_json("cache", "prune", "--max-size", "2MiB")  # one of the two must go
    assert (pruned["removed"], pruned["in_use"]) == (1, 0)
    left = ok_json("cache", "ls")
    assert left["bytes"] in (MiB, 2 * MiB) and left["entries"] == 1
    human = run_cli("cache", "clear")
    assert human.returncode == 0, human.stderr
    assert f"cleared 1 entry ({left['bytes'] // MiB}.0 MiB)" in human.stdout, human.stdout
    assert ok_json("cache", "ls")["entries"] == 0
    again = ok_json("pull", "data:v0", "-o", "two", "--url", server.url)
    assert again["bytes_downloaded"] == 3 * MiB  # nothing cached any more


def test_bad_sizes_and_durations_name_the_option() -> None:
    bad = run_cli("cache", "prune", "--max-size", "lots")
    assert bad.returncode == 2 and "--max-size 'lots' is not a size" in bad.stderr
    bad = run_cli("cache", "prune", "--older-than", "soon")
    assert bad.returncode == 2 and "--older-than 'soon' is not a duration" in bad.stderr
    env = run_cli("cache", "ls", env={"ASYNCART_CACHE_MAX_SIZE": "huge"})
    assert env.returncode == 1 and "ASYNCART_CACHE_MAX_SIZE 'huge'" in env.stderr
