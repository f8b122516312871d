"""Entries of a logged version, as W&B's tests define them.

What crosses the wire (fetching a version, downloading one entry) runs against the
embedded store and a server (``store``), through the sync and the async face; the
rest uses the embedded store. Each test names the W&B test it mirrors.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import asyncart
from asyncart import aio

P = "tests/system_tests/test_artifacts/test_artifact_public_api.py"


def log_mnist() -> None:
    """W&B's ``sample_data`` fixture, in short: ``mnist:v0`` holding ``digits.h5``."""
    Path("digits.h5").write_bytes(b"\x89HDF" + bytes(range(256)) * 4)
    art = asyncart.Artifact("mnist", type="dataset")
    art.add_file("digits.h5")
    with asyncart.init(job_type="sample") as run:
        run.log_artifact(art)
    art.wait()
    Path("digits.h5").rename("original.h5")


def test_artifact_get_path(store: str) -> None:
    """Mirrors test_artifact_public_api.py::test_artifact_get_path: the entry downloads into
    the artifact's directory and the absolute path comes back; get_path is the same."""
    log_mnist()
    art = asyncart.Api().artifact("mnist:v0", type="dataset")
    entry = art.get_entry("digits.h5")
    assert (entry.path, entry.size, entry.ref) == ("digits.h5", 1028, None)
    path = entry.download()
    assert path == os.path.abspath(os.path.join(".", "artifacts", "mnist:v0", "digits.h5"))
    assert Path(path).read_bytes() == Path("original.h5").read_bytes()
    assert art.get_path("digits.h5") == entry


def test_artifact_get_path_download(store: str) -> None:
    """Mirrors test_artifact_public_api.py::test_artifact_get_path_download."""
    log_mnist()
    art = asyncart.Api().artifact("mnist:v0", type="dataset")
    path = art.get_entry("digits.h5").download(os.getcwd())
    assert os.path.exists("./digits.h5")
    assert path == os.path.join(os.getcwd(), "digits.h5")


async def test_async_entry_download(store: str) -> None:
    """Mirrors test_artifact_public_api.py::test_artifact_get_path, through asyncart.aio."""
    Path("digits.h5").write_bytes(b"digits")
    async with await aio.init(job_type="sample") as run:
        art = aio.Artifact("mnist", type="dataset")
        art.add_file("digits.h5")
        await run.log_artifact(art)
    async with aio.Api() as api:
        fetched = await api.artifact("mnist:v0")
        entry = fetched.get_entry(Path("digits.h5"))
        path = await entry.download("out")
    assert path == os.path.abspath("out/digits.h5")
    assert Path(path).read_bytes() == b"digits"
    assert entry.digest == fetched.manifest.entries["digits.h5"].digest


def test_get_entry_of_a_missing_name_raises_key_error() -> None:
    """Mirrors Artifact.get_entry (artifact.py): KeyError for a name the version lacks."""
    log_mnist()
    art = asyncart.Api().artifact("mnist:v0")
    with pytest.raises(KeyError, match=r"nope\.h5"):
        art.get_entry("nope.h5")
    with pytest.raises(asyncart.NotFoundError):
        art.get_entry("nope.h5")


def test_unlogged_artifact_other_method_errors() -> None:
    """Mirrors tests/unit_tests/test_artifacts/test_wandb_artifacts.py::
    test_unlogged_artifact_other_method_errors (get_entry of a draft; W&B raises
    ArtifactNotLoggedError, asyncart a ConfigError naming the fix)."""
    art = asyncart.Artifact("foo", type="any")
    with pytest.raises(asyncart.ConfigError, match="not been logged"):
        art.get_entry("pathname")


