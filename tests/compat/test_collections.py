"""Editing and deleting artifact collections, as W&B's tests define it: settable
``name``, ``type``, ``description`` and ``tags`` persisted by ``save()``; the deprecated
``change_type()``; ``delete()`` taking every version and alias; ``artifact.collection``
as the same editable object.

Each test names the W&B test it mirrors (wandb/wandb ``tests/``), or says what asyncart
adds. ``store`` runs a test on the embedded store and on a real server.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

import asyncart
from asyncart import aio
from asyncart.errors import ArtifactNotFound, ConflictError, InvalidNameError, PermissionDenied
from asyncart.repo.access import Role
from tests.support.accounts import users_with_keys
from tests.support.cli import run_cli
from tests.support.live_server import LiveServer, live_server
from tests.support.stores import pack_files


def log(name: str = "sequence_name", text: str = "testing", **kw: Any) -> asyncart.Artifact:
    Path("test.txt").write_text(text)
    art = asyncart.Artifact(name, type="data")
    art.add_file("test.txt")
    with asyncart.init(job_type="compat") as run:
        run.log_artifact(art, **kw)
    return art.wait()


# -- save -------------------------------------------------------------------------------


@pytest.mark.parametrize("new_description", ["", "New description."])
def test_save_artifact_sequence(store: str, new_description: str) -> None:
    """Mirrors test_wandb_artifacts.py::test_save_artifact_sequence (both stores): name,
    type, description and tags set on the Api's collection, saved, read back through
    ``artifact.collection``; tags replaced by a second save."""
    log()
    api = asyncart.Api()
    collection = api.artifact_collection("data", "sequence_name")
    collection.description = new_description
    collection.name = "new_name"
    collection.type = "new_type"
    collection.tags = ["tag"]
    collection.save()

    artifact = api.artifact("new_name:latest")
    assert artifact.type == "new_type"
    collection = artifact.collection
    assert collection is not None
    assert (collection.type, collection.name) == ("new_type", "new_name")
    assert collection.description == new_description
    assert collection.tags == ["tag"]

    collection.tags = ["new_tag"]
    collection.save()
    artifact = api.artifact("new_name:latest")
    assert artifact.collection is not None and artifact.collection.tags == ["new_tag"]
    assert not api.artifact_collection_exists("sequence_name", "data")


def test_collection_tags_change_in_place_and_invalid_tags_change_nothing(store: str) -> None:
    """W&B's collection tags follow its tag rule (``ArtifactCollectionData`` validates
    them); appended in place they are saved too; duplicates are dropped."""
    log()
    collection = asyncart.Api().artifact_collection("data", "sequence_name")
    collection.tags.append("first")
    collection.tags.append("first")
    collection.save()
    assert asyncart.Api().artifact_collection("data", "sequence_name").tags == ["first"]
    with pytest.raises(ValueError, match="Invalid tag"):
        collection.tags = ["no:colons"]
    collection.tags.append("bad/slash")
    with pytest.raises(ValueError, match="Invalid tag"):
        collection.save()
    assert asyncart.Api().artifact_collection("data", "sequence_name").tags == ["first"]


@pytest.mark.parametrize("invalid_name", ["a" * 129, "my/artifact"])
def test_setting_invalid_artifact_collection_name(invalid_name: str) -> None:
    """Mirrors test_wandb_artifacts.py::test_setting_invalid_artifact_collection_name: a
    ``ValueError`` at the setter, and the name stays."""
    log("valid-name")
    collection = asyncart.Api().artifact_collection(type_name="data", name="valid-name")
    with pytest.raises(ValueError):
        collection.name = invalid_name
    assert collection.name == "valid-name"
    with pytest.raises(InvalidNameError):
        collection.type = "bad:type"


def test_description_is_none_until_set_and_can_be_cleared(store: str) -> None:
    """W&B's ``description`` is None for a new collection; setting None clears it."""
    log()
    collection = asyncart.Api().artifact_collection("data", "sequence_name")
    assert (collection.description, collection.tags) == (None, [])
    collection.description = "first"
    collection.save()
    collection.description = None
    collection.save()
    assert asyncart.Api().artifact_collection("data", "sequence_name").description is None


