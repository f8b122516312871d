"""Distributed artifacts, as W&B's ``upsert_artifact`` / ``finish_artifact`` define them
(``wandb_run.py``; tests/system_tests/test_artifacts/test_wandb_artifacts_full.py): the
processes of one job, each its own run with one ``distributed_id`` (by default the run's
group), add files to one version, committed once by ``finish_artifact``.

The job runs as real processes (``tests/support/ddp_worker.py``) on the embedded store
and on a real server (``store``). W&B's own tests of this surface run against a mock
server and assert only that the calls succeed or raise; these assert what the store
holds.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import asyncart
from asyncart import aio
from asyncart.config import Settings
from asyncart.core.manifest import Manifest, ManifestEntry
from asyncart.errors import DistributedConflict, MissingDistributedId
from asyncart.repo.gc import collect_garbage
from asyncart.repo.service import Repository
from tests.support.live_server import LiveServer, live_server

WORKER = Path(__file__).resolve().parent.parent / "support" / "ddp_worker.py"
ROOT = WORKER.parent.parent.parent
HANG_LIMIT = 120


def ranks(action: str, name: str, group: str, texts: dict[str, str]) -> list[dict[str, Any]]:
    """Run one worker process per entry of ``texts`` (entry -> content) at once; each
    in its own directory. Their JSON lines, in the order given."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    procs = []
    for i, (entry, text) in enumerate(texts.items()):
        where = Path(f"rank-{action}-{i}")
        where.mkdir(exist_ok=True)
        procs.append(
            subprocess.Popen(
                [sys.executable, str(WORKER), action, name, group, entry, text],
                cwd=where,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=HANG_LIMIT)
        outputs.append((proc.returncode, out, err))
    if action == "push-then-die":
        assert all(code == 3 for code, _, _ in outputs), outputs
        return []
    assert all(code == 0 for code, _, _ in outputs), outputs
    return [json.loads(out.strip().splitlines()[-1]) for _, out, _ in outputs]


def write(path: str, text: str) -> str:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)
    return path


def part(name: str, entry: str, text: str) -> asyncart.Artifact:
    artifact = asyncart.Artifact(name, "dataset")
    artifact.add_file(write(f"src/{entry}", text), entry)
    return artifact


# -- processes of one job ---------------------------------------------------------------


def test_processes_of_one_job_write_one_version(store: str) -> None:
    """Mirrors test_object_references.py::test_distributed_artifact_simple (files for its
    ``wandb.Image`` parts; both stores): three processes upsert a file each (their runs
    share a group), a fourth finishes with its own: one version, v0, holds all four
    files; each run logged it; before the finish nothing is visible."""
    texts = {f"shard-{r}.txt": f"rank {r} bytes" for r in range(1, 4)}
    upserted = ranks("upsert", "ddp-data", "job-7", texts)
    assert [r["state"] for r in upserted] == ["PENDING"] * 3
    assert [r["version"] for r in upserted] == [None] * 3
    assert not asyncart.Api().artifact_exists("ddp-data")
    (finished,) = ranks("finish", "ddp-data", "job-7", {"shard-0.txt": "rank 0 bytes"})
    assert (finished["state"], finished["version"]) == ("COMMITTED", "v0")
    versions = asyncart.Api().artifacts("dataset", "ddp-data")
    assert [v.version for v in versions] == ["v0"]
    (committed,) = versions
    assert sorted(committed.manifest.entries) == [f"shard-{r}.txt" for r in range(4)]
    root = Path(committed.download())
    assert {p.name: p.read_text() for p in root.iterdir()} == {
        f"shard-{r}.txt": f"rank {r} bytes" for r in range(4)
    }
    producers = {r["run"] for r in upserted} | {finished["run"]}
    assert len(producers) == 4
    for run_id in producers:
        run = asyncart.Api().run(run_id)
        assert run.group == "job-7"
        assert [a.name for a in run.logged_artifacts()] == ["ddp-data:v0"]
    assert committed.logged_by().id == finished["run"]  # type: ignore[union-attr]


def test_a_rank_that_died_mid_upload_sends_only_what_is_missing() -> None:
    """A process that uploaded its file's chunks and died before its part was recorded:
    nothing is pending, and when the rank runs again only the bytes the store lacks
    travel (the chunks dedup)."""
    big = "x" * 300_000
    ranks("push-then-die", "ddp-data", "job-8", {"shard-1.txt": "repeat:x:300000"})
    with asyncart.init(job_type="ddp", group="job-8") as run:
        again = part("ddp-data", "shard-1.txt", big)
        again.add_file(write("src/extra.txt", "never sent before"), "extra.txt")
        run.upsert_artifact(again)
        stats = again.last_transfer
        assert stats is not None
        assert stats.bytes_uploaded == len("never sent before")
        done = run.finish_artifact(asyncart.Artifact("ddp-data", "dataset"))
    assert sorted(done.manifest.entries) == ["extra.txt", "shard-1.txt"]


