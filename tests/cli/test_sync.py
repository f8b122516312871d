"""``asyncart sync SRC DST``: an offline job's embedded store copied to a server (and
back), with runs and lineage; idempotent, resumable after SIGKILL, numbering kept or
appended (the destination's permissions, the recorded mapping, links, ttls and collection
fields: ``test_sync_records.py``).

Every transfer crosses the fault proxy, which counts what moves (pack uploads, pack
range reads) and holds pack uploads (a gated stall) so a kill lands mid-sync.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import asyncart
from tests.support.cli import HANG_LIMIT, run_cli
from tests.support.fault_proxy import Fault, FaultProxy, running_fault_proxy
from tests.support.live_server import LiveServer, live_server
from tests.support.s3 import S3Bucket, s3_bucket, s3_server  # noqa: F401 - fixtures

PROJECT = "offline"
MiB = 1 << 20
SMALL_PACKS = {"ASYNCART_PACK_SIZE": str(MiB)}
PACKS = "/v1/packs"


@pytest.fixture
def proxy(server: LiveServer) -> Iterator[FaultProxy]:
    with running_fault_proxy(server.url) as p:
        yield p


def offline_store() -> Path:
    """The embedded store this test's SDK calls log to (``clean_env`` made it fresh)."""
    return Path(os.environ["ASYNCART_DIR"])


def log_offline(files: dict[str, bytes], model: bytes | None, url: str | None = None) -> None:
    """What a job without network does: a 'prepare' run logs a dataset (one version per
    entry of ``files``), a 'train' run uses its latest and logs a model (to ``url`` if
    given, else to the embedded store)."""
    for i, (name, data) in enumerate(files.items()):
        run = asyncart.init(project=PROJECT, job_type="prepare", name=f"prep-{i}", url=url)
        Path(name).write_bytes(data)
        art = asyncart.Artifact(name="data", type="dataset", metadata={"rows": i})
        art.add_file(name)
        run.log_artifact(art, aliases=["best"] if i == 0 else None, tags=["raw"])
        run.finish()
    if model is None:
        return
    run = asyncart.init(project=PROJECT, job_type="train", name="train-0", url=url)
    run.use_artifact("data:latest")
    Path("model.bin").write_bytes(model)
    art = asyncart.Artifact(name="model", type="model")
    art.add_file("model.bin")
    run.log_artifact(art, aliases=["production"])
    run.finish()


def sync(src: str, dst: str, *names: str, env: dict[str, str] | None = None) -> dict:
    proc = run_cli("sync", src, dst, *names, "--json", env={**SMALL_PACKS, **(env or {})})
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def mapping(report: dict) -> list[tuple[str, str, str, bool]]:
    return [(v["name"], v["source"], v["destination"], v["copied"]) for v in report["versions"]]


def pack_uploads(proxy: FaultProxy) -> int:
    return proxy.count("PUT", PACKS) + proxy.count("POST", PACKS)


def test_offline_store_to_server_keeps_versions_and_lineage_and_reruns_copy_nothing(
    tmp_path: Path, server: LiveServer, proxy: FaultProxy
) -> None:
    store = offline_store()
    rng = random.Random(1)
    shared = rng.randbytes(300_000)
    log_offline(
        {"a.bin": shared, "b.bin": shared + rng.randbytes(200_000)},
        model=rng.randbytes(100_000),
    )
    first = sync(str(store), proxy.url)
    assert mapping(first) == [
        ("data", "v0", "v0", True),
        ("data", "v1", "v1", True),
        ("model", "v0", "v0", True),
    ]
    # Dedup across the whole copy: the 300 kB data:v1 shares with v0 is sent once.
    assert first["runs"] == 3 and 600_000 <= first["bytes_sent"] < 900_000 - 200_000
    assert pack_uploads(proxy) >= 1

    api = asyncart.Api(url=server.url, project=PROJECT)
    try:
        model = api.artifact("model:production")
        producer = model.logged_by()
        assert producer is not None and producer.job_type == "train"
        consumers = api.artifact("data:v1").used_by()
        assert [r.id for r in consumers] == [producer.id]  # one run: the edges connect
        data0 = api.artifact("data:best")
        assert data0.version == "v0" and data0.metadata == {"rows": 0}
        assert "raw" in data0.tags
        assert producer.name == "train-0" and producer.status == "finished"
        assert api.artifact("data:latest").version == "v1"
    finally:
        api.close()

    before = pack_uploads(proxy)
    again = sync(str(store), proxy.url)
    assert [m[3] for m in mapping(again)] == [False, False, False]
    assert again["bytes_sent"] == 0
    assert pack_uploads(proxy) == before  # not one pack byte moved on the re-run


