"""The hostile entry-name corpus (``tests/support/hostile_paths.py``) against every way in.

On the push side a name is refused when it is given (``add_file``, ``add_dir``,
``new_file``, ``add_reference``), before a run exists or a byte is read, with a
``ConfigError`` that shows the name; on the pull side ``Manifest.from_json`` /
``Manifest.decode`` refuse a manifest holding it.
``tests/client/test_hostile_server_manifest.py`` serves the same corpus from a hostile
server.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import blake3
import pytest

import asyncart
from asyncart.core.chunking import DEFAULT_CHUNKER
from asyncart.core.manifest import MANIFEST_FORMAT, Manifest, ManifestEntry
from asyncart.core.paths import normalize_entry_path, safe_join
from asyncart.errors import AsyncartError, ConfigError
from tests.support.hostile_paths import (
    HOSTILE_PATHS,
    ODD_BUT_SAFE_PATHS,
    PROBE_DIR,
    TWIN_PATHS,
    hostile_ids,
)

DATA = b"the bytes of a file\n"
DIGEST = blake3.blake3(DATA).hexdigest()
CORPUS = pytest.mark.parametrize(("case", "path"), HOSTILE_PATHS, ids=hostile_ids())
SAFE = pytest.mark.parametrize(
    ("case", "path", "normalised"), ODD_BUT_SAFE_PATHS, ids=[c for c, _, _ in ODD_BUT_SAFE_PATHS]
)


def names_the_path(exc: BaseException, path: str) -> bool:
    """The message shows the path (its start, for the very long ones)."""
    return repr(path)[:40] in str(exc)


def manifest_doc(path: Any) -> dict[str, Any]:
    """A manifest JSON document whose one entry has ``path`` and otherwise valid fields."""
    return {
        "format": MANIFEST_FORMAT,
        "hash": "blake3",
        "chunker": DEFAULT_CHUNKER.to_json(),
        "entries": [{"path": path, "size": len(DATA), "digest": DIGEST}],
    }


@pytest.fixture
def local_file(tmp_path: Path) -> Path:
    """A small readable file to add under a hostile name."""
    path = tmp_path / "source.txt"
    path.write_bytes(DATA)
    return path


@pytest.fixture(autouse=True)
def nothing_stored(tmp_path: Path) -> Iterator[None]:
    """Whatever a test does, the embedded store is never created and the probe stays absent."""
    yield
    assert not (tmp_path / "embedded-store").exists()
    assert not PROBE_DIR.exists()


# -- the corpus itself ----------------------------------------------------------------


def test_the_corpus_is_large_and_unambiguous() -> None:
    ids = hostile_ids()
    assert len(HOSTILE_PATHS) >= 30
    assert len(ids) == len(set(ids))
    assert len({p for _, p in HOSTILE_PATHS}) == len(HOSTILE_PATHS)
    safe_ids = [c for c, _, _ in ODD_BUT_SAFE_PATHS]
    assert len(safe_ids) == len(set(safe_ids))
    assert not set(ids) & set(safe_ids)


@CORPUS
def test_normalize_entry_path_refuses(case: str, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        normalize_entry_path(path)
    assert names_the_path(info.value, path), str(info.value)


@CORPUS
def test_safe_join_refuses(tmp_path: Path, case: str, path: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(ConfigError):
        safe_join(root, path)
    assert list(root.iterdir()) == []


@SAFE
def test_odd_but_safe_paths_normalise_inside_the_root(
    tmp_path: Path, case: str, path: str, normalised: str
) -> None:
    assert normalize_entry_path(path) == normalised
    joined = safe_join(tmp_path, path)
    assert joined == tmp_path.joinpath(*normalised.split("/"))
    assert tmp_path in joined.parents


# -- push: the SDK refuses the name when it is given ----------------------------------------


def _draft() -> asyncart.Artifact:
    return asyncart.Artifact(type="dataset", name="hostile names")


@CORPUS
def test_add_file_refuses(local_file: Path, case: str, path: str) -> None:
    art = _draft()
    with pytest.raises(ConfigError) as info:
        art.add_file(local_file, name=path)
    assert names_the_path(info.value, path), str(info.value)
    assert art.files() == []


@CORPUS
def test_add_dir_refuses_the_prefix(tmp_path: Path, case: str, path: str) -> None:
    if path == "":
        pytest.skip("add_dir(name='') means no prefix: the files go at the root")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.txt").write_bytes(DATA)
    art = _draft()
    with pytest.raises(ConfigError) as info:
        art.add_dir(folder, name=path)
    assert names_the_path(info.value, path), str(info.value)
    assert art.files() == []


def _as_local_file_name(path: str) -> bool:
    """Whether ``path`` can be the name of one file in a local directory (Linux)."""
    try:
        encoded = os.fsencode(path)
    except UnicodeError:
        return False
    return (
        bool(path)
        and "/" not in path
        and "\x00" not in path
        and path not in (".", "..")
        and len(encoded) <= 255
    )


LOCAL_NAMES = [(c, p) for c, p in HOSTILE_PATHS if _as_local_file_name(p)]


@pytest.mark.parametrize(("case", "name"), LOCAL_NAMES, ids=[c for c, _ in LOCAL_NAMES])
def test_add_dir_refuses_a_hostile_file_name_inside_the_directory(
    tmp_path: Path, case: str, name: str
) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "fine.txt").write_bytes(DATA)
    (folder / name).write_bytes(DATA)
    art = _draft()
    with pytest.raises(ConfigError) as info:
        art.add_dir(folder)
    assert names_the_path(info.value, name), str(info.value)
    assert art.files() == []  # all or nothing: fine.txt was not added either


@CORPUS
def test_new_file_refuses_before_writing_anything(case: str, path: str) -> None:
    art = _draft()
    with pytest.raises(ConfigError) as info, art.new_file(path) as f:
        f.write("never written")
    assert names_the_path(info.value, path), str(info.value)
    assert art.files() == []


@CORPUS
def test_add_reference_refuses(local_file: Path, case: str, path: str) -> None:
    art = _draft()
    with pytest.raises(ConfigError) as info:
        art.add_reference(local_file.as_uri(), name=path)
    assert names_the_path(info.value, path), str(info.value)
    assert art.files() == []


def test_a_refused_name_leaves_the_draft_usable(local_file: Path) -> None:
    art = _draft()
    for _, path in HOSTILE_PATHS:
        with pytest.raises(AsyncartError):
            art.add_file(local_file, name=path)
    art.add_file(local_file, name="fine/name.txt")
    assert [f.path for f in art.files()] == ["fine/name.txt"]


@SAFE
def test_add_file_accepts_odd_but_safe_names(
    local_file: Path, case: str, path: str, normalised: str
) -> None:
    art = _draft()
    assert art.add_file(local_file, name=path).path == normalised


# -- pull: a manifest naming it is refused --------------------------------------------------


@CORPUS
def test_manifest_from_json_refuses(case: str, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        Manifest.from_json(manifest_doc(path))
    assert names_the_path(info.value, path), str(info.value)


@CORPUS
def test_manifest_decode_refuses(case: str, path: str) -> None:
    blob = gzip.compress(json.dumps(manifest_doc(path)).encode())
    with pytest.raises(ConfigError) as info:
        Manifest.decode(blob)
    assert names_the_path(info.value, path), str(info.value)


@CORPUS
def test_manifest_entry_refuses(case: str, path: str) -> None:
    with pytest.raises(ConfigError):
        ManifestEntry(path=path, size=len(DATA), digest=DIGEST)


@CORPUS
def test_a_hostile_entry_among_good_ones_refuses_the_whole_manifest(case: str, path: str) -> None:
    doc = manifest_doc("good/first.txt")
    doc["entries"].append({"path": path, "size": len(DATA), "digest": DIGEST})
    doc["entries"].append({"path": "good/last.txt", "size": len(DATA), "digest": DIGEST})
    with pytest.raises(ConfigError):
        Manifest.from_json(doc)


@SAFE
def test_manifest_accepts_odd_but_safe_paths(case: str, path: str, normalised: str) -> None:
    manifest = Manifest.from_json(manifest_doc(path))
    assert [e.path for e in manifest] == [normalised]
    assert Manifest.decode(manifest.encode()) == manifest


# -- twins: one file on macOS / Windows, two names here --------------------------------------

TWINS = pytest.mark.parametrize(
    ("case", "first", "second"), TWIN_PATHS, ids=[c for c, _, _ in TWIN_PATHS]
)


def _snapshots(tmp_path: Path) -> list[Path]:
    """Every file the drafts copied into the cache's staging area."""
    staging = tmp_path / "cache" / "staging"
    return sorted(p for p in staging.rglob("*") if p.is_file()) if staging.exists() else []


