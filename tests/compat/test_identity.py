"""Identity and state of an artifact, as W&B's tests define them (names with ``:v0``,
``entity/project/`` qualified names and paths, ``id``, ``state``, ``file_count``, times,
``collection``, ``is_draft()``).

Each test names the W&B test it mirrors (wandb/wandb ``tests/``). asyncart's entity is
the store's one namespace, ``asyncart``; a path's entity part is accepted and ignored.
Embedded store, except where the behaviour crosses the wire (``store``: both).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

import asyncart
from asyncart import aio

FULL = "tests/system_tests/test_artifacts/test_wandb_artifacts_full.py"
UNIT = "tests/unit_tests/test_artifacts/test_wandb_artifacts.py"
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def logged(name: str = "mnist", text: str = "testing", **log: object) -> asyncart.Artifact:
    Path("boom.txt").write_text(text)
    art = asyncart.Artifact(name, type="dataset")
    art.add_file("boom.txt", "test-name")
    with asyncart.init(job_type="compat") as run:
        run.log_artifact(art, **log)  # type: ignore[arg-type]
    return art.wait()


def test_logged_names_carry_the_version() -> None:
    """Mirrors test_wandb_artifacts_full.py::test_new_draft's names and W&B's
    ``Artifact.name``: the bare name before logging, ``name:vN`` after; the source names
    (no links yet) equal them; ``qualified_name`` is ``entity/project/name:vN``."""
    art = asyncart.Artifact("mnist", type="dataset")
    assert art.name == art.source_name == art.qualified_name == "mnist"
    Path("a.txt").write_text("a")
    art.add_file("a.txt")
    with asyncart.init(job_type="compat") as run:
        run.log_artifact(art)
    assert art.name == art.source_name == "mnist:v0"
    assert art.version == art.source_version == "v0"
    assert art.project == art.source_project == "default"
    assert art.entity == art.source_entity == "asyncart"
    assert art.qualified_name == art.source_qualified_name == "asyncart/default/mnist:v0"
    fetched = asyncart.Api().artifact("mnist:latest")
    assert fetched.name == "mnist:v0"  # the version, not the alias it was fetched by


def test_fetching_artifact_by_entity_project_path(store: str) -> None:
    """Mirrors test_wandb_artifacts_api.py::test_fetching_artifact_files: fetch by
    ``entity/project/name:v0`` (any entity: asyncart ignores it), on both stores and by
    ``use_artifact``; ``qualified_name`` fetches the version back (as
    ``test_run_log_artifact`` compares them)."""
    art = logged(aliases=["sequence"])
    api = asyncart.Api()
    for path in ("asyncart/default/mnist:v0", "my-team/default/mnist:sequence"):
        fetched = api.artifact(path, type="dataset")
        assert fetched.files()[0].name == "test-name"
        assert fetched.qualified_name == art.qualified_name
    with asyncart.init(job_type="use") as run:
        assert run.use_artifact("someone/default/mnist:v0").id == art.id
    assert api.artifact(art.qualified_name).digest == art.digest
    with pytest.raises(asyncart.InvalidNameError, match="more than two"):
        api.artifact("a/b/c/mnist:v0")


def test_state_id_and_is_draft() -> None:
    """Mirrors W&B's ``Artifact.state`` / ``id`` / ``is_draft()`` (and
    test_wandb_artifacts_full.py::test_new_draft's ``draft.is_draft()``): PENDING with no
    id, COMMITTED with a stable id, DELETED after ``delete()``. ``is_draft`` is both
    W&B's method and asyncart's former property."""
    draft = asyncart.Artifact("mnist", type="dataset")
    assert (draft.state, draft.id) == ("PENDING", None)
    assert draft.is_draft() is True and draft.is_draft and draft.is_draft == True  # noqa: E712
    art = logged()
    assert art.state == "COMMITTED" and art.is_draft() is False and not art.is_draft
    assert re.fullmatch(r"[0-9a-f]{24}", art.id or "")
    assert asyncart.Api().artifact("mnist:v0").id == art.id
    other = logged(text="other")
    assert other.id != art.id
    other.delete()
    assert other.state == "DELETED"


@pytest.mark.parametrize(
    "prop",
    [
        "entity",
        "project",
        "version",
        "source_entity",
        "source_project",
        "source_version",
        "file_count",
        "created_at",
        "updated_at",
        "collection",
        "id",
    ],
)
def test_unlogged_artifact_property_errors(prop: str) -> None:
    """Mirrors test_wandb_artifacts.py::test_unlogged_artifact_property_errors: W&B raises
    ArtifactNotLoggedError; asyncart's draft answers None (as its ``version`` always
    did), and ``aliases`` []. ``ttl`` raises as W&B's (test_changes.py)."""
    art = asyncart.Artifact("foo", type="any")
    assert getattr(art, prop) is None
    assert art.aliases == [] and art.tags == []


def test_file_count_and_times() -> None:
    """Mirrors W&B's ``file_count`` / ``created_at`` / ``updated_at``: the entry count, and
    ISO 8601 times in UTC as W&B's server sends them (``updated_at`` moves on a save)."""
    Path("b.txt").write_text("b")
    art = asyncart.Artifact("counted", type="dataset")
    art.add_file("b.txt")
    art.add_reference(Path("b.txt").resolve().as_uri(), name="ref.txt")
    with asyncart.init(job_type="compat") as run:
        run.log_artifact(art)
    assert art.file_count == 2
    created, updated = art.created_at, art.updated_at
    assert created is not None and updated is not None
    assert ISO.fullmatch(created) and updated == created
    when = datetime.fromisoformat(created).replace(tzinfo=timezone.utc)
    assert abs((datetime.now(timezone.utc) - when).total_seconds()) < 3600
    art.description = "changed"
    art.save()
    assert art.updated_at is not None and art.updated_at >= created


def test_get_artifact_collection() -> None:
    """Mirrors test_wandb_artifacts_full.py::test_get_artifact_collection."""
    art = logged()
    collection = art.collection
    assert collection is not None
    assert (collection.entity, collection.project) == (art.entity, art.project)
    assert art.name.startswith(collection.name) and collection.name == "mnist"
    assert collection.type == art.type == art.source_collection.type  # type: ignore[union-attr]


async def test_identity_on_the_async_face() -> None:
    """The same properties on ``asyncart.aio.Artifact`` (one core)."""
    Path("c.txt").write_text("c")
    art = aio.Artifact("amnist", type="dataset")
    art.add_file("c.txt")
    async with await aio.init(job_type="compat") as run:
        await run.log_artifact(art)
    assert (art.name, art.qualified_name, art.state) == (
        "amnist:v0",
        "asyncart/default/amnist:v0",
        "COMMITTED",
    )
    assert art.is_draft() is False
    async with aio.Api() as api:
        fetched = await api.artifact("anyone/default/amnist:latest")
    assert fetched.id == art.id and fetched.file_count == 1