# -- W&B's tests of the calls -----------------------------------------------------------


def test_artifact_upsert_no_id() -> None:
    """Mirrors test_wandb_artifacts_full.py::test_artifact_upsert_no_id: no group and no
    distributed_id is a TypeError."""
    with asyncart.init(job_type="t") as run, pytest.raises(TypeError, match="distributed_id"):
        run.upsert_artifact(part("distributed_artifact", "image_1", "pixels"))
    assert issubclass(MissingDistributedId, ValueError)  # asyncart's ConfigError too


def test_artifact_upsert_group_id() -> None:
    """Mirrors test_wandb_artifacts_full.py::test_artifact_upsert_group_id: the run's
    group is the default distributed_id."""
    with asyncart.init(job_type="t", group="test_group_0") as run:
        upserted = run.upsert_artifact(part("distributed_artifact", "image_1", "pixels"))
    assert upserted.distributed_id == "test_group_0"
    assert upserted.state == "PENDING"
    assert upserted.pending_version is not None
    assert (upserted.pending_version.file_count, upserted.pending_version.parts) == (1, 1)


def test_artifact_upsert_distributed_id() -> None:
    """Mirrors test_wandb_artifacts_full.py::test_artifact_upsert_distributed_id."""
    with asyncart.init(job_type="t") as run:
        upserted = run.upsert_artifact(
            part("distributed_artifact", "image_2", "pixels"), distributed_id="test_group_0"
        )
    assert (upserted.distributed_id, upserted.state) == ("test_group_0", "PENDING")
    with pytest.raises(ValueError, match="finalized"):
        upserted.add_file(write("late.txt", "late"))


def test_artifact_finish_no_id() -> None:
    """Mirrors test_wandb_artifacts_full.py::test_artifact_finish_no_id."""
    with asyncart.init(job_type="t") as run, pytest.raises(TypeError):
        run.finish_artifact(asyncart.Artifact("distributed_artifact", "dataset"))


def test_artifact_finish_group_id() -> None:
    """Mirrors test_wandb_artifacts_full.py::test_artifact_finish_group_id: finish with the
    run's group. W&B commits an empty artifact; asyncart commits what was upserted (an
    empty finish of nothing is refused, as an empty log is)."""
    with asyncart.init(job_type="t", group="test_group_0") as run:
        run.upsert_artifact(part("distributed_artifact", "image_1", "pixels"))
        finished = run.finish_artifact(asyncart.Artifact("distributed_artifact", "dataset"))
        assert (finished.state, finished.version) == ("COMMITTED", "v0")
        with pytest.raises(ValueError, match="nothing to finish"):
            run.finish_artifact(asyncart.Artifact("other_artifact", "dataset"))


def test_artifact_finish_distributed_id() -> None:
    """Mirrors test_wandb_artifacts_full.py::test_artifact_finish_distributed_id: a finish
    with no upsert before it is a log of its own files."""
    with asyncart.init(job_type="t") as run:
        finished = run.finish_artifact(
            part("distributed_artifact", "image_1", "pixels"), distributed_id="test_group_0"
        )
    assert finished.name == "distributed_artifact:v0"
    assert [r.id for r in [finished.logged_by()] if r] == [run.id]


# -- what the store keeps ---------------------------------------------------------------


def test_pending_version_is_not_visible(store: str) -> None:
    """Upserts before the finish are a pending version: no version, no latest, not
    listed (both stores)."""
    with asyncart.init(job_type="t", group="g") as run:
        run.upsert_artifact(part("ddp", "a.txt", "a"))
        assert not asyncart.Api().artifact_exists("ddp")
        assert asyncart.Api().artifact_collections(type_name="dataset") == []
        with pytest.raises(asyncart.NotFoundError):
            asyncart.Api().artifact("ddp:latest")
        run.finish_artifact(asyncart.Artifact("ddp", "dataset"), aliases=["best"])
    fetched = asyncart.Api().artifact("ddp:best")
    assert (fetched.version, sorted(fetched.aliases)) == ("v0", ["best", "latest"])


def test_conflicting_paths_are_refused(store: str) -> None:
    """Two processes adding one path with other bytes: the second part is refused whole
    (``DistributedConflict``, a ConflictError); the same bytes again are a no-op (both
    stores). W&B's server merges patch manifests, last one winning; asyncart refuses
    rather than silently keep one rank's file."""
    with asyncart.init(job_type="t", group="g") as first:
        first.upsert_artifact(part("ddp", "shared.txt", "first"))
    with asyncart.init(job_type="t", group="g") as second:
        clash = part("ddp", "shared.txt", "second")
        clash.add_file(write("src/mine.txt", "mine"), "mine.txt")
        with pytest.raises(DistributedConflict, match=r"shared\.txt"):
            second.upsert_artifact(clash)
        assert issubclass(DistributedConflict, asyncart.ConflictError)
        second.upsert_artifact(part("ddp", "shared.txt", "first"))  # the same bytes
        done = second.finish_artifact(asyncart.Artifact("ddp", "dataset"))
    assert list(done.manifest.entries) == ["shared.txt"]  # mine.txt was refused with it
    assert Path(done.download(), "shared.txt").read_text() == "first"


