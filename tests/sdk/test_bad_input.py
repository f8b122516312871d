"""Bad input: each gets a clear error naming what was wrong, and nothing stored changes."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

import asyncart
from asyncart import aio
from asyncart.client.progress import Progress


def _stored_versions(name: str) -> list[str]:
    try:
        return [v.version for v in asyncart.Api().artifact_versions(name)]
    except asyncart.ArtifactNotFound:
        return []


def _log(
    name: str, files: dict[str, bytes], aliases: list[str] | None = None, type: str = "dataset"
) -> asyncart.Artifact:
    art = asyncart.Artifact(name, type=type)
    for fname, data in files.items():
        Path(fname).write_bytes(data)
        art.add_file(fname)
    with asyncart.init(job_type="test") as run:
        run.log_artifact(art, aliases=aliases)
    return art


def test_missing_file_fails_at_add_file() -> None:
    art = asyncart.Artifact("ds", type="dataset")
    with pytest.raises(asyncart.ConfigError, match=r"does-not-exist\.bin.*does not exist"):
        art.add_file("does-not-exist.bin")
    os.symlink("nowhere", "dangling")
    with pytest.raises(asyncart.ConfigError, match="does not exist"):
        art.add_file("dangling")
    Path("adir").mkdir()
    with pytest.raises(asyncart.ConfigError, match="not a regular file"):
        art.add_file("adir")
    assert art.files() == []


def test_empty_artifact_is_refused_before_anything_is_stored() -> None:
    with asyncart.init(job_type="t") as run, pytest.raises(asyncart.ConfigError, match="empty"):
        run.log_artifact(asyncart.Artifact("nothing", type="dataset"))
    assert _stored_versions("nothing") == []


@pytest.mark.parametrize(
    "bad",
    ["a/b", "a:b", "tab\tname", "x" * 129, "", " lead", "trail ", "new\nline"],
)
def test_invalid_artifact_names(bad: str) -> None:
    with pytest.raises(asyncart.InvalidNameError):
        asyncart.Artifact(bad, type="dataset")


def test_invalid_references_and_aliases(store: str) -> None:
    _log("ds", {"a.txt": b"a"})
    with asyncart.init(job_type="t") as run:
        for bad in ("ds:v1:x", "p/q/r/ds", "ds:", "/ds"):  # p/q/ds: entity/project/name
            with pytest.raises(asyncart.InvalidNameError):
                run.use_artifact(bad)
        art = asyncart.Artifact("ds", type="dataset")
        Path("b.txt").write_bytes(b"b")
        art.add_file("b.txt")
        with pytest.raises(asyncart.InvalidNameError, match="version"):
            run.log_artifact(art, aliases=["v7"])
        with pytest.raises(asyncart.InvalidNameError):
            run.log_artifact(art, aliases=["bad/alias"])
    assert _stored_versions("ds") == ["v0"]


def test_unknown_artifact_version_and_alias_list_what_exists(store: str) -> None:
    _log("bike dataset", {"a.txt": b"1"}, aliases=["production"])
    _log("bike dataset", {"a.txt": b"2"})
    api = asyncart.Api()
    with pytest.raises(asyncart.ArtifactNotFound, match="bike dataset") as exc:
        api.artifact("bike datasets")
    assert "bike datasets" in str(exc.value)
    with pytest.raises(asyncart.VersionNotFound, match=r"v9.*v0, v1"):
        api.artifact("bike dataset:v9")
    with pytest.raises(asyncart.AliasNotFound, match=r"staging.*latest.*production"):
        api.artifact("bike dataset:staging")
    with pytest.raises(asyncart.NotFoundError):
        api.artifact("other-project/bike dataset")
    assert isinstance(asyncart.VersionNotFound("x"), LookupError)


def test_type_mismatch_on_use_and_on_log(store: str) -> None:
    _log("bike dataset", {"a.txt": b"1"})
    with asyncart.init(job_type="t") as run:
        with pytest.raises(asyncart.ConflictError, match="'dataset', not 'model'"):
            run.use_artifact(type="model", name="bike dataset:latest")
        art = asyncart.Artifact("bike dataset", type="model")
        Path("m.bin").write_bytes(b"m")
        art.add_file("m.bin")
        with pytest.raises(asyncart.ConflictError, match="dataset"):
            run.log_artifact(art, wait=True)
        art = asyncart.Artifact("bike dataset", type="model")
        art.add_file("m.bin")
        run.log_artifact(art)  # non-blocking: the error comes from wait()
        with pytest.raises(asyncart.ConflictError, match="dataset"):
            art.wait()
    assert _stored_versions("bike dataset") == ["v0"]
    assert [v.name for v in run.used_artifacts()] == []


def test_path_traversal_in_entry_names_is_refused() -> None:
    Path("f.txt").write_bytes(b"x")
    art = asyncart.Artifact("ds", type="dataset")
    for bad in ("../x", "a/../../x", "/etc/passwd", "C:\\x", "C:x", "a\\b", "nul\0byte"):
        with pytest.raises(asyncart.ConfigError):
            art.add_file("f.txt", name=bad)
    with pytest.raises(asyncart.ConfigError), art.new_file("../escape.txt") as f:
        f.write("no")
    assert art.files() == []
    assert not Path("../escape.txt").exists()


def test_duplicate_and_colliding_entries() -> None:
    Path("f.txt").write_bytes(b"x")
    Path("g.txt").write_bytes(b"y")
    art = asyncart.Artifact("ds", type="dataset")
    art.add_file("f.txt", name="dir/f.txt")
    art.add_file("f.txt", name="dir/f.txt")  # the same bytes again: a no-op (as W&B)
    with pytest.raises(asyncart.ConfigError, match="already has an entry"):
        art.add_file("g.txt", name="dir/f.txt")
    with pytest.raises(asyncart.ConfigError, match="collides"):
        art.add_file("f.txt", name="dir")
    art.remove("dir")
    assert art.files() == []
    with pytest.raises(FileNotFoundError, match="no entry"):  # asyncart.EntryNotFound
        art.remove("dir")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_server_names_the_url() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(asyncart.RetriesExhausted) as exc:
        asyncart.init(job_type="t", url=url)
    assert url in str(exc.value)
    assert isinstance(exc.value.last_exception, asyncart.ConnectError)
    assert exc.value.attempts == 3


class _RewriteDuringPush(Progress):
    """Appends to the file being pushed as soon as the first bytes are confirmed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fired = False

    def on_progress(self, nbytes: int) -> None:
        if not self.fired:
            self.fired = True
            with open(self.path, "ab") as f:
                f.write(b"torn")


