"""Changing a logged version, as W&B's tests define it: settable ``aliases``, ``tags``,
``description``, ``metadata`` and ``ttl`` persisted by ``save()``; ``log_artifact(tags=)``;
``new_draft()``; ``finalize()``; ``wait()``; metadata validated and normalised.

Each test names the W&B test it mirrors (wandb/wandb ``tests/``). Embedded store, except
where the behaviour crosses the wire (``store``: embedded and a real server).
"""

from __future__ import annotations

import itertools
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import asyncart
from asyncart import aio
from asyncart.sdk.changes import ArtifactTTL

API = "tests/system_tests/test_artifacts/test_wandb_artifacts_api.py"

INVALID_TAGS = ("!invalid-tag:with-punctuation", "", " ", "trailing space ", " leading space")
INVALID_TAG_LISTS = [
    *([bad] for bad in INVALID_TAGS),
    *([bad, "good-tag"] for bad in INVALID_TAGS),
    *([a, b] for a, b in itertools.pairwise(INVALID_TAGS)),
]


def log(name: str = "test-artifact", text: str = "testing", **kw: Any) -> asyncart.Artifact:
    Path("boom.txt").write_text(text)
    art = asyncart.Artifact(name, type="test-type")
    art.add_file("boom.txt", "test-name")
    with asyncart.init(job_type="compat") as run:
        run.log_artifact(art, **kw)
    return art.wait()


def fetch(ref: str = "test-artifact:v0") -> asyncart.Artifact:
    return asyncart.Api().artifact(f"asyncart/default/{ref}", type="test-type")


# -- aliases ---------------------------------------------------------------------------


def test_save_aliases_after_logging_artifact(store: str) -> None:
    """Mirrors test_wandb_artifacts_api.py::test_save_aliases_after_logging_artifact
    (both stores): an alias appended in place is added by save()."""
    art = log(aliases=["sequence"])
    art.aliases.append("hello")
    art.save()
    assert sorted(fetch().aliases) == ["hello", "latest", "sequence"]
    assert sorted(art.aliases) == ["hello", "latest", "sequence"]


def test_update_aliases_on_artifact() -> None:
    """Mirrors test_wandb_artifacts_api.py::test_update_aliases_on_artifact's alias
    edit (set, then append in place): aliases not in the new list are removed."""
    log(aliases=["sequence"])
    fetched = fetch()
    fetched.aliases = ["latest", "portfolio"]
    fetched.aliases.append("boom")
    fetched.save()
    assert sorted(fetch().aliases) == ["boom", "latest", "portfolio"]


def test_saved_alias_moves_from_the_version_that_held_it() -> None:
    """As logging with ``aliases=`` does (W&B's aliases are unique in a collection)."""
    log(aliases=["best"])
    v1 = log(text="better")
    v1.aliases.append("best")
    v1.save()
    assert fetch("test-artifact:best").version == "v1"
    assert fetch("test-artifact:v0").aliases == []


def test_latest_is_not_moved_by_hand() -> None:
    """asyncart keeps ``latest`` on the newest version: save() refuses to take it off or
    to add it elsewhere, before sending anything."""
    log()
    v1 = log(text="newer")
    v1.aliases.remove("latest")
    with pytest.raises(asyncart.ConfigError, match="latest"):
        v1.save()
    v0 = fetch("test-artifact:v0")
    v0.aliases.append("latest")
    with pytest.raises(asyncart.ConfigError, match="latest"):
        v0.save()
    assert fetch("test-artifact:latest").version == "v1"


def test_artifact_error_for_invalid_aliases() -> None:
    """Mirrors test_wandb_artifacts_full.py::test_artifact_error_for_invalid_aliases: an
    alias with ``:`` or ``/`` raises ValueError (asyncart's InvalidNameError, one)."""
    Path("a.txt").write_text("a")
    art = asyncart.Artifact("test-artifact", "dataset")
    art.add_file("a.txt")
    with asyncart.init(job_type="compat") as run:
        for aliases in (["latest", "workflow:boom"], ["workflow/boom/test"]):
            with pytest.raises(ValueError, match="must not contain"):
                run.log_artifact(art, aliases=aliases)
        run.log_artifact(art, aliases=["latest", "boom_test-q"], wait=True)
    assert sorted(art.aliases) == ["boom_test-q", "latest"]
    with pytest.raises(ValueError, match="must not contain"):
        art.aliases = ["bad:alias"]


def test_aliases_of_a_draft_cannot_be_set() -> None:
    """Mirrors test_wandb_artifacts.py::test_unlogged_artifact_property_errors[aliases]
    for the setter (W&B's getter raises too; asyncart's answers [])."""
    art = asyncart.Artifact("foo", type="any")
    with pytest.raises(asyncart.ConfigError, match="log_artifact"):
        art.aliases = ["best"]
    with pytest.raises(asyncart.ConfigError, match="log_artifact"):
        art.tags = ["tag"]


