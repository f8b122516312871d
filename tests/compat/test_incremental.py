"""Incremental artifacts (``Artifact(name, type, incremental=True)``), as W&B's tests
define them: logging one makes a version of ``latest``'s entries plus the added ones,
and only the added bytes move.

Each test names the W&B test (or source) it mirrors.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import asyncart
from asyncart import aio


def log(art: asyncart.Artifact, job_type: str = "incremental") -> asyncart.Artifact:
    with asyncart.init(job_type=job_type) as run:
        run.log_artifact(art).wait()
    return art


def entry_names(ref: str) -> set[str]:
    return set(asyncart.Api().artifact(ref).manifest.entries)


@pytest.mark.parametrize("incremental", [False, True])
def test_add_file_respects_incremental(store: str, incremental: bool) -> None:
    """Mirrors test_wandb_artifacts_full.py::test_add_file_respects_incremental: the
    second log holds both files when incremental, only its own when not."""
    Path("orig.txt").write_text("orig data")
    orig = asyncart.Artifact("incremental-test", "dataset")
    orig.add_file("orig.txt")
    log(orig)
    Path("new.txt").write_text("new data")
    new = asyncart.Artifact("incremental-test", "dataset", incremental=incremental)
    new.add_file("new.txt")
    log(new)
    expected = {"orig.txt", "new.txt"} if incremental else {"new.txt"}
    assert entry_names("incremental-test:latest") == expected
    assert new.version == "v1"
    root = Path(asyncart.Api().artifact("incremental-test:latest").download())
    assert {p.name: p.read_text() for p in root.iterdir()} == {
        name: Path(name).read_text() for name in expected
    }


def test_incremental_moves_only_the_added_bytes(store: str) -> None:
    """W&B's incremental manifest (artifact_saver.py): the entries of ``latest`` are kept
    as stored; only the added file is read and sent."""
    Path("big.bin").write_bytes(os.urandom(300_000))
    base = asyncart.Artifact("inc", "dataset")
    base.add_file("big.bin")
    log(base)
    Path("small.txt").write_text("small")
    more = asyncart.Artifact("inc", "dataset", incremental=True)
    more.add_file("small.txt")
    log(more)
    stats = more.last_transfer
    assert stats is not None
    assert 0 < stats.bytes_uploaded < 10_000 and stats.bytes_read < 10_000
    assert more.version == "v1" and more.size == 300_000 + 5
    assert entry_names("inc:v1") == {"big.bin", "small.txt"}
    assert entry_names("inc:v0") == {"big.bin"}


def test_first_incremental_version_holds_its_own_entries(store: str) -> None:
    """W&B's first incremental version of a collection (no base version): its entries
    alone; likewise after every version was deleted (both stores: "no latest" crosses
    the wire as a not-found answer)."""
    Path("a.txt").write_text("a")
    first = asyncart.Artifact("fresh", "dataset", incremental=True)
    first.add_file("a.txt")
    log(first)
    assert (first.version, entry_names("fresh:latest")) == ("v0", {"a.txt"})
    asyncart.Api().artifact("fresh:v0").delete(delete_aliases=True)
    Path("b.txt").write_text("b")
    again = asyncart.Artifact("fresh", "dataset", incremental=True)
    again.add_file("b.txt")
    log(again)
    assert entry_names("fresh:latest") == {"b.txt"}


def test_incremental_entries_replace_latest_ones() -> None:
    """An added entry wins over ``latest``'s entry at its path, and over one it cannot
    sit beside (a file where the draft adds a directory); the rest is kept."""
    base = asyncart.Artifact("layered", "dataset")
    for name, text in (("same.txt", "old"), ("kept.txt", "kept"), ("data", "a file")):
        with base.new_file(name) as f:
            f.write(text)
    log(base)
    more = asyncart.Artifact("layered", "dataset", incremental=True)
    with more.new_file("same.txt") as f:
        f.write("new")
    with more.new_file("data/inner.txt") as f:
        f.write("below")
    log(more)
    root = Path(asyncart.Api().artifact("layered:latest").download())
    assert entry_names("layered:latest") == {"same.txt", "kept.txt", "data/inner.txt"}
    assert (root / "same.txt").read_text() == "new"
    assert (root / "kept.txt").read_text() == "kept"


def test_incremental_builds_on_the_latest_log_of_the_run() -> None:
    """Logs of one name from one run go in call order, so each incremental log builds on
    the one before (W&B's incremental tables grow so)."""
    with asyncart.init(job_type="grow") as run:
        for i in range(3):
            part = asyncart.Artifact("grown", "dataset", incremental=True)
            with part.new_file(f"part-{i}.txt") as f:
                f.write(str(i))
            run.log_artifact(part)
    versions = asyncart.Api().artifact_versions("dataset", "grown")
    assert [len(v.manifest.entries) for v in versions] == [1, 2, 3]


def test_incremental_flag() -> None:
    """Mirrors Artifact.incremental (artifact.py): the flag as given; a new draft of a
    version is not incremental; anything but a bool is refused."""
    art = asyncart.Artifact("flagged", "dataset", incremental=True)
    assert art.incremental is True
    assert asyncart.Artifact("flagged", "dataset").incremental is False
    with art.new_file("x.txt") as f:
        f.write("x")
    log(art)
    assert art.incremental is True
    assert asyncart.Api().artifact("flagged:v0").new_draft().incremental is False
    with pytest.raises(asyncart.ConfigError, match="incremental"):
        asyncart.Artifact("flagged", "dataset", incremental="yes")  # type: ignore[arg-type]


async def test_incremental_on_the_async_face() -> None:
    """The same through asyncart.aio."""
    async with await aio.init(job_type="a") as run:
        for name in ("one.txt", "two.txt"):
            art = aio.Artifact("async-inc", "dataset", incremental=True)
            with art.new_file(name) as f:
                f.write(name)
            await run.log_artifact(art)
    async with aio.Api() as api:
        latest = await api.artifact("async-inc:latest")
        assert set(latest.manifest.entries) == {"one.txt", "two.txt"}


def test_incremental_log_through_the_push_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """A background log handed to the push worker process keeps ``latest``'s entries too
    (they travel with the publication; the worker sends only the added file)."""
    monkeypatch.setenv("ASYNCART_PUSH_WORKER", "always")
    Path("first.bin").write_bytes(os.urandom(200_000))
    Path("second.bin").write_bytes(os.urandom(200_000))
    with asyncart.init(job_type="worker") as run:
        base = asyncart.Artifact("via-worker", "dataset")
        base.add_file("first.bin")
        run.log_artifact(base).wait()
        more = asyncart.Artifact("via-worker", "dataset", incremental=True)
        more.add_file("second.bin")
        run.log_artifact(more).wait()
        stats = more.last_transfer
        assert stats is not None and 0 < stats.bytes_uploaded < 250_000
    assert entry_names("via-worker:latest") == {"first.bin", "second.bin"}
