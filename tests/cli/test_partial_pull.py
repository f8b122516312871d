"""Partial pulls: ``asyncart pull NAME PATH... --include/--exclude`` and ``download(path_prefix=)``
move only the selected files' chunks (counted at the server, through a proxy) and read the
manifest once; a pattern that selects nothing is an error that moves nothing."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

import asyncart
from tests.support.cli import run_cli
from tests.support.fault_proxy import FaultProxy, running_fault_proxy
from tests.support.live_server import LiveServer

MiB = 1 << 20
FILES = {
    "big.bin": 4 * MiB,
    "model.safetensors": 2 * MiB,
    "cfg/config.json": 3000,
    "cfg/extra.txt": 5000,
    "shards/a/part-1.safetensors": 1 * MiB,
}
PACKS = "/v1/packs/"


@pytest.fixture
def pushed(server: LiveServer, tmp_path: Path) -> Path:
    src = tmp_path / "src"
    rng = random.Random(18)
    for name, size in FILES.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(rng.randbytes(size))
    done = run_cli("push", str(src), "--name", "weights", "--type", "model", "--url", server.url)
    assert done.returncode == 0, done.stderr
    return src


@pytest.fixture
def proxy(server: LiveServer) -> Iterator[FaultProxy]:
    with running_fault_proxy(server.url) as p:
        yield p


def _manifest_reads(proxy: FaultProxy) -> int:
    return sum(1 for m, p in proxy.requests if m == "GET" and p.endswith("/manifest"))


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_pull_moves_only_the_selected_files_bytes(
    pushed: Path, proxy: FaultProxy, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    done = run_cli(
        *("pull", "weights", "cfg/config.json", "--include", "*.safetensors"),
        *("--exclude", "shards/**", "-o", str(out), "--url", proxy.url, "--json"),
    )
    assert done.returncode == 0, done.stderr
    chosen = {"cfg/config.json", "model.safetensors"}
    assert _files(out) == chosen
    for name in chosen:
        assert (out / name).read_bytes() == (pushed / name).read_bytes()
    report = json.loads(done.stdout)
    assert report["selected"] == sorted(chosen)
    wanted = sum(FILES[n] for n in chosen)
    assert report["bytes_downloaded"] == wanted
    assert proxy.bytes_sent("GET", PACKS) == wanted  # not one byte of big.bin or the shard
    assert _manifest_reads(proxy) == 1


def test_a_directory_path_selects_by_whole_components(
    pushed: Path, proxy: FaultProxy, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    done = run_cli("pull", "weights", "cfg/", "-o", str(out), "--url", proxy.url, "-q")
    assert done.returncode == 0, done.stderr
    assert _files(out) == {"cfg/config.json", "cfg/extra.txt"}
    assert proxy.bytes_sent("GET", PACKS) == 8000


def test_a_glob_matching_nothing_fails_and_moves_nothing(
    pushed: Path, proxy: FaultProxy, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    done = run_cli(
        "pull", "weights", "--include", "*.safetensor", "-o", str(out), "--url", proxy.url
    )
    assert done.returncode == 1
    assert "--include '*.safetensor' matched no file of this version" in done.stderr
    assert "'model.safetensors'" in done.stderr  # what there is
    assert not out.exists()
    assert proxy.bytes_sent("GET", PACKS) == 0

    typo = run_cli("pull", "weights", "cfg/confg.json", "-o", str(out), "--url", proxy.url)
    assert typo.returncode == 1 and "path 'cfg/confg.json' matched no file" in typo.stderr


def test_dry_run_reports_the_selection_and_moves_nothing(
    pushed: Path, proxy: FaultProxy, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    done = run_cli(
        *("pull", "weights", "--include", "**/*.safetensors", "--dry-run", "--json"),
        *("-o", str(out), "--url", proxy.url),
    )
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["selected"] == ["model.safetensors", "shards/a/part-1.safetensors"]
    assert plan["files_to_move"] == 2 and plan["bytes_to_move"] == 3 * MiB
    assert proxy.bytes_sent("GET", PACKS) == 0 and not out.exists()

    text = run_cli(
        *("pull", "weights", "--include", "*.json", "--dry-run"),
        *("-o", str(out), "--url", proxy.url),
    )
    assert text.returncode == 0, text.stderr
    assert "1 of the version's 5 selected" in text.stdout


def test_sdk_path_prefix_and_entry_download_move_only_their_bytes(
    pushed: Path, proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASYNCART_URL", proxy.url)
    art = asyncart.Api().artifact("weights:latest")
    before = proxy.bytes_sent("GET", PACKS)
    root = Path(art.download(tmp_path / "prefix", path_prefix="cfg"))
    assert _files(root) == {"cfg/config.json", "cfg/extra.txt"}
    assert proxy.bytes_sent("GET", PACKS) - before == 8000

    before = proxy.bytes_sent("GET", PACKS)
    one = Path(art.get_entry("model.safetensors").download(tmp_path / "entry"))
    assert one.read_bytes() == (pushed / "model.safetensors").read_bytes()
    assert proxy.bytes_sent("GET", PACKS) - before == 2 * MiB
    assert _manifest_reads(proxy) == 1  # fetched with the version, never again