# -- tags ----------------------------------------------------------------------------------


def test_save_artifact_with_tags_repeated(store: str) -> None:
    """Mirrors test_wandb_artifacts_api.py::test_save_artifact_with_tags_repeated (both
    stores)."""
    art = log()
    art.tags = ["tag1", "tag2"]
    art.save()
    assert set(art.tags) == {"tag1", "tag2"}
    art.tags = [*art.tags, "tag3", "tag4"]
    art.save()
    assert set(art.tags) == set(fetch().tags) == {"tag1", "tag2", "tag3", "tag4"}


@pytest.mark.parametrize("orig_tags", [["orig-tag", "other-tag"], ["orig-TAG 1", "other-tag"]])
@pytest.mark.parametrize("edit_tags_inplace", [True, False])
def test_save_tags_after_logging_artifact(orig_tags: list[str], edit_tags_inplace: bool) -> None:
    """Mirrors test_wandb_artifacts_api.py::test_save_tags_after_logging_artifact."""
    log(tags=orig_tags)
    fetched = fetch()
    assert sorted(fetched.tags) == sorted(orig_tags)
    wanted = [t for t in [*fetched.tags, "added-tag"] if t != "other-tag"]
    if edit_tags_inplace:
        fetched.tags[:] = wanted
    else:
        fetched.tags = wanted
    fetched.save()
    expected = sorted({*orig_tags, "added-tag"} - {"other-tag"})
    assert sorted(fetched.tags) == expected == sorted(fetch().tags)


def test_save_invalid_tags_after_logging_artifact() -> None:
    """Mirrors test_wandb_artifacts_api.py::test_save_invalid_tags_after_logging_artifact
    (its parameters as a loop): the save is refused, the stored tags stay."""
    log(tags=["orig-tag", "other-tag"])
    for bad in INVALID_TAG_LISTS:
        fetched = fetch()
        with pytest.raises(ValueError, match=r"(?i)invalid tag"):
            fetched.tags.extend(bad)
            fetched.save()
        assert sorted(fetch().tags) == ["orig-tag", "other-tag"]


def test_log_artifact_with_invalid_tags() -> None:
    """Mirrors test_wandb_artifacts_api.py::test_log_artifact_with_invalid_tags (its
    parameters as a loop): refused at log_artifact, nothing logged."""
    Path("boom.txt").write_text("testing")
    with asyncart.init(job_type="compat") as run:
        for bad in INVALID_TAG_LISTS:
            art = asyncart.Artifact("test-artifact", type="test-type")
            art.add_file("boom.txt")
            with pytest.raises(ValueError, match=r"(?i)invalid tag"):
                run.log_artifact(art, tags=bad)
    assert asyncart.Api().artifact_collections() == []


def test_log_artifact_with_tags_on_a_server(store: str) -> None:
    """The log half of test_save_tags_after_logging_artifact, on both stores: tags given
    to log_artifact (deduplicated) reach the version; logging the same content again
    with more tags adds them to that version."""
    art = log(tags=["a", "b", "a"])
    assert sorted(art.tags) == ["a", "b"]
    again = log(tags=["c"])
    assert again.version == "v0" and sorted(fetch().tags) == ["a", "b", "c"]


# -- description and metadata -------------------------------------------------------------


def test_save_description_and_metadata(store: str) -> None:
    """W&B's settable ``description``/``metadata`` persisted by save() (both stores);
    metadata changed in place counts."""
    art = log()
    art.description = "New description."
    art.metadata["accuracy"] = 0.9
    art.save()
    fetched = fetch()
    assert fetched.description == "New description."
    assert fetched.metadata == {"accuracy": 0.9}
    fetched.description = None
    fetched.metadata = {"k": [1, 2]}
    fetched.save()
    assert (fetch().description, fetch().metadata) == (None, {"k": [1, 2]})


def test_log_artifact_with_above_max_metadata_keys() -> None:
    """Mirrors test_wandb_artifacts_api.py::test_log_artifact_with_above_max_metadata_keys."""
    art = asyncart.Artifact("my_artifact", type="test")
    for i in range(101):
        art.metadata[f"key_{i}"] = f"value_{i}"
    Path("a.txt").write_text("a")
    art.add_file("a.txt")
    with asyncart.init(job_type="compat") as run, pytest.raises(ValueError, match="100"):
        run.log_artifact(art, wait=True)
    with pytest.raises(ValueError, match="100"):
        asyncart.Artifact("x", type="t", metadata={str(i): i for i in range(101)})