def test_change_artifact_collection_type(store: str) -> None:
    """Mirrors test_wandb_artifacts.py::test_change_artifact_collection_type (both
    stores): ``artifact.collection.change_type()`` retypes every version at once (and,
    as W&B's, warns that it is deprecated)."""
    log("image_data")
    with asyncart.init(job_type="compat") as run:
        artifact = run.use_artifact("image_data:latest")
        assert artifact.collection is not None
        with pytest.warns(DeprecationWarning, match="save"):
            artifact.collection.change_type("lucas_type")
    with asyncart.init(job_type="compat") as run:
        assert run.use_artifact("image_data:latest").type == "lucas_type"


def test_rename_onto_a_name_in_use_is_refused(store: str) -> None:
    """asyncart: renaming onto another collection's name is a ``ConflictError`` naming
    it; nothing changes."""
    log("first")
    log("second", text="other")
    collection = asyncart.Api().artifact_collection("data", "first")
    collection.name = "second"
    with pytest.raises(ConflictError, match="second"):
        collection.save()
    assert asyncart.Api().artifact("first:v0").name == "first:v0"


def test_a_renamed_name_keeps_its_version_numbers_and_renaming_back_works() -> None:
    """asyncart: a version number is never given out twice under a name, so logging the
    old name again continues after the renamed collection's versions; renaming back onto
    that name is allowed once it has no versions of its own."""
    log("old")
    log("old", text="second")
    collection = asyncart.Api().artifact_collection("data", "old")
    collection.name = "new"
    collection.save()
    assert [a.version for a in asyncart.Api().artifacts("data", "new")] == ["v0", "v1"]
    again = log("old", text="third")
    assert again.version == "v2"
    asyncart.Api().artifact_collection("data", "old").delete()
    collection.name = "old"
    collection.save()
    assert [a.version for a in asyncart.Api().artifacts("data", "old")] == ["v0", "v1"]
    assert log("old", text="fourth").version == "v3"


# -- delete -----------------------------------------------------------------------------


def test_delete_collection(store: str) -> None:
    """Mirrors test_wandb_artifacts_api.py::test_delete_collection's sequence half (both
    stores; the portfolio half needs links): after ``delete()`` no version resolves;
    another collection stays. The aliases go too (W&B deletes them with the sequence)."""
    log("test-artifact", aliases=["best"])
    log("other-artifact")
    api = asyncart.Api()
    sequence = api.artifact_type("data").collection("test-artifact")
    sequence.delete()
    for ref in ("latest", "best", "v0"):
        with pytest.raises(ArtifactNotFound):
            api.artifact(f"asyncart/default/test-artifact:{ref}", type="data")
    assert api.artifact("other-artifact:latest").version == "v0"
    assert not api.artifact_collection_exists("test-artifact", "data")


def test_a_deleted_collection_logged_again_starts_afresh_but_for_its_numbers() -> None:
    """asyncart: logging a deleted collection's name again makes a collection without the
    old description or tags, numbered after the deleted versions."""
    log()
    collection = asyncart.Api().artifact_collection("data", "sequence_name")
    collection.description, collection.tags = "old text", ["old"]
    collection.save()
    collection.delete()
    with pytest.raises(ArtifactNotFound, match="was deleted"):
        collection.save()
    assert log(text="new").version == "v1"
    fresh = asyncart.Api().artifact_collection("data", "sequence_name")
    assert (fresh.description, fresh.tags, fresh.version_count) == (None, [], 1)


