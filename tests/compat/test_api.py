"""The read side of ``Api``, as W&B's tests define it: listing versions, collections,
types and projects, existence checks, and a run's logged and used artifacts.

The listings cross the wire, so the main test of each runs against the embedded store
and a server (``store``); the rest uses the embedded store. Each test names the W&B test
it mirrors (W&B's ``.name`` of a version is ``'mnist:v0'``; these compare ``.version``).
"""

from __future__ import annotations

import pytest

import asyncart
from asyncart import aio

P = "tests/system_tests/test_artifacts/test_artifact_public_api.py"


def sample_data() -> tuple[str, str]:
    """W&B's ``sample_data``: ``mnist`` v0 (alias ``my_alias``) and v1 by one run, both used
    by a second; returns the two run ids."""
    with asyncart.init(job_type="first_run") as first:
        for content in ("v0", "v1"):
            art = asyncart.Artifact("mnist", type="dataset")
            with art.new_file("digits.h5") as f:
                f.write(content)
            first.log_artifact(art, aliases=["my_alias"] if content == "v0" else None)
            art.wait()
    with asyncart.init(job_type="second_run") as second:
        second.use_artifact("mnist:v0")
        second.use_artifact("mnist:v1")
    return first.id, second.id


def another_collection(name: str = "another-collection", type: str = "different-type") -> None:
    art = asyncart.Artifact(name, type=type)
    with art.new_file("file.txt") as f:
        f.write("test")
    with asyncart.init(job_type="more") as run:
        run.log_artifact(art)


def test_artifact_versions(store: str) -> None:
    """Mirrors test_artifact_public_api.py::test_artifact_versions: W&B's argument order
    (type, name); artifacts back."""
    sample_data()
    versions = asyncart.Api().artifact_versions("dataset", "mnist")
    assert [v.version for v in versions] == ["v0", "v1"]
    assert all(isinstance(v, asyncart.Artifact) for v in versions)
    assert versions[0].get_entry("digits.h5").size == 2
    # asyncart's older one-argument form stays: the VersionInfo of each version
    assert [v.version for v in asyncart.Api().artifact_versions("mnist")] == ["v0", "v1"]


@pytest.mark.parametrize(
    "order, expected",
    [
        (None, ["v0", "v1"]),
        ("version_index", ["v0", "v1"]),
        ("+version_index", ["v0", "v1"]),
        ("-version_index", ["v1", "v0"]),
        ("-created_at", ["v1", "v0"]),
    ],
)
def test_artifacts_order(order: str | None, expected: list[str]) -> None:
    """Mirrors test_artifact_public_api.py::test_artifacts_order."""
    sample_data()
    arts = asyncart.Api().artifacts("dataset", "mnist", order=order)
    assert [a.version for a in arts] == expected


def test_artifacts_of_another_type_or_name_are_not_found() -> None:
    """Mirrors Api.artifacts (api.py): the collection is looked up by type and name."""
    sample_data()
    with pytest.raises(asyncart.ArtifactNotFound, match="'dataset'"):
        asyncart.Api().artifacts("model", "mnist")
    with pytest.raises(asyncart.ArtifactNotFound):
        asyncart.Api().artifacts("dataset", "mnist-fake")


def test_artifacts_per_page_and_tags_are_accepted() -> None:
    """Mirrors test_wandb_artifacts_api.py::test_retrieve_artifacts_by_tags, in part: ``tags``
    filters (no version has tags until versions can be tagged) and ``per_page`` is taken."""
    sample_data()
    api = asyncart.Api()
    assert len(api.artifacts("dataset", "mnist", per_page=1)) == 2
    assert api.artifacts("dataset", "mnist", tags=["orig"]) == []
    assert len(api.artifacts("dataset", "mnist", tags=[])) == 2
    with pytest.raises(ValueError, match="per_page"):
        api.artifacts("dataset", "mnist", per_page=0)


def test_artifact_type(store: str) -> None:
    """Mirrors test_artifact_public_api.py::test_artifact_type."""
    sample_data()
    atype = asyncart.Api().artifact_type("dataset")
    assert atype.name == "dataset"
    col = atype.collection("mnist")
    assert (col.name, col.type) == ("mnist", "dataset")
    with pytest.raises(asyncart.NotFoundError):
        asyncart.Api().artifact_type("model")


def test_artifact_type_collections() -> None:
    """Mirrors test_artifact_public_api.py::test_artifact_type_collections (without W&B's
    cursors and server-side filters)."""
    sample_data()
    another_collection(type="dataset")
    another_collection("a-model", type="model")
    atype = asyncart.Api().artifact_type("dataset")
    assert [c.name for c in atype.collections()] == ["another-collection", "mnist"]
    via_api = asyncart.Api().artifact_collections("default", atype.name)
    assert [c.name for c in via_api] == ["another-collection", "mnist"]


