"""``http(s)://`` references, as W&B's HTTP storage handler records and loads them: the
ETag and size when added, the bytes fetched when downloaded and held to that ETag.

Against a real web server on 127.0.0.1 (``tests/support/web_files.py``); the download
crosses the store too, so the main test runs on both stores (``store``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import asyncart
from tests.support.web_files import serving_files

STAR_WARS = b"RIFF" + bytes(range(256)) * 40


def log_reference(url: str, **kwargs: object) -> asyncart.Artifact:
    Path("file1.txt").write_text("hello")
    art = asyncart.Artifact("test_reference_download", "dataset")
    art.add_file("file1.txt")
    entries = art.add_reference(url, **kwargs)  # type: ignore[arg-type]
    assert len(entries) == 1
    with asyncart.init(job_type="t") as run:
        run.log_artifact(art)
    return asyncart.Api().artifact("test_reference_download:latest")


def test_reference_download(store: str) -> None:
    """Mirrors test_misc2.py::test_reference_download: a URL reference downloads, and
    ref_target() is the URL; a file entry's ref_target() is a ValueError."""
    with serving_files({"/StarWars3.wav": STAR_WARS}) as web:
        url = f"{web.url}/StarWars3.wav"
        artifact = log_reference(url)
        entry = artifact.get_entry("StarWars3.wav")
        assert (entry.size, entry.ref) == (len(STAR_WARS), url)
        path = entry.download()
        assert Path(path).read_bytes() == STAR_WARS
        assert entry.ref_target() == url
        with pytest.raises(ValueError):
            artifact.get_entry("file1.txt").ref_target()
        root = artifact.download("all")
        assert sorted(os.listdir(root)) == ["StarWars3.wav", "file1.txt"]
        artifact.verify("all")  # a URL's bytes are not verified (W&B skips references too)


def test_http_reference_is_recorded_by_etag_and_size() -> None:
    """Mirrors HTTPHandler.store_path / load_path (http_handler.py): the ETag is recorded,
    and a download of a URL whose ETag changed is refused (W&B: a ValueError)."""
    files = {"/data/model.bin": b"first bytes"}
    with serving_files(files) as web:
        url = f"{web.url}/data/model.bin"
        art = asyncart.Artifact("model", "model")
        (entry,) = art.add_reference(url, name="weights.bin")
        assert (entry.path, entry.size, entry.ref) == ("weights.bin", 11, url)
        first_digest = art.digest
        with asyncart.init(job_type="t") as run:
            run.log_artifact(art)
        files["/data/model.bin"] = b"other bytes"
        logged = asyncart.Api().artifact("model:latest")
        with pytest.raises(asyncart.IntegrityError, match="changed since it was logged"):
            logged.download("out")
        assert not Path("out/weights.bin").exists()
        again = asyncart.Artifact("model", "model")
        again.add_reference(url, name="weights.bin")
        assert again.digest != first_digest  # a new ETag: a new version


def test_http_reference_without_checksum_records_the_url_only() -> None:
    """Mirrors HTTPHandler.store_path with checksum=False: the URL alone (no request); the
    download takes what the URL serves then."""
    files = {"/live.txt": b"one"}
    with serving_files(files) as web:
        url = f"{web.url}/live.txt"
        art = asyncart.Artifact("live", "dataset")
        art.add_reference(url, checksum=False)
        assert web.requests == 0
        with asyncart.init(job_type="t") as run:
            run.log_artifact(art)
        files["/live.txt"] = b"two, changed"
        path = asyncart.Api().artifact("live:latest").get_entry("live.txt").download("out")
        assert Path(path).read_bytes() == b"two, changed"


def test_http_reference_without_an_etag_is_recorded_by_url() -> None:
    """Mirrors _HttpEntryInfo.from_response (http_handler.py): no ETag, the URL is the
    digest; the download takes what the URL serves."""
    files = {"/a.txt": b"plain"}
    with serving_files(files, etags=False) as web:
        art = asyncart.Artifact("plain", "dataset")
        art.add_reference(f"{web.url}/a.txt")
        with asyncart.init(job_type="t") as run:
            run.log_artifact(art)
        files["/a.txt"] = b"plain, again"
        root = asyncart.Api().artifact("plain:latest").download("out")
        assert Path(root, "a.txt").read_bytes() == b"plain, again"


def test_missing_url_reference(capsys: pytest.CaptureFixture[str]) -> None:
    """Mirrors Artifact._download: a reference that is gone (404) raises FileNotFoundError
    unless allow_missing_references=True; adding a missing URL fails at once."""
    files = {"/gone.bin": b"soon gone"}
    with serving_files(files) as web:
        artifact = log_reference(f"{web.url}/gone.bin")
        del files["/gone.bin"]
        with pytest.raises(FileNotFoundError, match="404"):
            artifact.download("strict")
        assert os.listdir(artifact.download("lenient", allow_missing_references=True)) == [
            "file1.txt"
        ]
        assert "gone.bin" in capsys.readouterr().err
        with pytest.raises(FileNotFoundError):
            asyncart.Artifact("x", "dataset").add_reference(f"{web.url}/never.bin")


async def test_async_face_logs_and_downloads_a_url_reference() -> None:
    """The same through asyncart.aio (add_reference asks the URL from the caller's thread,
    as on the sync face; the download fetches it in a worker thread)."""
    from asyncart import aio

    with serving_files({"/w.bin": b"weights"}) as web:
        async with await aio.init(job_type="t") as run:
            art = aio.Artifact("weights", "model")
            art.add_reference(f"{web.url}/w.bin")
            await run.log_artifact(art)
        async with aio.Api() as api:
            logged = await api.artifact("weights:latest")
            path = await logged.get_entry("w.bin").download("out")
    assert Path(path).read_bytes() == b"weights"
