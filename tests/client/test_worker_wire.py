"""What crosses the pipe to the push worker comes back equal: settings, files, entries, errors."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from asyncart import errors
from asyncart.client.progress import TransferStats
from asyncart.client.publish import Publication, Reference
from asyncart.client.scan import FileIdentity
from asyncart.client.upload import SourceFile
from asyncart.client.worker_wire import (
    decode,
    encode,
    error_from_json,
    error_to_json,
    file_from_json,
    file_to_json,
    publication_from_json,
    publication_to_json,
    settings_from_json,
    settings_to_json,
    stats_into,
    stats_to_json,
)
from asyncart.config import Settings
from asyncart.core.chunking import ChunkerSpec
from asyncart.core.manifest import ChunkRef, ManifestEntry


def _roundtrip(message: dict) -> dict:  # type: ignore[type-arg]
    return decode(encode(message))


def test_settings_come_back_equal(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not checked here")
    settings = Settings(
        url="https://store.example:8443",
        store_dir=tmp_path / "store",
        cache_dir=tmp_path / "cache",
        chunker=ChunkerSpec.fixed(1 << 20),
        ca_bundle=bundle,
        api_key="acart_secret",
        lock_timeout=3.5,
        push_worker="always",
        max_concurrency=32,
    )
    assert settings_from_json(_roundtrip({"s": settings_to_json(settings)})["s"]) == settings
    assert settings_from_json(settings_to_json(Settings())) == Settings()


def test_files_and_publications_come_back_equal() -> None:
    source = SourceFile("dir/ckpt.pt", Path("/data/ckpt.pt"), FileIdentity(10, 1, 2, 3))
    assert file_from_json(_roundtrip({"f": file_to_json(source)})["f"]) == source
    pub = Publication(
        project="proj",
        name="model",
        type="model",
        files=(source,),
        references=(
            Reference("ref.csv", "file:///d/ref.csv", Path("/d/ref.csv"), FileIdentity(1, 2, 3, 4)),
            Reference("u.csv", "file:///u.csv", Path("/u.csv"), FileIdentity(1, 2, 3, 5), False),
            # an http(s)/s3 reference: its digest known when added
            Reference(
                "w.bin",
                "https://h/w.bin",
                Path("/dev/null"),
                FileIdentity(9, 0, 0, 0),
                True,
                "ab" * 32,
            ),
        ),
        aliases=("best",),
        metadata={"step": 10, "nested": {"a": [1, 2]}},
        description="a checkpoint",
        run_id="run-1",
        kept=(  # entries of the version a new_draft() came from
            ManifestEntry.for_file("old.bin", 3, "ab" * 32, [ChunkRef("cd" * 32, 3)]),
            ManifestEntry(path="r.txt", size=1, digest="ef" * 32, ref="file:///r.txt"),
        ),
    )
    assert publication_from_json(_roundtrip({"p": publication_to_json(pub)})["p"]) == pub


def test_stats_add_up_as_a_retried_push_does() -> None:
    worker = TransferStats()
    worker.bytes_uploaded, worker.packs_uploaded, worker.concurrency = 100, 2, 4
    worker.concurrency_levels = [(4, 1e6)]
    mine = TransferStats()
    mine.bytes_uploaded = 5
    stats_into(mine, _roundtrip({"s": stats_to_json(worker)})["s"])
    assert (mine.bytes_uploaded, mine.packs_uploaded, mine.concurrency) == (105, 2, 4)
    assert mine.concurrency_levels == [(4, 1e6)]


@pytest.mark.parametrize(
    "exc",
    [
        errors.FileChangedError("file 'ckpt.pt' changed while it was read"),
        errors.ConfigError("bad"),
        errors.ServiceUnavailable("busy", status=503, code="overloaded", retry_after=2.0),
        errors.AuthError("key refused", status=401, code="unauthorized", request_id="r1"),
        errors.DiskFullError("no room"),
        errors.PushWorkerError("gone"),
        OSError(errno.ENOENT, "No such file or directory", "/x"),
        ValueError("plain"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_come_back_as_their_own_class(exc: BaseException) -> None:
    back = error_from_json(_roundtrip({"e": error_to_json(exc)})["e"])
    assert type(back) is type(exc)
    assert str(back) == str(exc) and back.args == exc.args
    assert vars(back) == vars(exc)
    if isinstance(exc, OSError):
        assert (back.errno, back.filename) == (exc.errno, exc.filename)


def test_a_retry_keeps_its_cause() -> None:
    cause = errors.ServiceUnavailable("busy", status=503)
    exc = errors.RetriesExhausted("gave up after 3 attempts", attempts=3, last_exception=cause)
    back = error_from_json(_roundtrip({"e": error_to_json(exc)})["e"])
    assert isinstance(back, errors.RetriesExhausted) and back.attempts == 3
    assert isinstance(back.last_exception, errors.ServiceUnavailable)
    assert back.last_exception.status == 503


def test_a_foreign_error_becomes_an_asyncart_error_naming_it() -> None:
    class Odd(Exception):
        pass

    back = error_from_json(error_to_json(Odd("strange")))
    assert type(back) is errors.AsyncartError
    assert "Odd: strange" in str(back)


@pytest.mark.parametrize("line", [b"not json\n", b"[1, 2]\n"])
def test_a_malformed_line_is_a_protocol_error(line: bytes) -> None:
    with pytest.raises(errors.ProtocolError, match="push worker sent"):
        decode(line)
