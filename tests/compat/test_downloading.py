"""Downloading a logged version, as W&B's tests define it: ``download`` (an absolute
path; ``path_prefix``; ``allow_missing_references``), ``checkout``, ``file``, ``verify``.

What crosses the wire (a download) runs against the embedded store and a server
(``store``); the rest uses the embedded store. Each test names the W&B test it mirrors.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath

import pytest

import asyncart
from asyncart import aio

P = "tests/system_tests/test_artifacts/test_artifact_public_api.py"
FULL = "tests/system_tests/test_artifacts/test_wandb_artifacts_full.py"


def log_mnist(extra: dict[str, bytes] | None = None) -> None:
    """W&B's ``sample_data``, in short: ``mnist:v0`` holding ``digits.h5`` (and ``extra``)."""
    art = asyncart.Artifact("mnist", type="dataset")
    with art.new_file("digits.h5", mode="wb") as f:
        f.write(b"v0")
    for name, data in (extra or {}).items():
        with art.new_file(name, mode="wb") as f:
            f.write(data)
    with asyncart.init(job_type="sample") as run:
        run.log_artifact(art)


def test_artifact_download(store: str) -> None:
    """Mirrors test_artifact_public_api.py::test_artifact_download: the default root, as an
    absolute path."""
    log_mnist()
    art = asyncart.Api().artifact("mnist:v0", type="dataset")
    path = art.download()
    assert path == os.path.abspath(os.path.join(".", "artifacts", "mnist:v0"))
    assert os.listdir(path) == ["digits.h5"]


async def test_async_download_returns_an_absolute_path(store: str) -> None:
    """Mirrors test_artifact_public_api.py::test_artifact_download, through asyncart.aio."""
    log_mnist()
    async with aio.Api() as api:
        art = await api.artifact("mnist:v0")
        path = await art.download("out")
        assert path == os.path.abspath("out")
        assert await art.file("single") == os.path.abspath("single/digits.h5")
        await art.verify("out")
        Path("out", "stray.txt").write_text("stray")
        assert await art.checkout("out") == path
    assert os.listdir("out") == ["digits.h5"]


def test_download_with_pathlib_root() -> None:
    """Mirrors test_wandb_artifacts.py::test_download_with_pathlib_root: a Path root."""
    log_mnist()
    art = asyncart.Api().artifact("mnist:v0")
    path = art.download(Path("some/relative/path"))
    assert Path(path).parts[-3:] == ("some", "relative", "path")
    assert Path(path).is_absolute()


def test_log_and_download_with_path_prefix() -> None:
    """Mirrors test_wandb_artifacts_full.py::test_log_and_download_with_path_prefix: a plain
    prefix of the entry path ('some-prefix' also takes 'some-prefix-two.txt')."""
    art = asyncart.Artifact("test-artifact", type="dataset")
    for name in ("some-prefix/one.txt", "some-prefix-two.txt", "other-thing.txt"):
        with art.new_file(name) as f:
            f.write(f"Content of {name}")
    with asyncart.init(job_type="t") as run:
        run.log_artifact(art)
    logged = asyncart.Api().artifact("test-artifact:latest")

    got = Path(logged.download(path_prefix="some-prefix"))
    assert (got / "some-prefix" / "one.txt").is_file()
    assert (got / "some-prefix-two.txt").is_file()
    assert not (got / "other-thing.txt").exists()
    shutil.rmtree(got)

    got = Path(logged.download(path_prefix=PurePosixPath("some-prefix/")))
    assert (got / "some-prefix" / "one.txt").is_file()
    assert (got / "some-prefix-two.txt").is_file()  # a path object loses its slash
    shutil.rmtree(got)

    got = Path(logged.download(path_prefix="some-prefix/"))
    assert (got / "some-prefix" / "one.txt").is_file()
    assert not (got / "some-prefix-two.txt").exists()
    shutil.rmtree(got)

    got = Path(logged.download(path_prefix=""))
    assert sorted(p.name for p in got.rglob("*.txt")) == [
        "one.txt",
        "other-thing.txt",
        "some-prefix-two.txt",
    ]


def test_artifact_checkout() -> None:
    """Mirrors test_artifact_public_api.py::test_artifact_checkout: files that are not
    entries go, then the version comes; the default root has no version."""
    log_mnist()
    os.makedirs(os.path.join(".", "artifacts", "mnist", "sub"))
    Path("artifacts/mnist/bogus").write_text("delete me, i'm a bogus file")
    Path("artifacts/mnist/sub/deeper").write_text("me too")
    Path("artifacts/mnist/digits.h5").write_text("stale")
    art = asyncart.Api().artifact("mnist:v0", type="dataset")
    path = art.checkout()
    assert path == os.path.abspath(os.path.join(".", "artifacts", "mnist"))
    assert sorted(p.name for p in Path(path).rglob("*") if p.is_file()) == ["digits.h5"]
    assert Path(path, "digits.h5").read_bytes() == b"v0"


