"""Project quotas on deduplicated bytes (issue 21, docs/quotas.md), end to end: a real
server, the quota set with the ``asyncart server admin quota`` subprocess, real pushes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import asyncart
from asyncart.errors import QuotaExceeded
from tests.support.cli import run_cli
from tests.support.live_server import LiveServer

PROJECT = "quota"


def admin(root: Path, *args: str) -> str:
    proc = run_cli("server", "admin", "quota", PROJECT, *args, "--root", str(root))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def push(name: str, data: bytes) -> None:
    Path(f"{name}.bin").write_bytes(data)
    with asyncart.init(job_type="t", project=PROJECT) as run:
        artifact = asyncart.Artifact(name, "dataset")
        artifact.add_file(f"{name}.bin")
        run.log_artifact(artifact).wait()


def test_the_admin_command_sets_shows_and_clears(server: LiveServer) -> None:
    assert "no quota" in admin(server.root)
    assert "quota" in admin(server.root, "10KB")
    shown = json.loads(admin(server.root, "--json"))
    assert shown == {"project": PROJECT, "quota_bytes": 10_000, "stored_bytes": 0}
    assert "quota removed" in admin(server.root, "--clear")
    assert json.loads(admin(server.root, "--json"))["quota_bytes"] is None


def test_a_commit_over_quota_is_refused_naming_usage_quota_and_versions(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASYNCART_URL", server.url)
    admin(server.root, "6000")
    push("a", b"a" * 4000)  # under the quota
    with pytest.raises(QuotaExceeded) as refused:
        push("c", b"c" * 3000)
    message = str(refused.value)
    assert "over its quota" in message and "a:v" in message, message
    push("d", b"a" * 4000)  # only dedups: nothing new, fine even at the quota
    usage = json.loads(admin(server.root, "--json"))
    assert usage["quota_bytes"] == 6000 and usage["stored_bytes"] <= 6000