def test_log_artifact_with_inf_metadata_values() -> None:
    """Mirrors test_wandb_artifacts_api.py::test_log_artifact_with_inf_metadata_values:
    Infinity is refused, set in place (at save) or by assignment."""
    draft_metadata = {"finite_number": 123, "nested": {"pos_inf": float("inf")}}
    Path("a.txt").write_text("a")
    art = asyncart.Artifact("test-artifact-1", type="test")
    art.add_file("a.txt")
    art.metadata.update(draft_metadata)
    with pytest.raises(ValueError, match="Infinity"):
        art.save()
    with pytest.raises(ValueError, match="Infinity"):
        asyncart.Artifact("test-artifact-2", type="test").metadata = draft_metadata


def test_log_artifact_with_nan_metadata_values() -> None:
    """Mirrors test_wandb_artifacts_api.py::test_log_artifact_with_nan_metadata_values:
    NaN (Python's or NumPy's) is stored as None; NumPy values as plain ones."""
    draft = {
        "finite_number": np.int64(123),
        "python_nan": float("nan"),
        "nested": {"normal_string": "hello", "numpy_nan": np.nan, "arr": np.arange(2)},
    }
    expected = {
        "finite_number": 123,
        "python_nan": None,
        "nested": {"normal_string": "hello", "numpy_nan": None, "arr": [0, 1]},
    }
    Path("a.txt").write_text("a")
    first = asyncart.Artifact("test-artifact-1", type="test")
    first.add_file("a.txt")
    first.metadata.update(draft)  # in place: normalised when saved
    first.save()
    second = asyncart.Artifact("test-artifact-2", type="test")
    second.add_file("a.txt")
    second.metadata = draft
    assert second.metadata == expected  # assignment: normalised at once
    second.save()
    for art in (first, second):
        assert asyncart.Api().artifact(art.qualified_name).metadata == expected


def test_metadata_is_copied_and_the_setter_refuses_non_dicts() -> None:
    """W&B's ``validate_metadata``: a deep copy (later changes to the caller's dict do not
    reach the artifact); anything but a dict (or a JSON object's text) is refused."""
    source: dict[str, Any] = {"nested": {"k": 1}, "pair": (1, 2)}
    art = asyncart.Artifact("m", type="t", metadata=source)
    source["nested"]["k"] = 2
    assert art.metadata == {"nested": {"k": 1}, "pair": [1, 2]}
    art.metadata = '{"from": "json"}'  # type: ignore[assignment]
    assert art.metadata == {"from": "json"}
    for bad in (["a"], 3, object()):
        with pytest.raises(asyncart.ConfigError, match="must be a dict"):
            art.metadata = bad  # type: ignore[assignment]
    with pytest.raises(asyncart.ConfigError, match="JSON-serialisable"):
        art.metadata = {"x": object()}


# -- ttl -------------------------------------------------------------------------------------


def test_artifact_ttl_setter_getter() -> None:
    """Mirrors test_wandb_artifacts.py::test_artifact_ttl_setter_getter."""
    art = asyncart.Artifact("test", type="test")
    with pytest.raises(asyncart.ConfigError, match="inherited"):
        _ = art.ttl
    art = asyncart.Artifact("test", type="test")
    art.ttl = None
    assert art.ttl is None
    art = asyncart.Artifact("test", type="test")
    art.ttl = ArtifactTTL.INHERIT
    with pytest.raises(asyncart.ConfigError, match="inherited"):
        _ = art.ttl
    art = asyncart.Artifact("test", type="test")
    art.ttl = timedelta(days=100)
    assert art.ttl == timedelta(days=100)
    with pytest.raises(ValueError, match="positive"):
        art.ttl = timedelta(days=-1)


def test_ttl_is_logged_and_saved(store: str) -> None:
    """A ttl set on the draft goes with the log; one set later, with save() (both
    stores). asyncart records it; it does not expire versions yet."""
    Path("a.txt").write_text("a")
    art = asyncart.Artifact("test-artifact", type="test-type")
    art.add_file("a.txt")
    art.ttl = timedelta(days=100)
    with asyncart.init(job_type="compat") as run:
        run.log_artifact(art)
    assert art.wait().ttl == timedelta(days=100) == fetch().ttl
    fetched = fetch()
    fetched.ttl = None
    fetched.save()
    assert fetch().ttl is None


# -- new_draft, finalize, wait, save of a draft ------------------------------------------------