def test_the_twin_corpus_pairs_different_strings() -> None:
    assert len(TWIN_PATHS) >= 10
    for _, first, second in TWIN_PATHS:
        assert first != second
        assert normalize_entry_path(first) == first
        assert normalize_entry_path(second) == second


@TWINS
@pytest.mark.parametrize("order", ["as-listed", "reversed"])
def test_manifest_refuses_twins_naming_both(case: str, first: str, second: str, order: str) -> None:
    doc = manifest_doc(first)
    doc["entries"].append({"path": second, "size": len(DATA), "digest": DIGEST})
    if order == "reversed":
        doc["entries"].reverse()
    with pytest.raises(ConfigError) as info:
        Manifest.from_json(doc)
    assert repr(first) in str(info.value) and repr(second) in str(info.value), str(info.value)
    assert "letter case" in str(info.value)


@TWINS
def test_manifest_takes_either_twin_alone(case: str, first: str, second: str) -> None:
    for path in (first, second):
        assert [e.path for e in Manifest.from_json(manifest_doc(path))] == [path]


def test_manifest_refuses_a_file_above_another_file_not_adjacent_in_order() -> None:
    # 'a' < 'a.txt' < 'a/b': the file 'a' and the path below it are not neighbours.
    doc = manifest_doc("a")
    for path in ("a.txt", "a/b"):
        doc["entries"].append({"path": path, "size": len(DATA), "digest": DIGEST})
    with pytest.raises(ConfigError, match="collide"):
        Manifest.from_json(doc)


