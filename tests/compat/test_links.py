"""Links, as W&B's tests define them: ``artifact.link`` / ``run.link_artifact`` into a
portfolio or a registry collection, ``unlink``, ``is_link``, ``linked_artifacts``,
``source_artifact`` and the ``source_*`` names of a link.

Each test names the W&B test it mirrors (wandb/wandb ``tests/``). Those taking ``store``
run on the embedded store and on a real server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import asyncart
from asyncart import aio

LINKS = "tests/system_tests/test_artifacts/test_link_artifacts.py"
REGISTRY = "tests/system_tests/test_registries/test_link_registry.py"


def log(name: str = "test-artifact", text: str = "testing", **kw: object) -> asyncart.Artifact:
    """Log one file as ``name`` from a run of the default project; the committed artifact."""
    Path("boom.txt").write_text(text)
    art = asyncart.Artifact(name, type="dataset")
    art.add_file("boom.txt")
    with asyncart.init(job_type="compat") as run:
        run.log_artifact(art, **kw)  # type: ignore[arg-type]
    return art.wait()


def stored_objects(root: Path) -> dict[str, int]:
    """Every pack and manifest object of the store at ``root``, with its size."""
    found = [*root.glob("blobs/packs/**/*"), *root.glob("blobs/manifests/**/*")]
    return {str(p.relative_to(root)): p.stat().st_size for p in found if p.is_file()}


def store_root(store: str, tmp_path: Path) -> Path:
    return tmp_path / ("embedded-store" if store == "embedded" else "server-store")


def test_get_artifact_collection_from_linked_artifact(store: str, tmp_path: Path) -> None:
    """Mirrors test_link_artifacts.py::test_get_artifact_collection_from_linked_artifact
    (both stores): a link's collection is the portfolio, its source collection the one it
    was logged to; the link reads the source's manifest, and no pack byte moves."""
    source = log()
    objects_before = stored_objects(store_root(store, tmp_path))
    with asyncart.init(job_type="link", project="other-project") as run:
        run.link_artifact(source, "linked-from-portfolio")
    objects_after = stored_objects(store_root(store, tmp_path))
    linked = asyncart.Api().artifact("other-project/linked-from-portfolio:v0")

    assert any("packs" in k for k in objects_before) and objects_after == objects_before
    collection = linked.collection
    assert collection is not None and linked.source_collection is not None
    assert (linked.entity, linked.project) == (collection.entity, collection.project)
    assert linked.name.startswith(collection.name) and linked.type == collection.type
    src_collection = linked.source_collection
    assert (linked.source_entity, linked.source_project) == ("asyncart", "default")
    assert src_collection.project == "default" and linked.source_name.startswith("test-artifact")
    assert linked.digest == source.digest
    assert [(e.path, e.digest) for e in linked.manifest.entries.values()] == [
        (e.path, e.digest) for e in source.manifest.entries.values()
    ]


def test_unlink_artifact(store: str) -> None:
    """Mirrors test_link_artifacts.py::test_unlink_artifact (both stores): unlinking
    removes the link only; unlinking a source raises ValueError naming Artifact.delete."""
    source = log()
    linked = source.link("other-project/linked-from-portfolio")
    api = asyncart.Api()
    assert source.qualified_name != linked.qualified_name
    assert api.artifact_exists(source.qualified_name) and api.artifact_exists(linked.qualified_name)

    linked.unlink()

    assert api.artifact_exists(source.qualified_name) is True
    assert api.artifact_exists(linked.qualified_name) is False
    with pytest.raises(ValueError, match=r"use 'Artifact.delete' instead"):
        source.unlink()
    assert api.artifact_exists(source.qualified_name) is True


def test_link_artifact_from_run_logs_draft_artifacts_first() -> None:
    """Mirrors test_link_artifacts.py::test_link_artifact_from_run_logs_draft_artifacts_first
    (with a file: asyncart refuses an empty artifact)."""
    Path("boom.txt").write_text("testing")
    with asyncart.init(job_type="compat") as run:
        artifact = asyncart.Artifact("test-artifact", "test-type")
        artifact.add_file("boom.txt")
        assert artifact.is_draft() is True
        linked = run.link_artifact(artifact, "test-collection")

        assert artifact.is_draft() is False
        assert linked.is_draft() is False
        assert linked.source_artifact.is_draft() is False
        assert linked.id == artifact.id
        assert linked.is_link is True
        assert linked.qualified_name != artifact.qualified_name
        assert linked.source_qualified_name == artifact.qualified_name