def test_artifact_file() -> None:
    """Mirrors test_artifact_public_api.py::test_artifact_file (asyncart: the absolute path
    of the same file; W&B returns it relative to the working directory)."""
    log_mnist()
    art = asyncart.Api().artifact("mnist:v0", type="dataset")
    path = art.file()
    assert path == os.path.abspath(os.path.join(".", "artifacts", "mnist:v0", "digits.h5"))
    assert Path(path).read_bytes() == b"v0"


def test_file_of_an_artifact_of_several_files_is_a_value_error() -> None:
    """Mirrors Artifact.file (artifact.py): ValueError when there is more than one file."""
    log_mnist({"other.h5": b"other"})
    art = asyncart.Api().artifact("mnist:v0")
    with pytest.raises(ValueError, match="get_entry"):
        art.file()


def test_artifact_verify() -> None:
    """Mirrors test_artifact_public_api.py::test_artifact_verify: download, then verify the
    default root."""
    log_mnist()
    art = asyncart.Api().artifact("mnist:v0", type="dataset")
    art.download()
    art.verify()


@pytest.mark.parametrize("damage", ["extra", "missing", "different"])
def test_verify_fails_with_a_value_error(damage: str) -> None:
    """Mirrors Artifact.verify (artifact.py): ValueError for a file that is not an entry, or
    whose bytes differ (asyncart: a missing file too); asyncart.VerificationFailed."""
    log_mnist({"sub/more.h5": b"more"})
    art = asyncart.Api().artifact("mnist:v0")
    root = Path(art.download("out"))
    if damage == "extra":
        (root / "sub" / "stray.txt").write_text("not in the artifact")
    elif damage == "missing":
        (root / "sub" / "more.h5").unlink()
    else:
        (root / "digits.h5").write_bytes(b"v1")
    with pytest.raises(ValueError) as caught:
        art.verify("out")
    assert isinstance(caught.value, asyncart.VerificationFailed)
    assert isinstance(caught.value, asyncart.IntegrityError)
    assert {"extra": "stray.txt", "missing": "more.h5", "different": "digits.h5"}[damage] in str(
        caught.value
    )


def test_download_allow_missing_references(capsys: pytest.CaptureFixture[str]) -> None:
    """Mirrors Artifact._download (artifact.py): a reference whose file is gone raises
    FileNotFoundError, unless allow_missing_references=True skips it with a warning."""
    Path("kept.txt").write_text("kept")
    Path("gone.txt").write_text("gone")
    art = asyncart.Artifact("refs", type="dataset")
    art.add_reference(Path("kept.txt").absolute().as_uri())
    art.add_reference(Path("gone.txt").absolute().as_uri())
    with asyncart.init(job_type="t") as run:
        run.log_artifact(art)
    os.unlink("gone.txt")
    logged = asyncart.Api().artifact("refs:latest")
    with pytest.raises(FileNotFoundError, match=r"gone\.txt"):
        logged.download("strict")
    path = logged.download("lenient", allow_missing_references=True)
    assert os.listdir(path) == ["kept.txt"]
    assert "gone.txt" in capsys.readouterr().err


def test_download_accepts_skip_cache_and_multipart() -> None:
    """Mirrors test_wandb_artifacts_full.py::test_download_respects_skip_cache: the W&B
    arguments are taken (asyncart keeps no download cache to skip)."""
    log_mnist()
    art = asyncart.Api().artifact("mnist:v0")
    path = art.download("out", skip_cache=True, multipart=False)
    assert Path(path, "digits.h5").read_bytes() == b"v0"


def test_draft_cannot_be_downloaded() -> None:
    """Mirrors test_wandb_artifacts.py::test_unlogged_artifact_other_method_errors for
    download/checkout/file/verify: a draft has nothing stored to get."""
    art = asyncart.Artifact("draft", type="dataset")
    for method in (art.download, art.checkout, art.file, art.verify):
        with pytest.raises(asyncart.ConfigError, match="not been logged"):
            method()


def test_check_existing_artifact_before_download() -> None:
    """Mirrors test_wandb_artifacts_full.py::test_check_existing_artifact_before_download:
    files already in place and right are left there, nothing fetched."""
    log_mnist()
    art = asyncart.Api().artifact("mnist:latest")
    path = Path(art.download())
    again = asyncart.Api().artifact("mnist:latest")
    assert Path(again.download()) == path
    assert again.last_transfer is not None
    assert (again.last_transfer.bytes_downloaded, again.last_transfer.files_skipped) == (0, 1)
    assert (path / "digits.h5").read_bytes() == b"v0"


def test_check_changed_artifact_then_download() -> None:
    """Mirrors test_wandb_artifacts_full.py::test_check_changed_artifact_then_download: a
    file changed in place is replaced by the version's bytes."""
    log_mnist()
    path = Path(asyncart.Api().artifact("mnist:latest").download())
    (path / "digits.h5").write_text("goodbye")
    assert Path(asyncart.Api().artifact("mnist:latest").download()) == path
    assert (path / "digits.h5").read_bytes() == b"v0"
