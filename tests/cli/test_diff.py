"""``asyncart diff A B`` as a subprocess on the embedded store and a live server, both SDK
faces of ``artifact.diff``, and the property that a diff reads manifests only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import asyncart
from asyncart import aio
from tests.cli.test_cli import ok, ok_json, one_error_line, run_cli
from tests.support.fault_proxy import running_fault_proxy
from tests.support.live_server import LiveServer

CHUNK = 4096


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """4 KiB fixed chunks: a few chunks per file, at small sizes."""
    monkeypatch.setenv("ASYNCART_CHUNKER", "fixed")
    monkeypatch.setenv("ASYNCART_CHUNK_SIZE", str(CHUNK))


def _log(name: str, files: dict[str, bytes], url: str | None = None) -> None:
    with asyncart.init(job_type="seed", url=url) as run:
        art = asyncart.Artifact(name, type="dataset")
        for path, data in files.items():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_bytes(data)
            art.add_file(path, name=path)
        run.log_artifact(art, wait=True)
        for path in files:
            os.remove(path)


BIG = os.urandom(4 * CHUNK)
CHANGED = BIG[: CHUNK + 10] + b"!" + BIG[CHUNK + 11 :] + b"tail"  # chunk 2 and a new tail
V0 = {"big.bin": BIG, "same.txt": b"same", "old.txt": b"old", "a/moved.txt": b"moving"}
V1 = {"big.bin": CHANGED, "same.txt": b"same", "new.txt": b"new!", "b/moved.txt": b"moving"}


def _seed(url: str | None) -> None:
    _log("data", V0, url)
    _log("data", V1, url)


def test_diff_lists_each_change_with_chunk_level_bytes(store: str) -> None:
    url = os.environ.get("ASYNCART_URL")
    _seed(url)
    d = ok_json("diff", "data:v0", "data:latest")
    assert (d["old"], d["new"]) == ("default/data:v0", "default/data:v1")
    files = {f["path"]: f for f in d["files"]}
    assert {p: f["status"] for p, f in files.items()} == {
        "big.bin": "changed",
        "new.txt": "added",
        "old.txt": "removed",
        "b/moved.txt": "renamed",
    }
    assert files["b/moved.txt"]["old_path"] == "a/moved.txt"
    assert files["big.bin"]["differing_bytes"] == CHUNK + 4  # the edited chunk, the tail
    assert d["unchanged"] == ["same.txt"]
    assert d["new_bytes"] == CHUNK + 4 + 4  # and new.txt
    assert d["shared_bytes"] == 3 * CHUNK + len(b"same") + len(b"moving")
    text = ok("diff", "data:v0", "data:v1", "--all").splitlines()
    assert text[0] == "default/data:v0 -> default/data:v1"
    assert text[1] == " R a/moved.txt -> b/moved.txt | 6 B, same content"
    assert text[-2].startswith("   same.txt") and text[-2].endswith("| 4 B, same content")
    assert text[-1] == (
        "1 added, 1 removed, 1 changed, 1 renamed, 1 file unchanged; "
        "4.0 KiB new, 12.0 KiB shared (16.0 KiB -> 16.0 KiB)"
    )
    # Across collections (and projects): any two references.
    _log("other", {"same.txt": b"same"}, url)
    across = ok_json("diff", "default/other:v0", "data:v0")
    assert across["counts"] == {
        "added": 3,
        "removed": 0,
        "changed": 0,
        "renamed": 0,
        "unchanged": 1,
    }
    one_error_line(run_cli("diff", "data:v0", "data:v7"), "v7")


def test_a_diff_moves_no_pack_bytes(server: LiveServer) -> None:
    """Only the two version records and manifests cross the network: no pack byte."""
    _seed(server.url)
    with running_fault_proxy(server.url) as proxy:
        d = ok_json("diff", "data:v0", "data:v1", "--url", proxy.url)
        assert proxy.bytes_sent(path="/v1/packs") == 0
        assert proxy.count("POST", "/v1/chunks") == 0  # nor a chunk lookup
        assert proxy.count("GET", "/v1/projects/default/artifacts/data/versions/") == 4
        manifests = [p for m, p in proxy.requests if p.endswith("/manifest")]
        assert len(manifests) == 2
    assert d["new_bytes"] == CHUNK + 8


async def test_both_sdk_faces_diff_alike(server: LiveServer) -> None:
    _seed(server.url)  # the sync API runs its own loop thread (the portal)
    old = asyncart.Api(url=server.url).artifact("data:v0")
    sync_diff = old.diff(asyncart.Api(url=server.url).artifact("data:v1"))
    by_ref = old.diff("data:v1")
    async with aio.Api(url=server.url) as api:
        a = await api.artifact("data:v0")
        async_diff = await a.diff(await api.artifact("data:latest"))
        assert (await a.diff("default/data:v1")).to_json() == async_diff.to_json()
    assert sync_diff.to_json() == by_ref.to_json() == async_diff.to_json()
    assert [f.path for f in sync_diff.of("renamed")] == ["b/moved.txt"]
    assert str(sync_diff).splitlines()[0] == "default/data:v0 -> default/data:v1"
    with pytest.raises(asyncart.ConfigError, match="has not been logged"):
        old.diff(asyncart.Artifact("draft", type="dataset"))