def test_link_artifact_without_run_logs_draft_artifacts_first() -> None:
    """Mirrors test_link_artifacts.py::test_link_artifact_without_run_logs_draft_artifacts_first."""
    Path("boom.txt").write_text("testing")
    artifact = asyncart.Artifact("test-artifact", "test-type")
    artifact.add_file("boom.txt")
    linked = artifact.link("test-collection")

    assert artifact.is_draft() is False
    assert linked.is_draft() is False
    assert linked.source_artifact.is_draft() is False
    assert linked.id == artifact.id
    assert linked.is_link is True
    assert linked.qualified_name == "asyncart/default/test-collection:v0"
    assert linked.source_qualified_name == artifact.qualified_name


def test_link_artifact_from_run_infers_target_path_from_run() -> None:
    """Mirrors test_link_artifacts.py::test_link_artifact_from_run_infers_target_path_from_run."""
    Path("boom.txt").write_text("testing")
    with asyncart.init(job_type="compat", project="run-project") as run:
        artifact = asyncart.Artifact("test-artifact", "test-type")
        artifact.add_file("boom.txt")
        link_a = run.link_artifact(artifact, "test-collection")
        assert (link_a.entity, link_a.project) == ("asyncart", run.project)
        link_b = run.link_artifact(artifact, "other-project/test-collection")
        assert (link_b.entity, link_b.project) == ("asyncart", "other-project")


def test_artifact_is_link(store: str) -> None:
    """Mirrors test_link_artifacts.py::test_artifact_is_link (both stores): through
    use_artifact, Api.artifact and a collection's artifacts()."""
    api = asyncart.Api()
    with asyncart.init(job_type="compat") as run:
        Path("boom.txt").write_text("testing")
        artifact = asyncart.Artifact("sequence_name", "model")
        artifact.add_file("boom.txt")
        run.log_artifact(artifact)
        artifact.wait()
        assert artifact.is_link is False
        run.link_artifact(artifact=artifact, target_path="test_link_collection")

        link_name = f"{artifact.entity}/{artifact.project}/test_link_collection:latest"
        assert run.use_artifact(artifact.qualified_name).is_link is False
        assert run.use_artifact(link_name).is_link is True
        assert api.artifact(artifact.qualified_name).is_link is False
        assert api.artifact(link_name).is_link is True

        source_versions = api.artifact_collection("model", "default/sequence_name").artifacts()
        assert [v.is_link for v in source_versions] == [False]
        link_versions = api.artifact_collection("model", "default/test_link_collection").artifacts()
        assert [v.is_link for v in link_versions] == [True]


def test_linked_artifacts_field(store: str) -> None:
    """Mirrors test_link_artifacts.py::test_linked_artifacts_field (both stores)."""
    collections = ["test_link_collection_1", "test_link_collection_2", "test_link_collection_3"]
    with asyncart.init(job_type="compat") as run:
        Path("boom.txt").write_text("testing")
        artifact = asyncart.Artifact("sequence_name", "model")
        artifact.add_file("boom.txt")
        run.log_artifact(artifact)
        artifact.wait()
        for collection in collections:
            run.link_artifact(artifact=artifact, target_path=collection)

        linked_artifacts = artifact.linked_artifacts
        assert len(linked_artifacts) == len(collections)
        for linked in linked_artifacts:
            assert linked.is_link is True
            assert linked.linked_artifacts == []
            assert linked.source_artifact.qualified_name == artifact.qualified_name
            assert linked.collection is not None and linked.collection.name in collections

        linked_artifacts[0].unlink()
        assert len(artifact.linked_artifacts) == len(collections) - 1


def test_update_aliases_on_artifact_in_a_portfolio(store: str) -> None:
    """Mirrors test_wandb_artifacts_api.py::test_update_aliases_on_artifact (both
    stores; its portfolio half): a link's aliases are its own; changing them changes
    the portfolio only."""
    Path("boom.txt").write_text("testing")
    with asyncart.init(job_type="compat", project="test") as run:
        artifact = asyncart.Artifact("test-artifact", "test-type")
        artifact.add_file("boom.txt", "test-name")
        art = run.log_artifact(artifact, aliases=["sequence"])
        run.link_artifact(art, "asyncart/test/my-sample-portfolio")
    api = asyncart.Api()
    assert "sequence" in api.artifact("test/test-artifact:v0", type="test-type").aliases

    linked = api.artifact("asyncart/test/my-sample-portfolio:v0", type="test-type")
    assert "sequence" not in linked.aliases
    linked.aliases = ["latest", "portfolio"]  # asyncart keeps `latest` (test_changes.py)
    linked.aliases.append("boom")
    linked.save()

    aliases = api.artifact("asyncart/test/my-sample-portfolio:v0", type="test-type").aliases
    assert "portfolio" in aliases and "boom" in aliases and "sequence" not in aliases
    assert sorted(api.artifact("test/test-artifact:v0").aliases) == ["latest", "sequence"]