def test_deleted_collection_bytes_are_reclaimed_by_gc(server: LiveServer) -> None:
    """asyncart: ``delete()`` frees nothing at once; the next ``asyncart server gc``
    removes the packs only the collection's versions used."""
    Path("big.bin").write_bytes(bytes(range(256)) * 4096)
    art = asyncart.Artifact("doomed", type="data")
    art.add_file("big.bin")
    with asyncart.init(job_type="compat", url=server.url) as run:
        run.log_artifact(art)
    art.wait()
    assert pack_files(server.root)
    asyncart.Api(url=server.url).artifact_collection("data", "doomed").delete()
    assert pack_files(server.root)
    proc = run_cli("server", "gc", "--root", str(server.root), "--grace", "0", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["deleted_packs"] >= 1
    assert pack_files(server.root) == []


# -- artifact.collection and the async face ---------------------------------------------


def test_get_artifact_collection_is_the_editable_collection(store: str) -> None:
    """Mirrors test_wandb_artifacts_full.py::test_get_artifact_collection (entity,
    project, name, type), and W&B's ``artifact.collection`` being an
    ``ArtifactCollection``: its aliases, description, times and ``save()``."""
    art = log(aliases=["best"])
    collection = art.collection
    assert collection is not None and art.collection is collection  # made once
    assert (collection.entity, collection.project, collection.type) == (
        art.entity,
        art.project,
        art.type,
    )
    assert art.name.startswith(collection.name)
    assert collection.is_sequence()
    assert collection.aliases == ["best", "latest"]
    collection.description = "from the artifact"
    collection.save()
    reread = asyncart.Api().artifact_collection("data", "sequence_name")
    assert reread.description == "from the artifact"
    assert reread.version_count == 1
    iso = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"  # W&B's times: ISO 8601 strings, UTC
    assert re.fullmatch(iso, reread.created_at) and re.fullmatch(iso, reread.updated_at)
    assert reread.created_at <= reread.updated_at


async def test_async_face_reads_edits_and_deletes(store: str) -> None:
    """The same on ``asyncart.aio`` (one core): ``artifact.collection`` needs
    ``await load()`` before its stored fields; ``save()`` and ``delete()`` are awaited."""
    async with await aio.init(job_type="compat") as run:
        Path("a.txt").write_text("async")
        draft = aio.Artifact("async_seq", type="data")
        draft.add_file("a.txt")
        logged = await run.log_artifact(draft)
    collection = logged.collection
    assert collection is not None and collection.name == "async_seq"
    with pytest.raises(asyncart.ConfigError, match="load"):
        _ = collection.description
    await collection.load()
    assert (collection.description, collection.aliases) == (None, ["latest"])
    async with aio.Api() as api:
        edited = await api.artifact_collection("data", "async_seq")
        edited.tags = ["t"]
        edited.type = "model"
        await edited.save()
        again = await api.artifact_collection("model", "async_seq")
        assert (again.tags, again.type) == (["t"], "model")
        await again.delete()
        assert not await api.artifact_collection_exists("async_seq", "model")


# -- permissions (a real server with restricted keys) -----------------------------------


def test_editing_needs_write_and_deleting_needs_admin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncart: a read key may not ``save()`` (PermissionDenied), a write key may, but
    may not ``delete()`` (that needs admin, as deleting a version does)."""
    root = tmp_path / "guarded"
    root.mkdir()
    keys = asyncio.run(
        users_with_keys(
            root,
            {
                "reader": [("default", Role.READ)],
                "writer": [("default", Role.WRITE)],
                "owner": [("default", Role.ADMIN)],
            },
        )
    )
    with live_server(root) as srv:
        monkeypatch.setenv("ASYNCART_URL", srv.url)
        monkeypatch.setenv("ASYNCART_API_KEY", keys["owner"])
        log()
        monkeypatch.setenv("ASYNCART_API_KEY", keys["reader"])
        read_only = asyncart.Api().artifact_collection("data", "sequence_name")
        read_only.description = "not mine"
        with pytest.raises(PermissionDenied):
            read_only.save()
        monkeypatch.setenv("ASYNCART_API_KEY", keys["writer"])
        writable = asyncart.Api().artifact_collection("data", "sequence_name")
        writable.description = "mine"
        writable.save()
        with pytest.raises(PermissionDenied):
            writable.delete()
        monkeypatch.setenv("ASYNCART_API_KEY", keys["owner"])
        owned = asyncart.Api().artifact_collection("data", "sequence_name")
        assert owned.description == "mine"
        owned.delete()
        assert not asyncart.Api().artifact_collection_exists("sequence_name", "data")