@TWINS
def test_add_file_refuses_a_twin_before_copying_it(
    tmp_path: Path, local_file: Path, case: str, first: str, second: str
) -> None:
    art = _draft()
    art.add_file(local_file, name=first)
    copied = _snapshots(tmp_path)
    with pytest.raises(ConfigError) as info:
        art.add_file(local_file, name=second)
    assert repr(first) in str(info.value) and repr(second) in str(info.value), str(info.value)
    assert [f.path for f in art.files()] == [first]
    assert _snapshots(tmp_path) == copied  # no bytes moved for the refused name


@TWINS
def test_new_file_and_add_reference_refuse_a_twin(
    local_file: Path, case: str, first: str, second: str
) -> None:
    art = _draft()
    art.add_file(local_file, name=first, policy="immutable")
    with pytest.raises(ConfigError, match="letter case"), art.new_file(second) as f:
        f.write("never written")
    with pytest.raises(ConfigError, match="letter case"):
        art.add_reference(local_file.as_uri(), name=second)
    assert [f.path for f in art.files()] == [first]


@TWINS
def test_add_dir_refuses_twins_inside_the_directory(
    tmp_path: Path, case: str, first: str, second: str
) -> None:
    folder = tmp_path / "folder"
    for path in (first, second):
        local = folder.joinpath(*path.split("/"))
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(DATA)
    art = _draft()
    with pytest.raises(ConfigError) as info:
        art.add_dir(folder)
    assert repr(first) in str(info.value) and repr(second) in str(info.value), str(info.value)
    assert art.files() == []
    assert _snapshots(tmp_path) == []  # refused before a single file was copied


@TWINS
def test_add_dir_refuses_a_twin_of_an_earlier_entry(
    tmp_path: Path, local_file: Path, case: str, first: str, second: str
) -> None:
    folder = tmp_path / "folder"
    local = folder.joinpath(*second.split("/"))
    local.parent.mkdir(parents=True)
    local.write_bytes(DATA)
    art = _draft()
    art.add_file(local_file, name=first)
    with pytest.raises(ConfigError, match="letter case"):
        art.add_dir(folder)
    assert [f.path for f in art.files()] == [first]


@TWINS
def test_a_removed_entry_frees_its_twin(
    local_file: Path, case: str, first: str, second: str
) -> None:
    art = _draft()
    art.add_file(local_file, name=first)
    art.remove(first)
    assert art.add_file(local_file, name=second).path == second
