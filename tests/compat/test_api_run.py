"""A run read back with ``Api().run(path)``, as W&B's tests define it: it may still be
given stored versions as inputs (``use_artifact``) and outputs (``log_artifact``),
finished or not, recorded as a live run records them.

Each test names the W&B test it mirrors (W&B raises ``CommError`` wrapping the
``ValueError`` / ``TypeError`` its public ``Run`` raises; asyncart raises that
``ConfigError``, a ``ValueError``: docs/wandb-compat.md).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import asyncart
from asyncart import aio
from asyncart.repo.access import Role
from tests.support.accounts import users_with_keys
from tests.support.live_server import live_server


def mnist_versions(project: str = "default") -> str:
    """``mnist`` v0 and v1 logged by one run of ``project``; returns its id."""
    with asyncart.init(job_type="first_run", project=project) as first:
        for content in ("v0", "v1"):
            art = asyncart.Artifact("mnist", type="dataset")
            with art.new_file("digits.h5") as f:
                f.write(content)
            first.log_artifact(art).wait()
    return first.id


def finished_run(job_type: str = "second_run", project: str = "default") -> str:
    """A run that logged and used nothing, finished; returns its id."""
    with asyncart.init(job_type=job_type, project=project) as run:
        pass
    return run.id


def test_artifact_manual_use(store: str) -> None:
    """Mirrors test_artifact_public_api.py::test_artifact_manual_use: a finished run read
    with Api().run() uses a stored version; the use is its lineage, as a live run's."""
    mnist_versions()
    second = finished_run()
    api = asyncart.Api()
    run = api.run(f"default/{second}")
    art = api.artifact("mnist:v0", type="dataset")
    assert run.use_artifact(art) is art
    assert [a.version for a in api.run(second).used_artifacts()] == ["v0"]
    assert [r.id for r in art.used_by()] == [second]
    assert api.run(second).state == "finished"
    assert api.run(second).logged_artifacts() == []
    run.use_artifact(art)  # again: still one input
    assert [a.version for a in api.run(second).used_artifacts()] == ["v0"]


def test_artifact_manual_error() -> None:
    """Mirrors test_artifact_public_api.py::test_artifact_manual_error: a draft and a bare
    name are refused by both calls, and nothing is recorded."""
    first = mnist_versions()
    run = asyncart.Api().run(first)
    draft = asyncart.Artifact("test", type="dataset")
    with pytest.raises(asyncart.ConfigError, match="draft"):
        run.log_artifact(draft)
    with pytest.raises(asyncart.ConfigError, match="draft"):
        run.use_artifact(draft)
    with pytest.raises(asyncart.ConfigError, match="stored artifact"):
        run.use_artifact("mnist:v0")
    with pytest.raises(asyncart.ConfigError, match="stored artifact"):
        run.log_artifact("mnist:v0")
    assert run.used_artifacts() == []
    assert [a.version for a in run.logged_artifacts()] == ["v0", "v1"]
    assert not asyncart.Api().artifact_collection_exists("test", "dataset")


