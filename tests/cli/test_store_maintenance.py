"""``asyncart delete`` and ``asyncart server fsck|gc``, run as real subprocesses.

Each test talks to a server subprocess (deletion through the embedded store is covered
in-process by tests/sdk/test_delete.py); the maintenance commands run on the directory
of the store that server is serving, while it serves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.live_server import LiveServer
from tests.support.stores import flip_byte, pack_files

NAME = "bike dataset"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with no terminal on stdin (as in scripts and CI)."""
    return subprocess.run(
        [sys.executable, "-m", "asyncart", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ),
        timeout=120,
    )


def ok(*args: str) -> str:
    proc = run(*args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def error_line(proc: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    [line] = proc.stderr.splitlines()
    assert line.startswith("asyncart: error: ")
    for fragment in fragments:
        assert fragment in line, line
    return line


def push(url: list[str], content: bytes, *extra: str) -> Any:
    Path("model.bin").write_bytes(content)
    return json.loads(ok("push", "model.bin", "--name", NAME, "--type", "model", "--json",
                         *url, *extra))


def test_delete_versions_and_artifacts(server: LiveServer) -> None:
    url = ["--url", server.url]
    push(url, b"zero", "--alias", "best")
    push(url, b"one")
    error_line(run("delete", f"{NAME}:v1", *url), "--yes")  # no terminal: refuse
    error_line(run("delete", NAME, "--yes", *url), "--all")  # which version?
    error_line(run("delete", f"{NAME}:v0", "--yes", *url), "best", "--delete-aliases")

    out = json.loads(ok("delete", f"{NAME}:best", "--yes", "--delete-aliases", "--json", *url))
    assert [(v["version"], v["aliases"]) for v in out["deleted"]] == [("v0", ["best"])]
    assert ok("ls", NAME, *url).startswith("v1\tlatest\t")

    assert push(url, b"two")["version"] == "v2"  # numbers are never reused
    assert ok("delete", f"{NAME}:latest", "-y", *url) == (
        f"deleted default/{NAME}:v2 (aliases: latest)\n"
    )
    assert ok("delete", NAME, "--all", "--yes", *url) == (  # latest had moved back to v1
        f"deleted default/{NAME}:v1 (aliases: latest)\n"
    )
    error_line(run("delete", f"{NAME}:v1", "--yes", *url), NAME)


def test_fsck_finds_a_flipped_byte_repair_and_a_push_heal_it_and_gc_reclaims(
    server: LiveServer,
) -> None:
    url = ["--url", server.url]
    root = str(server.root)
    content = os.urandom(3_000_000)
    push(url, content)
    assert ok("server", "fsck", "--root", root).splitlines()[-1].endswith(": clean")

    flip_byte(pack_files(server.root)[0], 10)
    found = run("server", "fsck", "--root", root)
    assert found.returncode == 1
    lines = found.stdout.splitlines()
    assert lines[0].startswith("problem: chunk ") and "does not match its hash" in lines[0]
    chunk = lines[0].split()[2]
    assert lines[1].startswith(f"problem: default/{NAME}:v0: 1 of its ")
    assert lines[-1].endswith(": 2 problem(s)")
    # The pull notices too, and names the same chunk.
    error_line(run("pull", f"{NAME}:v0", "-o", "out", *url), chunk, "fsck")

    repaired = run("server", "fsck", "--root", root, "--repair", "--json")
    assert repaired.returncode == 1  # the version stays incomplete until its files are pushed
    report = json.loads(repaired.stdout)
    assert [(f["kind"], f["repaired"]) for f in report["findings"]] == [
        ("chunk_corrupt", True), ("version_incomplete", False)
    ]
    again = push(url, content)
    assert (again["version"], again["created"]) == ("v0", False)
    assert 0 < again["bytes_uploaded"] < len(content)  # just the damaged chunk
    assert ok("server", "fsck", "--root", root).splitlines()[-1].endswith(": clean")
    ok("pull", f"{NAME}:v0", "-o", "out", *url)
    assert Path("out/model.bin").read_bytes() == content

    ok("delete", NAME, "--all", "--yes", *url)
    dry = json.loads(ok("server", "--root", root, "gc", "--grace", "0", "--dry-run", "--json"))
    assert (dry["dry_run"], dry["deleted_packs"]) == (True, 2)
    assert len(pack_files(server.root)) == 2
    done = ok("server", "gc", "--root", root, "--grace", "0").splitlines()
    assert done[1].startswith("deleted 2 unreferenced pack(s) (")
    assert pack_files(server.root) == []
    assert ok("server", "fsck", "--root", root).splitlines()[-1].endswith(": clean")


def test_maintenance_refuses_a_directory_that_is_not_a_store(tmp_path: Path) -> None:
    for command in ("fsck", "gc"):
        error_line(run("server", command, "--root", str(tmp_path / "nothing")),
                   "not an asyncart store", "--root")
    assert not (tmp_path / "nothing").exists()