def test_artifact_version() -> None:
    """Mirrors test_wandb_artifacts_api.py::test_artifact_version: a link is indexed in
    its portfolio (v0), its source_version is the source's (v1)."""
    log(text="aaaaa", aliases=["a"])
    second = log(text="bbbb", aliases=["b"])
    second.link("default/my-sample-portfolio")
    artifact = asyncart.Api().artifact("default/my-sample-portfolio:latest")
    assert artifact.version == "v0"
    assert artifact.source_version == "v1"


def test_artifact_delete_on_linked_artifact(store: str) -> None:
    """Mirrors test_artifact_public_api.py::test_artifact_delete_on_linked_artifact (both
    stores): delete() of a link removes the link, not its source."""
    source = log()
    source.link("portfolio_name")
    api = asyncart.Api()
    linked = api.artifact("asyncart/default/portfolio_name:v0")
    assert linked.source_qualified_name == source.qualified_name != linked.qualified_name
    linked.delete()
    assert api.artifact_exists(source.qualified_name) is True
    assert api.artifact_exists("asyncart/default/portfolio_name:v0") is False


def test_artifact_manual_link() -> None:
    """Mirrors test_artifact_public_api.py::test_artifact_manual_link: a version read
    through ``Api().artifact`` links with no run; the link is the portfolio's v0."""
    log("mnist")
    linked = asyncart.Api().artifact("mnist:v0", type="dataset").link("portfolio_name")
    assert (linked.name, linked.source_name) == ("portfolio_name:v0", "mnist:v0")
    assert asyncart.Api().artifact("portfolio_name:latest").is_link is True


def test_artifact_collection_aliases() -> None:
    """Mirrors test_wandb_artifacts.py::test_artifact_collection_aliases: each link has
    its own aliases; ``latest`` is on the collection's newest link."""
    first = log("test-artifact-1", "one", aliases=["test-alias-1"])
    second = log("test-artifact-2", "two", aliases=["test-alias-2"])
    linked1 = first.link("test-collection", aliases=["link-alias-1"])
    linked2 = second.link("test-collection", aliases=["link-alias-2"])
    api = asyncart.Api()
    assert sorted(api.artifact_collection("dataset", "test-artifact-1").aliases) == [
        "latest",
        "test-alias-1",
    ]
    link_aliases = ["latest", "link-alias-1", "link-alias-2"]
    assert sorted(api.artifact_collection("dataset", "test-collection").aliases) == link_aliases
    assert linked2.version == "v1" and "latest" in linked2.aliases

    linked1.aliases += ["extra"]
    linked1.save()
    expected = sorted([*link_aliases, "extra"])
    assert sorted(api.artifact_collection("dataset", "test-collection").aliases) == expected


@pytest.mark.parametrize("aliases", [["alias1", "alias2"], ["alias1"], [], None])
@pytest.mark.parametrize("path", ["my-org/wandb-registry-model/{c}", "wandb-registry-model/{c}"])
@pytest.mark.parametrize("mode", ["by_run", "by_artifact"])
def test_artifact_link_to_registry_collection(
    aliases: list[str] | None, path: str, mode: str
) -> None:
    """Mirrors test_link_registry.py::test_artifact_link_to_registry_collection: a
    registry ``wandb-registry-<registry>`` is the project of that name; the org part of
    a path is accepted and ignored (as an entity is)."""
    source = log()
    target = path.format(c="target-collection")
    if mode == "by_run":
        with asyncart.init(job_type="link") as run:
            linked = run.link_artifact(source, target, aliases=aliases)
    else:
        linked = source.link(target, aliases=aliases)
    assert set(linked.aliases) == {"latest", *(aliases or [])}
    assert linked.collection is not None and linked.collection.name == "target-collection"
    assert linked.project == "wandb-registry-model"
    assert (
        linked.qualified_name == f"asyncart/wandb-registry-model/target-collection:{linked.version}"
    )


def test_linking_the_same_version_again_returns_its_link(store: str) -> None:
    """No W&B test; W&B's server keeps one membership per artifact and collection, so a
    second link of a version returns the first (both stores): same index, new aliases
    moved onto it, no new version."""
    source = log()
    first = source.link("portfolio", aliases=["a"])
    again = asyncart.Api().artifact("test-artifact:latest").link("portfolio", aliases=["b"])
    assert (first.version, again.version) == ("v0", "v0")
    assert sorted(again.aliases) == ["a", "b", "latest"]
    assert len(asyncart.Api().artifact_collection("dataset", "portfolio").artifacts()) == 1