async def test_file_rewritten_during_push_never_stores_a_torn_version(store: str) -> None:
    """Whatever the timing, the push fails with FileChangedError or stores exactly what was read."""
    path = Path("big.bin")
    original = os.urandom(48 << 20)  # several read blocks
    path.write_bytes(original)
    async with await aio.init(job_type="t") as run:
        art = aio.Artifact("ckpt", type="model")
        art.add_file(path)
        try:
            await run.log_artifact(art, progress=_RewriteDuringPush(path))
        except asyncart.FileChangedError as exc:
            assert "big.bin" in str(exc)
            async with aio.Api() as api:
                with pytest.raises(asyncart.ArtifactNotFound):
                    await api.artifact_versions("ckpt")
        else:
            out = await art.download("out")
            assert Path(out, "big.bin").read_bytes() == original


def test_file_changed_mid_read_is_detected(tmp_path: Path) -> None:
    """The scanner's own check: a file that changes between two blocks fails the read."""
    from asyncart.client.scan import block_buffer_size, open_scan, read_block, stat_source
    from asyncart.core.chunking import ChunkerSpec

    path = tmp_path / "growing.bin"
    path.write_bytes(os.urandom(3 << 20))
    spec = ChunkerSpec()
    scan = open_scan(path, stat_source(path), spec)
    buffer = bytearray(block_buffer_size(spec, 1 << 20))
    read_block(scan, buffer, 1 << 20)
    with open(path, "r+b") as f:
        f.seek(2 << 20)
        f.write(b"changed")
    with pytest.raises(asyncart.FileChangedError, match=r"growing\.bin"):
        while not scan.done:
            read_block(scan, buffer, 1 << 20)
    assert scan.fd == -1


def test_file_changed_between_add_and_log_is_detected_with_immutable_policy() -> None:
    path = Path("f.bin")
    path.write_bytes(b"a" * 1000)
    art = asyncart.Artifact("ds", type="dataset")
    art.add_file(path, policy="immutable")
    path.write_bytes(b"b" * 1001)
    with asyncart.init(job_type="t") as run, pytest.raises(asyncart.FileChangedError):
        run.log_artifact(art, wait=True)
    assert _stored_versions("ds") == []


def test_file_changed_between_add_and_log_keeps_the_added_bytes_by_default() -> None:
    path = Path("f.bin")
    path.write_bytes(b"a" * 1000)
    art = asyncart.Artifact("ds", type="dataset")
    art.add_file(path)  # policy='mutable': a snapshot of this moment
    path.write_bytes(b"b" * 1001)
    with asyncart.init(job_type="t") as run:
        run.log_artifact(art)
    assert art.version == "v0" and art.size == 1000
    out = asyncart.Api().artifact("ds:v0").download("out")
    assert Path(out, "f.bin").read_bytes() == b"a" * 1000


def test_unknown_policy_is_refused() -> None:
    Path("f.bin").write_bytes(b"a")
    with pytest.raises(asyncart.ConfigError, match="policy"):
        asyncart.Artifact("ds", type="dataset").add_file("f.bin", policy="sometimes")


def test_stored_artifacts_are_immutable() -> None:
    art = _log("ds", {"a.txt": b"a"})
    with pytest.raises(asyncart.ConfigError, match="already stored"):
        art.add_file("a.txt", name="again.txt")
    with (
        asyncart.init(job_type="t") as run,
        pytest.raises(asyncart.ConfigError, match="already stored"),
    ):
        run.log_artifact(art)


def test_download_before_logging_is_a_clear_error() -> None:
    art = asyncart.Artifact("ds", type="dataset")
    with pytest.raises(asyncart.ConfigError, match="not been logged"):
        art.download()