def test_log_artifact_ignores_wandb_project_env_var(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mirrors test_artifact_public_api.py::test_log_artifact_ignores_wandb_project_env_var:
    a log through a run read with Api().run() goes to the run's project, whatever
    ASYNCART_PROJECT (W&B's WANDB_PROJECT) says."""
    with asyncart.init(job_type="train", project="runs-home") as run:
        art = asyncart.Artifact("test-artifact", type="dataset")
        with art.new_file("test.txt") as f:
            f.write("test content")
        run.log_artifact(art)
    monkeypatch.setenv("ASYNCART_PROJECT", "nonexistent-project")
    api = asyncart.Api()
    api_run = api.run(f"{art.entity}/{run.project}/{run.id}")  # runs have no entity field
    stored = api.artifact(f"{art.entity}/{run.project}/test-artifact:v0")
    logged = api_run.log_artifact(stored, aliases=["again"])
    assert (logged.project, logged.version) == ("runs-home", "v0")
    assert "again" in api.artifact("runs-home/test-artifact:v0").aliases
    assert "nonexistent-project" not in api.projects()
    assert [a.qualified_name for a in api_run.logged_artifacts()] == [
        "asyncart/runs-home/test-artifact:v0"
    ]


def test_public_run_logs_a_stored_version_with_aliases_and_tags(store: str) -> None:
    """W&B's public Run.log_artifact (runs.py): a stored version becomes an output of
    another, finished run, with the aliases and tags given; its creating run stays its
    first producer; nothing new is stored."""
    first = mnist_versions()
    second = finished_run("relog")
    api = asyncart.Api()
    art = api.artifact("mnist:v0")
    logged = api.run(second).log_artifact(art, aliases=["best"], tags=["golden"])
    assert logged is art and not art.is_new_version
    assert "best" in art.aliases and art.tags == ["golden"]
    again = api.artifact("mnist:best")
    assert (again.version, again.tags) == ("v0", ["golden"])
    assert [a.version for a in api.run(second).logged_artifacts()] == ["v0"]
    assert [a.version for a in api.artifact_versions("dataset", "mnist")] == ["v0", "v1"]
    assert api.artifact("mnist:latest").version == "v0"  # asyncart's latest: last logged
    assert again.logged_by() is not None and again.logged_by().id == first  # type: ignore[union-attr]


def test_public_run_refuses_a_version_of_another_project() -> None:
    """W&B's public Run.log_artifact: "A run can't log an artifact to a different
    project"; nothing is recorded."""
    mnist_versions("elsewhere")
    other = finished_run("other", project="default")
    api = asyncart.Api()
    art = api.artifact("elsewhere/mnist:v1")
    with pytest.raises(asyncart.ConfigError, match="another project"):
        api.run(other).log_artifact(art)
    assert api.run(other).logged_artifacts() == []
    assert api.run(other).use_artifact(art) is art  # a use may cross projects (W&B too)
    assert [a.project for a in api.run(other).used_artifacts()] == ["elsewhere"]


def test_public_run_refuses_bad_aliases_and_tags() -> None:
    """The aliases and tags are checked before anything is sent."""
    mnist_versions()
    second = finished_run()
    api = asyncart.Api()
    art = api.artifact("mnist:v0")
    with pytest.raises(asyncart.InvalidNameError):
        api.run(second).log_artifact(art, aliases=["bad/alias"])
    with pytest.raises(asyncart.InvalidNameError):
        api.run(second).log_artifact(art, tags=["bad tag!"])
    assert api.run(second).logged_artifacts() == []


async def test_public_run_on_the_async_face() -> None:
    """The same calls through asyncart.aio: one core, awaited."""
    async with await aio.init(job_type="first_run") as first:
        art = aio.Artifact("mnist", type="dataset")
        with art.new_file("digits.h5") as f:
            f.write("v0")
        await first.log_artifact(art)
    async with await aio.init(job_type="second_run") as second:
        pass
    async with aio.Api() as api:
        run = await api.run(second.id)
        stored = await api.artifact("mnist:v0")
        assert await run.use_artifact(stored) is stored
        assert await run.log_artifact(stored, aliases=["seen"]) is stored
        assert [a.version for a in await run.used_artifacts()] == ["v0"]
        assert [a.version for a in await run.logged_artifacts()] == ["v0"]
        assert "seen" in stored.aliases
        assert "once" in (await run.log_artifact(stored, aliases="once")).aliases  # one alias
        with pytest.raises(asyncart.ConfigError, match="draft"):
            await run.log_artifact(aio.Artifact("draft", type="dataset"))


def test_public_run_records_need_write_on_the_run_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recording through a run read with Api().run() asks what a live run's records ask:
    write on the run's project (a reader is refused and nothing is recorded)."""
    root = tmp_path / "keyed-store"
    root.mkdir()
    grants = {"writer": [("proj-a", Role.WRITE)], "reader": [("proj-a", Role.READ)]}
    keys = asyncio.run(users_with_keys(root, grants))
    with live_server(root) as server:
        monkeypatch.setenv("ASYNCART_URL", server.url)
        monkeypatch.setenv("ASYNCART_API_KEY", keys["writer"])
        mnist_versions("proj-a")
        second = finished_run(project="proj-a")
        monkeypatch.setenv("ASYNCART_API_KEY", keys["reader"])
        api = asyncart.Api()
        art = api.artifact("proj-a/mnist:v0")
        run = api.run(f"proj-a/{second}")
        with pytest.raises(PermissionError):
            run.log_artifact(art)
        with pytest.raises(PermissionError):
            run.use_artifact(art)
        assert (run.logged_artifacts(), run.used_artifacts()) == ([], [])
        monkeypatch.setenv("ASYNCART_API_KEY", keys["writer"])
        api = asyncart.Api()
        run = api.run(f"proj-a/{second}")
        run.log_artifact(api.artifact("proj-a/mnist:v0"))
        assert [a.version for a in run.logged_artifacts()] == ["v0"]