def test_type_of_a_part_must_match() -> None:
    """A part of another type than the earlier parts' (or the collection's) is refused."""
    with asyncart.init(job_type="t", group="g") as run:
        run.upsert_artifact(part("ddp", "a.txt", "a"))
        other = asyncart.Artifact("ddp", "model")
        other.add_file(write("b.txt", "b"))
        with pytest.raises(asyncart.TypeConflict):
            run.upsert_artifact(other)


def test_upsert_after_finish_starts_the_next_version() -> None:
    """W&B's finish_artifact docstring: later upserts with the same distributed ID make a
    new version."""
    with asyncart.init(job_type="t", group="g") as run:
        run.upsert_artifact(part("ddp", "a.txt", "a"))
        run.finish_artifact(asyncart.Artifact("ddp", "dataset"))
        run.upsert_artifact(part("ddp", "b.txt", "b"))
        assert asyncart.Api().artifact("ddp:latest").version == "v0"
        second = run.finish_artifact(asyncart.Artifact("ddp", "dataset"))
    assert second.version == "v1"
    assert list(second.manifest.entries) == ["b.txt"]


def test_gc_keeps_the_chunks_of_a_pending_version() -> None:
    """A finish that never came (yet): garbage collection, even with no grace, keeps the
    chunks the pending parts name, so a later finish commits them."""
    with asyncart.init(job_type="t", group="g") as run:
        run.upsert_artifact(part("ddp", "a.txt", "kept by the pending version"))

    async def gc() -> int:
        repo = await Repository.open_dir(Settings.from_env().store_dir)
        try:
            return (await collect_garbage(repo, grace=0)).deleted_packs
        finally:
            await repo.close()

    assert asyncio.run(gc()) == 0
    with asyncart.init(job_type="t", group="g") as later:
        done = later.finish_artifact(asyncart.Artifact("ddp", "dataset"))
    assert Path(done.download(), "a.txt").read_text() == "kept by the pending version"


async def test_upsert_and_finish_on_the_async_face() -> None:
    """The same through asyncart.aio (one core)."""
    async with await aio.init(job_type="t", group="g") as run:
        first = aio.Artifact("ddp", "dataset")
        first.add_file(write("a.txt", "a"))
        upserted = await run.upsert_artifact(first)
        assert upserted.state == "PENDING"
        last = aio.Artifact("ddp", "dataset")
        last.add_file(write("b.txt", "b"))
        done = await run.finish_artifact(last)
        assert (done.version, sorted(done.manifest.entries)) == ("v0", ["a.txt", "b.txt"])


# -- the routes -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("pending") / "store") as srv:
        yield srv


def post(server: LiveServer, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        server.url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def reference_part(*paths: str) -> dict[str, Any]:
    """A commit body of reference entries (no chunks to upload)."""
    entries = [ManifestEntry(p, 1, secrets.token_hex(32), ref=f"file:///data/{p}") for p in paths]
    return {"type": "dataset", "manifest": Manifest(tuple(entries)).to_json()}


def test_a_retried_finish_answers_the_version_it_made(shared_server: LiveServer) -> None:
    """The finish's token makes it idempotent: sent again (its answer lost), it answers
    the same version and commits nothing more; a new token with nothing pending is a 400."""
    base = "/v1/projects/default/artifacts/retried"
    status, pending = post(shared_server, f"{base}/pending?distributed_id=j", reference_part("a"))
    assert (status, pending["state"], pending["file_count"]) == (200, "PENDING", 1)
    token = secrets.token_hex(16)
    finish = f"{base}/pending/finish?distributed_id=j&token={token}"
    body = reference_part("b")
    status, first = post(shared_server, finish, body)
    assert (status, first["version"], first["file_count"]) == (201, "v0", 2)
    status, again = post(shared_server, finish, body)
    assert (status, again["version"], again["digest"]) == (200, "v0", first["digest"])
    other = f"{base}/pending/finish?distributed_id=j&token={secrets.token_hex(16)}"
    status, refused = post(shared_server, other, reference_part())
    assert status == 400 and "nothing to finish" in refused["message"]


@pytest.mark.parametrize(
    ("query", "match"),
    [
        ("", "distributed_id"),
        ("?distributed_id=", "distributed_id"),
        ("?distributed_id=" + "x" * 129, "distributed_id"),
        ("?distributed_id=j&token=short", "token"),
    ],
)
def test_routes_check_their_query(shared_server: LiveServer, query: str, match: str) -> None:
    """A missing or bad distributed_id or token is a 400 naming it."""
    route = "/v1/projects/default/artifacts/q/pending"
    route += "/finish" if "token" in query else ""
    status, answer = post(shared_server, route + query, reference_part("a"))
    assert status == 400 and match in answer["message"]
