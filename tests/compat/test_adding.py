"""Adding to and removing from a draft, as W&B's tests define it (embedded store).

Each test names the W&B test it mirrors (wandb/wandb ``tests/``). W&B's digests are
MD5 values; asyncart's are blake3, so where W&B pins a value these tests pin the
relation it stands for (same bytes, same digest; the logged version's digest).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath, PureWindowsPath
from urllib.parse import quote

import pytest

import asyncart

W = "tests/system_tests/test_artifacts/test_wandb_artifacts.py"
NAME_TYPES = [str, Path, PurePosixPath, PureWindowsPath]


@pytest.fixture
def artifact() -> asyncart.Artifact:
    return asyncart.Artifact(type="dataset", name="data-artifact")


def contents(art: asyncart.Artifact) -> dict[str, tuple[int, str | None]]:
    return {p: (e.size, e.ref) for p, e in art.manifest.entries.items()}


def logged(art: asyncart.Artifact) -> asyncart.Artifact:
    with asyncart.init(job_type="compat") as run:
        run.log_artifact(art)
    return art.wait()


def test_add_one_file(artifact: asyncart.Artifact) -> None:
    """Mirrors test_wandb_artifacts.py::test_add_one_file: a draft has a manifest and a digest."""
    Path("file1.txt").write_text("hello")
    entry = artifact.add_file("file1.txt")
    assert (entry.path, entry.size, entry.ref) == ("file1.txt", 5, None)
    assert contents(artifact) == {"file1.txt": (5, None)}
    draft_digest = artifact.digest
    assert len(draft_digest) == 64
    assert artifact.manifest.entries["file1.txt"].digest == entry.digest
    assert logged(artifact).digest == draft_digest  # the digest the version gets


def test_add_named_file(artifact: asyncart.Artifact) -> None:
    """Mirrors test_wandb_artifacts.py::test_add_named_file."""
    Path("file1.txt").write_text("hello")
    plain = asyncart.Artifact("plain", type="dataset")
    plain.add_file("file1.txt")
    artifact.add_file("file1.txt", name="great-file.txt")
    assert contents(artifact) == {"great-file.txt": (5, None)}
    assert artifact.digest != plain.digest  # the path is part of the digest
    same_bytes = plain.manifest.entries["file1.txt"].digest
    assert artifact.manifest.entries["great-file.txt"].digest == same_bytes


def test_add_new_file(artifact: asyncart.Artifact) -> None:
    """Mirrors test_wandb_artifacts.py::test_add_new_file: same bytes, same digest as add_file."""
    with artifact.new_file("file1.txt") as f:
        f.write("hello")
    Path("file1.txt").write_text("hello")
    other = asyncart.Artifact("other", type="dataset")
    other.add_file("file1.txt")
    assert contents(artifact) == {"file1.txt": (5, None)}
    assert artifact.digest == other.digest


def test_add_new_file_encode_error(artifact: asyncart.Artifact) -> None:
    """Mirrors test_wandb_artifacts.py::test_add_new_file_encode_error: nothing is added."""
    with (
        pytest.raises(UnicodeEncodeError),
        artifact.new_file("wave.txt", mode="w", encoding="ascii") as f,
    ):
        f.write("∂²u/∂t²=c²·∂²u/∂x²")
    assert artifact.manifest.entries == {}


@pytest.mark.parametrize("overwrite", [True, False])
def test_add_file_again_after_edit(overwrite: bool, artifact: asyncart.Artifact) -> None:
    """Mirrors test_wandb_artifacts.py::test_add_file_again_after_edit."""
    path = Path("file1.txt")
    path.write_text("hello")
    artifact.add_file(str(path), overwrite=overwrite)
    artifact.add_file(str(path), overwrite=overwrite)  # unchanged: a no-op either way
    path.write_text("Potato")
    if overwrite:
        artifact.add_file(str(path), overwrite=True)
        assert contents(artifact) == {"file1.txt": (6, None)}
    else:
        with pytest.raises(ValueError, match="already has an entry"):
            artifact.add_file(str(path))
        assert contents(artifact) == {"file1.txt": (5, None)}


def test_add_file_same_bytes_from_another_file_is_a_no_op(artifact: asyncart.Artifact) -> None:
    """Mirrors W&B's ArtifactManifest.add_entry (artifact_manifest.py): only a different
    digest under the same path raises; the same bytes from another file are accepted."""
    Path("a.txt").write_text("same")
    Path("b.txt").write_text("same")
    first = artifact.add_file("a.txt", name="x.txt")
    again = artifact.add_file("b.txt", name="x.txt")
    assert again.digest == first.digest
    assert len(artifact.manifest) == 1


def test_add_dir(artifact: asyncart.Artifact) -> None:
    """Mirrors test_wandb_artifacts.py::test_add_dir: the same digest as adding the file."""
    Path("d").mkdir()
    Path("d/file1.txt").write_text("hello")
    single = asyncart.Artifact("single", type="dataset")
    single.add_file("d/file1.txt")
    artifact.add_dir("d")
    assert contents(artifact) == {"file1.txt": (5, None)}
    assert artifact.digest == single.digest


def test_add_named_dir(artifact: asyncart.Artifact) -> None:
    """Mirrors test_wandb_artifacts.py::test_add_named_dir."""
    Path("d").mkdir()
    Path("d/file1.txt").write_text("hello")
    artifact.add_dir("d", name="subdir")
    assert contents(artifact) == {"subdir/file1.txt": (5, None)}


@pytest.mark.parametrize("merge", [True, False])
def test_add_dir_again_after_edit(merge: bool, artifact: asyncart.Artifact) -> None:
    """Mirrors test_wandb_artifacts.py::test_add_dir_again_after_edit."""
    root = Path("test-dir")
    root.mkdir()
    changed, unchanged = root / "file1.txt", root / "file2.txt"
    changed.write_text("will be updated")
    unchanged.write_text("something never changes")
    artifact.add_dir(str(root))
    changed.write_text("this is the update")
    if merge:
        artifact.add_dir(root, merge=True)
        assert contents(artifact)["file1.txt"] == (len("this is the update"), None)
    else:
        with pytest.raises(ValueError, match="merge=True"):
            artifact.add_dir(root)
    assert len(artifact.manifest.entries) == 2
    # The file gone from the directory: the entries added before stay (their snapshots).
    changed.unlink()
    artifact.add_dir(root, merge=merge)
    assert len(artifact.manifest.entries) == 2


def test_multi_add(artifact: asyncart.Artifact) -> None:
    """Mirrors test_wandb_artifacts.py::test_multi_add: eight threads, one entry."""
    Path("data.bin").write_bytes(b"\0" * 1024)
    workers = 8
    start = threading.Barrier(workers)

    def add() -> str:
        start.wait(timeout=10)
        return artifact.add_file("data.bin").path

    with ThreadPoolExecutor(max_workers=workers) as pool:
        paths = list(pool.map(lambda _: add(), range(workers)))
    assert paths == ["data.bin"] * workers
    assert contents(artifact) == {"data.bin": (1024, None)}


def test_add_reference_local_file(tmp_path: Path, artifact: asyncart.Artifact) -> None:
    """Mirrors test_wandb_artifacts.py::test_add_reference_local_file."""
    file = tmp_path / "file1.txt"
    file.write_text("hello")
    uri = file.as_uri()
    entries = artifact.add_reference(uri)
    assert [e.ref_target() for e in entries] == [uri]
    assert contents(artifact) == {"file1.txt": (5, uri)}
    Path("file1.txt").write_text("hello")
    uploaded = asyncart.Artifact("uploaded", type="dataset")
    uploaded.add_file("file1.txt")
    assert artifact.digest == uploaded.digest  # a checksummed reference: its bytes' digest


def test_add_reference_local_file_no_checksum(tmp_path: Path, artifact: asyncart.Artifact) -> None:
    """Mirrors test_wandb_artifacts.py::test_add_reference_local_file_no_checksum."""
    file = tmp_path / "file1.txt"
    file.write_text("hello")
    uri = file.as_uri()
    checked = asyncart.Artifact("checked", type="dataset")
    checked.add_reference(uri)
    (entry,) = artifact.add_reference(uri, checksum=False)
    assert contents(artifact) == {"file1.txt": (5, uri)}
    assert len(artifact.digest) == 64
    assert entry.digest != checked.manifest.entries["file1.txt"].digest  # of the URI, not bytes
    file.write_text("changed")
    assert artifact.manifest.entries["file1.txt"].digest == entry.digest  # never reads it


@pytest.mark.parametrize(
    ("same_uri", "same_data", "new_version"),
    [
        pytest.param(True, True, False, id="same_uri_and_same_data_creates_no_new_version"),
        pytest.param(True, False, False, id="same_uri_and_new_data_creates_no_new_version"),
        pytest.param(False, True, True, id="new_uri_and_same_data_creates_new_version"),
        pytest.param(False, False, True, id="new_uri_and_new_data_creates_new_version"),
    ],
)
def test_add_reference_local_file_no_checksum_twice(
    tmp_path: Path, same_uri: bool, same_data: bool, new_version: bool
) -> None:
    """Mirrors test_wandb_artifacts.py::TestAddReferenceLocalFileNoChecksumTwice (4 tests)."""
    orig = tmp_path / "orig" / "file1.txt"
    orig.parent.mkdir()
    orig.write_text("hello")
    first = asyncart.Artifact("refs", type="dataset")
    first.add_reference(orig.as_uri(), checksum=False)
    assert logged(first).version == "v0"
    target = orig if same_uri else tmp_path / "file2.txt"
    target.write_text("hello" if same_data else "goodbye")
    second = asyncart.Artifact("refs", type="dataset")
    second.add_reference(target.as_uri(), checksum=False)
    assert (logged(second).version != first.version) is new_version


def _tree() -> Path:
    Path("file1.txt").write_text("hello")
    Path("nest/nest").mkdir(parents=True)
    Path("nest/file2.txt").write_text("my")
    Path("nest/nest/file3.txt").write_text("dude")
    return Path.cwd()


def test_add_reference_local_dir(artifact: asyncart.Artifact) -> None:
    """Mirrors test_wandb_artifacts.py::test_add_reference_local_dir."""
    here = _tree()
    entries = artifact.add_reference(f"file://{here}")
    assert [e.path for e in entries] == ["file1.txt", "nest/file2.txt", "nest/nest/file3.txt"]
    assert contents(artifact) == {
        "file1.txt": (5, f"file://{here}/file1.txt"),
        "nest/file2.txt": (2, f"file://{here}/nest/file2.txt"),
        "nest/nest/file3.txt": (4, f"file://{here}/nest/nest/file3.txt"),
    }
    out = logged(artifact)
    assert out.digest == artifact.manifest.digest()


def test_add_reference_local_dir_no_checksum(artifact: asyncart.Artifact) -> None:
    """Mirrors test_wandb_artifacts.py::test_add_reference_local_dir_no_checksum."""
    here = _tree()
    checked = asyncart.Artifact("checked", type="dataset")
    checked.add_reference(here.as_uri())
    artifact.add_reference(here.as_uri(), checksum=False)
    assert contents(artifact) == contents(checked)
    assert contents(artifact)["nest/nest/file3.txt"] == (4, (here / "nest/nest/file3.txt").as_uri())
    for path, entry in artifact.manifest.entries.items():
        assert entry.digest != checked.manifest.entries[path].digest
    assert artifact.digest != checked.digest


def test_add_reference_local_dir_with_name(artifact: asyncart.Artifact) -> None:
    """Mirrors test_wandb_artifacts.py::test_add_reference_local_dir_with_name."""
    here = _tree()
    artifact.add_reference(f"file://{here!s}", name="top")
    assert contents(artifact) == {
        "top/file1.txt": (5, f"file://{here}/file1.txt"),
        "top/nest/file2.txt": (2, f"file://{here}/nest/file2.txt"),
        "top/nest/nest/file3.txt": (4, f"file://{here}/nest/nest/file3.txt"),
    }


def test_add_reference_local_dir_by_uri(tmp_path: Path, artifact: asyncart.Artifact) -> None:
    """Mirrors test_wandb_artifacts.py::test_add_reference_local_dir_by_uri."""
    ugly = tmp_path / "i=D" / "has !@#$%^&[]()|',`~ awful taste in file names"
    ugly.mkdir(parents=True)
    file = ugly / "file.txt"
    file.write_text("sorry")
    artifact.add_reference(ugly.as_uri())
    assert contents(artifact) == {"file.txt": (5, file.as_uri())}
    (ugly / "sub dir").mkdir()
    (ugly / "sub dir" / "a b.txt").write_text("x")
    again = asyncart.Artifact("again", type="dataset")
    again.add_reference(ugly.as_uri())
    assert again.manifest.entries["sub dir/a b.txt"].ref == (ugly / "sub dir" / "a b.txt").as_uri()
    assert quote("sub dir") in str(again.manifest.entries["sub dir/a b.txt"].ref)


def test_add_reference_named_local_file(tmp_path: Path, artifact: asyncart.Artifact) -> None:
    """Mirrors test_wandb_artifacts.py::test_add_reference_named_local_file."""
    file = tmp_path / "file1.txt"
    file.write_text("hello")
    artifact.add_reference(file.as_uri(), name="great-file.txt")
    assert contents(artifact) == {"great-file.txt": (5, file.as_uri())}


def test_add_reference_max_objects(artifact: asyncart.Artifact) -> None:
    """Mirrors W&B's local file handler (storage_handlers/local_file_handler.py): a directory
    holding more than ``max_objects`` files raises ValueError, and nothing is added."""
    here = _tree()
    with pytest.raises(ValueError, match="max_objects"):
        artifact.add_reference(here.as_uri(), max_objects=2)
    assert artifact.manifest.entries == {}
    assert len(artifact.add_reference(here.as_uri(), max_objects=3)) == 3


def test_add_reference_needs_a_uri(artifact: asyncart.Artifact) -> None:
    """Mirrors Artifact.add_reference (artifact.py): a bare path is refused with ValueError."""
    Path("file1.txt").write_text("hello")
    with pytest.raises(ValueError, match="file://"):
        artifact.add_reference("file1.txt")


def test_add_reference_unknown_scheme_is_refused(artifact: asyncart.Artifact) -> None:
    """Differs from test_wandb_artifacts.py::test_add_reference_unknown_handler: W&B records
    any other scheme by URI only; asyncart refuses it (s3:// is a later slice)."""
    with pytest.raises(asyncart.ConfigError, match="only file://, http"):
        artifact.add_reference("ref://example.com/somefile.txt", name="ref")


@pytest.mark.parametrize("name_type", NAME_TYPES)
def test_remove_file(name_type: type, artifact: asyncart.Artifact) -> None:
    """Mirrors test_wandb_artifacts.py::test_remove_file."""
    Path("file1.txt").write_text("hello")
    Path("file2.txt").write_text("hello")
    artifact.add_file(Path("file1.txt"))
    artifact.add_file(Path("file2.txt"), name="renamed.txt")
    artifact.remove(name_type("file1.txt"))
    artifact.remove(name_type("renamed.txt"))
    assert artifact.manifest.entries == {}


@pytest.mark.parametrize("name_type", NAME_TYPES)
def test_remove_directory(name_type: type, artifact: asyncart.Artifact) -> None:
    """Mirrors test_wandb_artifacts.py::test_remove_directory."""
    Path("bar/foo").mkdir(parents=True)
    Path("bar/foo/file1.txt").write_text("hello")
    Path("bar/foo/file2.txt").write_text("hello2")
    artifact.add_dir("bar")
    assert len(artifact.manifest.entries) == 2
    artifact.remove(name_type("foo"))
    assert artifact.manifest.entries == {}


def test_remove_non_existent(artifact: asyncart.Artifact) -> None:
    """Mirrors test_wandb_artifacts.py::test_remove_non_existent."""
    Path("baz/foo").mkdir(parents=True)
    Path("baz/foo/file1.txt").write_text("hello")
    artifact.add_dir("baz")
    with pytest.raises(FileNotFoundError):
        artifact.remove("file1.txt")
    with pytest.raises(FileNotFoundError):
        artifact.remove("bar/")
    with pytest.raises(asyncart.AsyncartError):  # and still in asyncart's own tree
        artifact.remove("bar")
    assert len(artifact.manifest.entries) == 1


def test_remove_manifest_entry(artifact: asyncart.Artifact) -> None:
    """Mirrors test_wandb_artifacts.py::test_remove_manifest_entry."""
    entry = artifact.add_reference(Path(__file__).as_uri())[0]
    artifact.remove(entry)
    assert artifact.manifest.entries == {}


@pytest.mark.parametrize("name_type", NAME_TYPES)
def test_entry_names_accept_path_objects(name_type: type, artifact: asyncart.Artifact) -> None:
    """Mirrors test_wandb_artifacts.py::test_remove_file's name types, for adding: a Windows
    path becomes its POSIX form."""
    Path("f.txt").write_text("x")
    artifact.add_file("f.txt", name=name_type("sub/f.txt") if name_type is not str else "sub/f.txt")
    artifact.add_file("f.txt", name=PureWindowsPath(r"win\g.txt"))
    with artifact.new_file(name_type("new/n.txt")) as f:
        f.write("n")
    assert sorted(artifact.manifest.entries) == ["new/n.txt", "sub/f.txt", "win/g.txt"]


def test_artifact_manifest_length() -> None:
    """Mirrors tests/unit_tests/test_artifacts/test_wandb_artifacts.py::
    test_artifact_manifest_length."""
    artifact = asyncart.Artifact("test-artifact", "test-type")
    assert len(artifact.manifest) == 0
    with artifact.new_file("test.txt") as f:
        f.write("test")
    assert len(artifact.manifest) == 1
    Path("test.txt").write_text("also a test")
    artifact.add_reference(Path("test.txt").resolve().as_uri(), "test2.txt")
    assert len(artifact.manifest) == 2


def test_new_file_accepts_nested_relative_path() -> None:
    """Mirrors tests/unit_tests/test_artifacts/test_wandb_artifacts.py::
    test_new_file_accepts_nested_relative_path."""
    artifact = asyncart.Artifact("test-artifact", "test-type")
    with artifact.new_file("nested/test.txt", "w") as f:
        f.write("test")
    assert list(artifact.manifest.entries) == ["nested/test.txt"]
    assert artifact.manifest.entries["nested/test.txt"].size == 4


def test_new_file_mode_x_refuses_an_existing_name_and_w_replaces_it() -> None:
    """Mirrors Artifact.new_file (artifact.py): mode 'x' (the default) refuses a name taken,
    'w' overwrites it."""
    artifact = asyncart.Artifact("test-artifact", "test-type")
    with artifact.new_file("a.txt") as f:
        f.write("one")
    with pytest.raises(ValueError, match="already has an entry"), artifact.new_file("a.txt") as f:
        f.write("two")
    with artifact.new_file("a.txt", mode="w") as f:
        f.write("three")
    assert contents(artifact) == {"a.txt": (5, None)}
    out = logged(artifact).get_entry("a.txt").download("out")
    assert Path(out).read_text() == "three"


@pytest.mark.parametrize("invalid_name", ["../test.txt", "/test.txt", r"C:\test.txt"])
def test_add_file_rejects_invalid_artifact_path(tmp_path: Path, invalid_name: str) -> None:
    """Mirrors tests/unit_tests/test_artifacts/test_wandb_artifacts.py::
    test_add_file_rejects_invalid_artifact_path and
    ::test_new_file_rejects_invalid_artifact_path."""
    artifact = asyncart.Artifact("test-artifact", "test-type")
    (tmp_path / "test.txt").write_text("hello")
    with pytest.raises(ValueError):
        artifact.add_file(str(tmp_path / "test.txt"), name=invalid_name)
    with pytest.raises(ValueError), artifact.new_file(invalid_name, "w") as f:
        f.write("test")
    assert artifact.manifest.entries == {}


def test_add_file_is_tmp_names_the_file_by_its_digest(artifact: asyncart.Artifact) -> None:
    """Mirrors Artifact.add_file(is_tmp=True) (artifact.py): the stem becomes the content's
    digest, so files of different bytes never collide."""
    Path("table.json").write_text("{}")
    entry = artifact.add_file("table.json", name="media/table.json", is_tmp=True)
    stem, ext = entry.path.removeprefix("media/").split(".")
    assert (len(stem), ext) == (20, "json")
    assert entry.digest.startswith(stem)


def test_add_file_skip_cache_and_policy_are_accepted(artifact: asyncart.Artifact) -> None:
    """Mirrors test_wandb_artifacts_full.py::test_immutable_uploads_with_cache_disabled:
    the keywords W&B takes, an unknown policy refused with ValueError."""
    Path("f.txt").write_text("x")
    entry = artifact.add_file("f.txt", skip_cache=True, policy="immutable")
    assert entry.skip_cache
    artifact.add_dir(".", name="d", skip_cache=True, policy="mutable")
    with pytest.raises(ValueError, match="policy"):
        artifact.add_file("f.txt", name="g.txt", policy="sometimes")


def test_edit_after_add() -> None:
    """Mirrors test_wandb_artifacts_full.py::test_edit_after_add."""
    artifact = asyncart.Artifact(name="hi-art", type="dataset")
    Path("file1.txt").write_text("hello!")
    artifact.add_file("file1.txt")
    Path("file1.txt").write_text("goodbye.")
    logged(artifact)
    with asyncart.init(job_type="read") as run:
        art_path = run.use_artifact("hi-art:latest").download()
    assert Path(art_path, "file1.txt").read_text() == "hello!"
    assert Path("file1.txt").read_text() == "goodbye."


def test_remove_after_log() -> None:
    """Mirrors test_wandb_artifacts_full.py::test_remove_after_log (W&B raises
    ArtifactFinalizedError; asyncart a ConfigError)."""
    artifact = asyncart.Artifact(name="hi-art", type="dataset")
    artifact.add_reference(Path(__file__).as_uri())
    logged(artifact)
    retrieved = asyncart.Api().artifact("hi-art:latest")
    with pytest.raises(asyncart.ConfigError, match="already stored"):
        retrieved.remove("file1.txt")
    with pytest.raises(asyncart.ConfigError, match="already stored"):
        artifact.add_file(__file__)


async def test_async_face_adds_as_the_sync_one() -> None:
    """Mirrors test_wandb_artifacts.py::test_add_one_file and ::test_remove_file through
    asyncart.aio: the same draft logic (one core), the same digest."""
    from asyncart import aio

    Path("file1.txt").write_text("hello")
    sync = asyncart.Artifact("a", type="dataset")
    sync.add_file("file1.txt")
    art = aio.Artifact("a", type="dataset")
    entry = art.add_file(Path("file1.txt"))
    art.add_file("file1.txt")  # the same bytes: a no-op
    (ref,) = art.add_reference(Path("file1.txt").resolve().as_uri(), name="r.txt")
    art.remove(ref)
    assert list(art.manifest.entries) == ["file1.txt"]
    assert entry.digest == sync.manifest.entries["file1.txt"].digest
    async with await aio.init(job_type="compat") as run:
        await run.log_artifact(art)
    assert art.digest == sync.digest