def test_artifact_types() -> None:
    """Mirrors test_artifact_public_api.py::test_artifact_types and ::test_artifact_types_start
    (the listing, without the cursor)."""
    sample_data()
    assert [t.name for t in asyncart.Api().artifact_types()] == ["dataset"]
    another_collection()
    assert [t.name for t in asyncart.Api().artifact_types("default")] == [
        "dataset",
        "different-type",
    ]


def test_project_collections() -> None:
    """Mirrors test_artifact_public_api.py::test_project_collections."""
    sample_data()
    another_collection()
    project = asyncart.Api().project("default")
    assert project.name == "default"
    assert {c.name for c in project.collections()} == {"mnist", "another-collection"}
    assert [t.name for t in project.artifacts_types()] == ["dataset", "different-type"]


def test_artifact_collection_reads(store: str) -> None:
    """Mirrors test_wandb_artifacts_full.py::test_get_artifact_collection and W&B's
    ArtifactCollection (artifacts.py): name, type, project, aliases, versions."""
    sample_data()
    col = asyncart.Api().artifact_collection("dataset", "default/mnist")
    assert (col.name, col.type, col.project) == ("mnist", "dataset", "default")
    assert col.aliases == ["latest", "my_alias"]
    assert col.description is None
    assert [a.version for a in col.versions()] == ["v0", "v1"]
    assert [a.version for a in col.artifacts(order="-version_index")] == ["v1", "v0"]
    with pytest.raises(asyncart.ArtifactNotFound):
        asyncart.Api().artifact_collection("model", "mnist")


def test_artifact_exists() -> None:
    """Mirrors test_artifact_public_api.py::test_artifact_exists."""
    sample_data()
    api = asyncart.Api()
    assert api.artifact_exists("mnist:v0") is True
    assert api.artifact_exists("default/mnist:my_alias") is True
    assert api.artifact_exists("mnist:v2") is False
    assert api.artifact_exists("mnist-fake:v0") is False
    assert api.artifact_exists("mnist:v0", type="model") is False


def test_artifact_collection_exists() -> None:
    """Mirrors test_artifact_public_api.py::test_artifact_collection_exists."""
    sample_data()
    api = asyncart.Api()
    assert api.artifact_collection_exists("mnist", "dataset") is True
    assert api.artifact_collection_exists("mnist-fake", "dataset") is False
    assert api.artifact_collection_exists("mnist", "model") is False


def test_artifact_run_used_and_logged(store: str) -> None:
    """Mirrors test_artifact_public_api.py::test_artifact_run_used, ::test_artifact_run_logged
    and ::test_artifact_run_logged_cursor: artifacts back, each version once."""
    first, second = sample_data()
    logged = asyncart.Api().run(f"default/{first}").logged_artifacts()
    assert [a.version for a in logged] == ["v0", "v1"]
    used_run = asyncart.Api().run(second)
    assert (used_run.id, used_run.project, used_run.job_type) == (second, "default", "second_run")
    assert [a.version for a in used_run.used_artifacts()] == ["v0", "v1"]
    assert used_run.used_artifacts()[0].get_entry("digits.h5").size == 2


def test_run_of_another_project_or_id_is_not_found() -> None:
    """Mirrors Api.run (api.py): RunNotFoundError for a path naming no run."""
    first, _ = sample_data()
    with pytest.raises(asyncart.RunNotFound):
        asyncart.Api().run(f"elsewhere/{first}")
    with pytest.raises(asyncart.RunNotFound):
        asyncart.Api().run("nosuchrun")


def test_used_artifacts_preserve_original_project() -> None:
    """Mirrors test_wandb_artifacts_full.py::test_used_artifacts_preserve_original_project."""
    sample_data()
    with asyncart.init(job_type="eval", project="new-project") as run:
        run.use_artifact("default/mnist:v0").download()
    from_api = asyncart.Api().run(f"new-project/{run.id}")
    assert from_api.project == "new-project"
    assert from_api.used_artifacts()[0].project == "default"


async def test_async_api_read_side(store: str) -> None:
    """The same reads through asyncart.aio: one core, awaited."""
    first, _ = sample_data()
    async with aio.Api() as api:
        assert [a.version for a in await api.artifacts("dataset", "mnist")] == ["v0", "v1"]
        assert [a.version for a in await api.artifact_versions("dataset", "mnist")] == [
            "v0",
            "v1",
        ]
        col = await api.artifact_collection("dataset", "mnist")
        assert col.aliases == ["latest", "my_alias"]
        assert [a.version for a in await col.versions()] == ["v0", "v1"]
        assert [t.name for t in await api.artifact_types()] == ["dataset"]
        atype = await api.artifact_type("dataset")
        assert [c.name for c in await atype.collections()] == ["mnist"]
        assert [c.name for c in await api.artifact_collections(type_name="dataset")] == ["mnist"]
        assert [c.name for c in await api.project().collections()] == ["mnist"]
        assert await api.artifact_exists("mnist:v1")
        assert await api.artifact_collection_exists("mnist", "dataset")
        run = await api.run(first)
        assert [a.version for a in await run.logged_artifacts()] == ["v0", "v1"]