def test_linking_a_link_links_its_source() -> None:
    """Mirrors Artifact.link's rule (W&B warns: linking to a link artifact links its
    source artifact)."""
    source = log()
    second = source.link("first-portfolio").link("second-portfolio")
    assert second.source_qualified_name == source.qualified_name
    assert len(source.linked_artifacts) == 2


def test_deleting_a_source_deletes_its_links(store: str) -> None:
    """W&B deletes an artifact's memberships with it (both stores): its links go, the
    portfolio's ``latest`` moves back to its newest remaining link."""
    first = log("first", "one")
    second = log("second", "two")
    first.link("portfolio")
    second.link("portfolio")
    second.delete()
    api = asyncart.Api()
    assert api.artifact_exists("portfolio:v1") is False
    remaining = api.artifact("portfolio:latest")
    assert remaining.version == "v0" and remaining.source_name == "first:v0"


def test_link_shares_its_sources_description_metadata_and_tags() -> None:
    """W&B's description/metadata/tags setters: editing them on a link edits the source
    (and all its links); the ttl setter of a link raises ValueError."""
    source = log()
    linked = source.link("portfolio")
    linked.description = "card"
    linked.metadata = {"acc": 0.9}
    linked.tags = ["gold"]
    linked.save()
    fresh = asyncart.Api().artifact("test-artifact:v0")
    assert (fresh.description, fresh.metadata, fresh.tags) == ("card", {"acc": 0.9}, ["gold"])
    with pytest.raises(ValueError, match="TTL for link artifact"):
        linked.ttl = None


def test_use_of_a_link_is_a_use_of_its_source() -> None:
    """W&B's Artifact.used_by: the runs that used this artifact and its linked artifacts."""
    source = log()
    source.link("portfolio")
    with asyncart.init(job_type="eval") as run:
        path = run.use_artifact("portfolio:latest").download()
    assert [r.id for r in source.used_by()] == [run.id]
    assert Path(path).name == "test-artifact:v0"  # W&B: a link downloads to its source's name
    assert (Path(path) / "boom.txt").read_text() == "testing"


def test_links_and_logged_versions_do_not_share_a_collection() -> None:
    """asyncart rule: a collection holds logged versions or links, never both."""
    source = log()
    other = log("other", "other")
    with pytest.raises(asyncart.ConflictError, match="not links"):
        source.link("other")
    other.link("portfolio")
    Path("x.txt").write_text("x")
    draft = asyncart.Artifact("portfolio", "dataset")
    draft.add_file("x.txt")
    with asyncart.init(job_type="compat") as run, pytest.raises(asyncart.ConflictError):
        run.log_artifact(draft, wait=True)


def test_link_target_names_a_collection() -> None:
    """A target with a version (``coll:v0``) or too many parts is refused before any I/O."""
    source = log()
    for bad in ("portfolio:v0", "a/b/c/d"):
        with pytest.raises(asyncart.InvalidNameError):
            source.link(bad)


async def test_links_on_the_async_face() -> None:
    """The same on ``asyncart.aio``: link, linked_artifacts(), source_artifact(), unlink."""
    Path("boom.txt").write_text("testing")
    async with await aio.init(job_type="compat") as run:
        artifact = aio.Artifact("test-artifact", "model")
        artifact.add_file("boom.txt")
        linked = await run.link_artifact(artifact, "wandb-registry-model/best", aliases=["prod"])
        assert linked.is_link and linked.aliases == ["latest", "prod"]
        assert [a.qualified_name for a in await artifact.linked_artifacts()] == [
            linked.qualified_name
        ]
        assert (await linked.source_artifact()).qualified_name == artifact.qualified_name
        again = await artifact.link("default/portfolio")
        assert again.project == "default"
        await linked.unlink()
        assert [a.name for a in await artifact.linked_artifacts()] == ["portfolio:v0"]


def test_new_draft_of_a_link_continues_its_source() -> None:
    """W&B's new_draft: a draft of a link is named after its source (saving it logs the
    source collection's next version)."""
    source = log()
    linked = source.link("portfolio")
    draft = linked.new_draft()
    Path("more.txt").write_text("more")
    draft.add_file("more.txt")
    with asyncart.init(job_type="compat") as run:
        run.log_artifact(draft, wait=True)
    assert draft.qualified_name == "asyncart/default/test-artifact:v1"