def test_server_to_embedded_appends_after_what_is_there_and_prints_the_mapping(
    server: LiveServer, proxy: FaultProxy
) -> None:
    rng = random.Random(2)
    log_offline({"own.bin": rng.randbytes(1000)}, None)  # the embedded store has data:v0
    log_offline(
        {"a.bin": rng.randbytes(50_000), "b.bin": rng.randbytes(50_000)}, None, url=server.url
    )
    local = offline_store()
    proc = run_cli("sync", proxy.url, str(local), f"{PROJECT}/data", env=SMALL_PACKS)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == [
        f"{PROJECT}/data:v0 -> v1  copied",
        f"{PROJECT}/data:v1 -> v2  copied",
    ]
    assert "2 of 2 version(s) copied" in lines[2]
    read = proxy.bytes_sent("GET", PACKS)
    assert read >= 100_000

    again = sync(proxy.url, str(local), f"{PROJECT}/data")
    assert mapping(again) == [("data", "v0", "v1", False), ("data", "v1", "v2", False)]
    assert proxy.bytes_sent("GET", PACKS) == read  # no pack byte read on the re-run
    api = asyncart.Api(url=None, project=PROJECT)
    try:
        assert api.artifact("data:latest").version == "v2"
    finally:
        api.close()


def test_sigkilled_sync_rerun_moves_only_the_rest(server: LiveServer, proxy: FaultProxy) -> None:
    size = MiB + MiB // 2  # two packs of at most 1 MiB each
    rng = random.Random(3)
    log_offline({f"{i}.bin": rng.randbytes(size) for i in range(3)}, None)
    # The first version's two packs pass; the next pack upload is held, then the sync killed.
    held = proxy.add(
        Fault(
            "stall",
            method="POST",
            path=PACKS,
            seconds=HANG_LIMIT,
            skip=2,
            times=1000,
            gate=asyncio.Event(),
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "asyncart", "sync", str(offline_store()), proxy.url, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **SMALL_PACKS},
    )
    try:
        deadline = time.monotonic() + HANG_LIMIT  # a hang guard, not a timing assertion
        while held.fired < 1:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.communicate(timeout=HANG_LIMIT)
    held.times = 0
    proxy.open_gate(held)

    rest = sync(str(offline_store()), proxy.url)
    assert mapping(rest) == [
        ("data", "v0", "v0", False),  # committed before the kill: not sent again
        ("data", "v1", "v1", True),
        ("data", "v2", "v2", True),
    ]
    # Only the rest moves: v2 whole, and of v1 what had not arrived (the held pack may
    # have reached the server after the kill; then it is not sent again either).
    assert size <= rest["bytes_sent"] <= 2 * size


def test_server_to_server(server: LiveServer, tmp_path: Path) -> None:
    log_offline({"a.bin": random.Random(5).randbytes(30_000)}, b"model", url=server.url)
    with live_server(tmp_path / "other") as other:
        report = sync(server.url, other.url, f"{PROJECT}/model")
        assert mapping(report) == [("model", "v0", "v0", True)]
        api = asyncart.Api(url=other.url, project=PROJECT)
        try:
            producer = api.artifact("model:production").logged_by()
            assert producer is not None and producer.name == "train-0"
        finally:
            api.close()


def test_offline_store_to_a_server_on_postgresql_and_s3(
    tmp_path: Path,
    postgres_url: str,
    s3_bucket: S3Bucket,  # noqa: F811
) -> None:
    rng = random.Random(6)
    log_offline({"a.bin": rng.randbytes(40_000)}, rng.randbytes(20_000))
    args = ["--db", postgres_url, "--blobs", s3_bucket.url]
    with live_server(tmp_path / "team", extra_args=args, extra_env=s3_bucket.env) as team:
        first = sync(str(offline_store()), team.url)
        assert [m[3] for m in mapping(first)] == [True, True] and first["bytes_sent"] > 0
        again = sync(str(offline_store()), team.url)
        assert [m[3] for m in mapping(again)] == [False, False] and again["bytes_sent"] == 0
        api = asyncart.Api(url=team.url, project=PROJECT)
        try:
            producer = api.artifact("model:production").logged_by()
            assert producer is not None
            assert [r.id for r in api.artifact("data:v0").used_by()] == [producer.id]
        finally:
            api.close()