def test_new_draft(store: str) -> None:
    """Mirrors test_wandb_artifacts_full.py::test_new_draft (both stores): a draft with
    the parent's entries, name without version, no committed fields; a file added and
    logged makes v1 with both; only the new bytes are sent."""
    Path("boom.txt").write_bytes(os.urandom(400_000))
    art = asyncart.Artifact("test-artifact", "test-type", description="d", metadata={"m": 1})
    art.add_file("boom.txt")
    with asyncart.init(job_type="compat") as run:
        run.log_artifact(art, aliases=["a"])
    parent = fetch("test-artifact:latest")
    draft = parent.new_draft()
    assert (draft.type, draft.name, draft.version) == (art.type, "test-artifact", None)
    assert draft.is_draft() and draft.aliases == [] and draft.created_at is None
    assert (draft.description, draft.metadata) == ("d", {"m": 1})
    assert [f.name for f in draft.files()] == ["boom.txt"]
    with draft.new_file("bang.txt", "w") as f:
        f.write("expansion")
    with asyncart.init(job_type="compat") as run:
        run.log_artifact(draft)
    child = fetch("test-artifact:latest")
    assert child.version == "v1" and len(child.manifest.entries) == 2
    stats = draft.last_transfer
    assert stats is not None and 0 < stats.bytes_uploaded < 10_000
    root = Path(child.download())
    assert (root / "boom.txt").read_bytes() == Path("boom.txt").read_bytes()
    assert (root / "bang.txt").read_text() == "expansion"


def test_new_draft_remove_and_readd() -> None:
    """A new draft's kept entries can be removed (the next version lacks them) and
    re-adding one with the same bytes is a no-op, as for any draft entry."""
    Path("keep.txt").write_text("keep")
    Path("drop.txt").write_text("drop")
    art = asyncart.Artifact("test-artifact", "test-type")
    art.add_file("keep.txt")
    art.add_file("drop.txt")
    with asyncart.init(job_type="compat") as run:
        run.log_artifact(art)
    draft = fetch().new_draft()
    draft.remove("drop.txt")
    draft.add_file("keep.txt")
    with pytest.raises(asyncart.ConfigError, match="other content"):
        Path("other.txt").write_text("other")
        draft.add_file("other.txt", name="keep.txt")
    with asyncart.init(job_type="compat") as run:
        run.log_artifact(draft)
    assert draft.version == "v1" and [f.name for f in draft.files()] == ["keep.txt"]


def test_unlogged_artifact_new_draft_errors() -> None:
    """Mirrors test_wandb_artifacts.py::test_unlogged_artifact_basic_method_errors
    [new_draft] (W&B's ArtifactNotLoggedError; asyncart's ConfigError)."""
    with pytest.raises(asyncart.ConfigError, match="not been logged"):
        asyncart.Artifact("foo", type="any").new_draft()


def test_add_after_finalize() -> None:
    """Mirrors test_wandb_artifacts.py::test_add_after_finalize."""
    Path("file1.txt").write_text("a")
    art = asyncart.Artifact("data-artifact", type="dataset")
    art.finalize()
    with pytest.raises(asyncart.ConfigError, match="finalized"):
        art.add_file("file1.txt")


def test_artifact_wait_success() -> None:
    """Mirrors test_wandb_artifacts_full.py::test_artifact_wait_success: wait(timeout=)
    returns the artifact, committed."""
    Path("a.txt").write_text("a")
    art = asyncart.Artifact("art", type="dataset")
    art.add_file("a.txt")
    with asyncart.init(job_type="compat") as run:
        assert run.log_artifact(art).wait(timeout=60) is art
    assert art.state == "COMMITTED"
    assert art.wait() is art  # committed already: returns at once


def test_artifact_save_norun() -> None:
    """Mirrors test_artifact_public_api.py::test_artifact_save_norun: save() of a draft
    outside a run logs it, from a run of job type ``auto``."""
    Path("a.txt").write_text("a")
    art = asyncart.Artifact(type="dataset", name="my-arty")
    art.add_file("a.txt")
    art.save()
    assert art.version == "v0"
    logger = asyncart.Api().artifact("my-arty:v0").logged_by()
    assert logger is not None and logger.job_type == "auto"


async def test_changes_on_the_async_face() -> None:
    """The same on ``asyncart.aio`` (one core): log with tags, change and save, wait,
    new_draft."""
    Path("a.txt").write_text("a")
    art = aio.Artifact("async-art", type="dataset")
    art.add_file("a.txt")
    async with await aio.init(job_type="compat") as run:
        await run.log_artifact(art, tags=["t1"])
    assert await art.wait() is art and art.tags == ["t1"]
    art.aliases.append("best")
    art.tags.append("t2")
    await art.save()
    async with aio.Api() as api:
        fetched = await api.artifact("async-art:best")
    assert sorted(fetched.tags) == ["t1", "t2"]
    draft = fetched.new_draft()
    draft.remove("a.txt")
    Path("b.txt").write_text("b")
    draft.add_file("b.txt")
    await draft.save()
    assert draft.version == "v1"