def test_logged_manifest_entries_map_paths_to_entries() -> None:
    """Mirrors test_wandb_artifacts_full.py::test_local_references' reading of
    ``manifest.entries[path].ref``, on a logged version: the draft's entries come back."""
    Path("a.txt").write_text("a")
    Path("ref.txt").write_text("ref")
    draft = asyncart.Artifact("mixed", type="dataset")
    draft.add_file("a.txt", name="dir/a.txt")
    draft.add_reference(Path("ref.txt").resolve().as_uri())
    before = {p: (e.size, e.ref, e.digest) for p, e in draft.manifest.entries.items()}
    with asyncart.init(job_type="log") as run:
        run.log_artifact(draft)
    stored = asyncart.Api().artifact("mixed:v0")
    assert {p: (e.size, e.ref, e.digest) for p, e in stored.manifest.entries.items()} == before
    assert stored.manifest.entries["dir/a.txt"].ref is None
    assert stored.manifest.entries["ref.txt"].ref == Path("ref.txt").resolve().as_uri()
    assert stored.manifest.digest() == stored.digest == draft.digest
    assert stored.manifest == draft.manifest


def test_entry_ref_target_and_ref_url() -> None:
    """Mirrors test_wandb_artifacts.py::test_add_reference_local_file (ref_target) and
    ArtifactManifestEntry.ref_url (artifact_manifest_entry.py)."""
    Path("a.txt").write_text("a")
    Path("ref.txt").write_text("ref")
    uri = Path("ref.txt").resolve().as_uri()
    draft = asyncart.Artifact("mixed", type="dataset")
    file_entry = draft.add_file("a.txt")
    (ref_entry,) = draft.add_reference(uri)
    assert ref_entry.ref_target() == uri
    with pytest.raises(ValueError, match="not a reference"):
        file_entry.ref_target()
    with pytest.raises(ValueError, match="not been logged"):
        file_entry.ref_url()
    with asyncart.init(job_type="log") as run:
        run.log_artifact(draft)
    stored = asyncart.Api().artifact("mixed:v0")
    assert stored.get_entry("ref.txt").ref_target() == uri
    assert stored.get_entry("a.txt").ref_url() == "asyncart-artifact://default/mixed:v0/a.txt"


def test_download_of_an_unchecksummed_reference_copies_it_as_it_is(
    store: str, tmp_path: Path
) -> None:
    """Differs from W&B's local file handler, whose load of a ``checksum=False`` reference
    compares the file's MD5 with the URI's and fails: asyncart copies the file unchecked."""
    source = tmp_path / "live.txt"
    source.write_text("first")
    art = asyncart.Artifact("live", type="dataset")
    art.add_reference(source.as_uri(), checksum=False)
    with asyncart.init(job_type="log") as run:
        run.log_artifact(art)
    source.write_text("second, longer")
    stored = asyncart.Api().artifact("live:v0")
    assert Path(stored.get_entry("live.txt").download("out")).read_text() == "second, longer"
    stored.verify("out")  # nothing to compare an unchecked reference's bytes with


def test_artifacts_files_filtered_length() -> None:
    """Mirrors test_artifact_public_api.py::test_artifacts_files_filtered_length (files()
    items with ``.name``; ``names`` filters; ``per_page`` accepted, one listing)."""
    artifact = asyncart.Artifact(name="texts", type="text")
    for i in range(10):
        with artifact.new_file(f"file{i}.txt") as f:
            f.write(str(i))
    with asyncart.init(job_type="log") as run:
        run.log_artifact(artifact)
    stored = asyncart.Api().artifact("texts:v0")
    assert len(stored.files()) == 10
    assert len(stored.files(names=["file0.txt"])) == 1
    assert len(stored.files(names=["file0.txt", "file1.txt"])) == 2
    names = [f.name for f in stored.files(per_page=3)]
    assert names == [f"file{i}.txt" for i in range(10)]
    assert [f.path for f in stored.files()] == names
    with pytest.raises(ValueError, match="per_page"):
        stored.files(per_page=0)


def test_files_of_a_draft_are_listed() -> None:
    """Differs from tests/unit_tests/test_artifacts/test_wandb_artifacts.py::
    test_unlogged_artifact_basic_method_errors[files]: W&B refuses files() before logging;
    asyncart lists the draft's entries (without digests: listing reads no file)."""
    Path("a.txt").write_text("a")
    art = asyncart.Artifact("draft", type="dataset")
    art.add_file("a.txt")
    assert [(f.name, f.size, f.digest) for f in art.files()] == [("a.txt", 1, None)]
