"""References between artifacts (``asyncart-artifact://``), as W&B's artifact handler
records and loads them: a new version's entry points at an entry of another logged
version; no bytes are copied; a download fetches and verifies the source's bytes.

What crosses the wire runs against the embedded store and a server (``store``); the
trust boundary (a source the caller may not read) against a server with two projects
and keys. Each test names the W&B test it mirrors, or the behaviour it pins.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import asyncart
from asyncart import aio
from asyncart.client.references import ReferenceNotFound
from asyncart.errors import ConfigError, EntryNotFound
from asyncart.repo.access import Role
from tests.support.accounts import users_with_keys
from tests.support.live_server import live_server

ORIG_TEXT = "Luke, I am your Father!!!!!"
SUB_1 = "upstream/artifact/path/file.txt"
SUB_2 = "middle/artifact/path/file.txt"
SUB_3 = "downstream/artifact/path/file.txt"


def log_upstream() -> asyncart.Artifact:
    """W&B's first artifact: ``upstream_artifact`` holding the original file at SUB_1."""
    orig = Path("upstream/local/path/file.txt")
    orig.parent.mkdir(parents=True)
    orig.write_text(ORIG_TEXT)
    art = asyncart.Artifact("upstream_artifact", "database")
    art.add_file(orig, SUB_1)
    with asyncart.init(job_type="up") as run:
        run.log_artifact(art)
    art.wait()
    return art


def log_referring(name: str, source: str, path: str, sub: str, *, by_uri: bool) -> None:
    """Log ``name`` whose entry ``sub`` refers to ``path`` of ``source:latest`` (used by
    the run), by URI built from the used artifact's id, or by its entry."""
    with asyncart.init(job_type="refer") as run:
        used = run.use_artifact(f"{source}:latest")
        art = asyncart.Artifact(name, "database")
        if by_uri:
            art.add_reference(f"asyncart-artifact://{used.id}/{path}", sub)
        else:
            art.add_reference(used.get_entry(path), sub)
        run.log_artifact(art)
    art.wait()


def check_downstream() -> None:
    last = asyncart.Api().artifact("downstream_artifact:latest")
    entry = last.get_entry(SUB_3)
    upstream = asyncart.Api().artifact("upstream_artifact:v0")
    source = upstream.get_entry(SUB_1)
    # The chain is resolved when added: the reference names the upstream entry itself.
    assert entry.ref == f"asyncart-artifact://default/upstream_artifact:v0/{SUB_1}"
    assert (entry.size, entry.digest) == (source.size, source.digest)
    assert last.manifest.stored is not None and not last.manifest.stored.chunk_hashes()
    downloaded = last.download()
    assert (Path(downloaded) / SUB_3).read_text() == ORIG_TEXT
    assert downloaded == last.download()  # a second download finds it in place
    last.verify()


def test_artifact_add_reference_via_url(store: str) -> None:
    """Mirrors test_object_references.py::test_artifact_add_reference_via_url: a chain of
    three artifacts by ``asyncart-artifact://<id>/<path>`` URIs; the last downloads the
    first one's bytes."""
    log_upstream()
    log_referring("middle_artifact", "upstream_artifact", SUB_1, SUB_2, by_uri=True)
    log_referring("downstream_artifact", "middle_artifact", SUB_2, SUB_3, by_uri=True)
    check_downstream()


def test_add_reference_via_artifact_entry(store: str) -> None:
    """Mirrors test_object_references.py::test_add_reference_via_artifact_entry: the same
    chain, passing entries (``used.get_entry(path)``) instead of URIs."""
    log_upstream()
    log_referring("middle_artifact", "upstream_artifact", SUB_1, SUB_2, by_uri=False)
    log_referring("downstream_artifact", "middle_artifact", SUB_2, SUB_3, by_uri=False)
    check_downstream()


def test_wbartifact_handler_load_path_nonlocal(store: str) -> None:
    """Mirrors test_storage.py::test_wbartifact_handler_load_path_nonlocal: loaded without
    downloading, a reference entry gives its artifact URI (``ref_target()``), which is
    the source entry's ``ref_url()``; nothing is written."""
    up = log_upstream()
    log_referring("middle_artifact", "upstream_artifact", SUB_1, SUB_2, by_uri=False)
    entry = asyncart.Api().artifact("middle_artifact:v0").get_entry(SUB_2)
    assert entry.ref_target() == up.get_entry(SUB_1).ref_url()
    assert entry.ref_target().startswith("asyncart-artifact://")
    assert not Path("artifacts").exists()


def test_wbartifact_handler_load_path_local(store: str) -> None:
    """Mirrors test_storage.py::test_wbartifact_handler_load_path_local: loaded locally,
    a reference entry downloads to its own path in its own artifact's directory,
    holding the source's bytes."""
    log_upstream()
    log_referring("middle_artifact", "upstream_artifact", SUB_1, SUB_2, by_uri=True)
    entry = asyncart.Api().artifact("middle_artifact:v0").get_entry(SUB_2)
    local = entry.download()
    assert local == os.path.abspath(os.path.join("artifacts", "middle_artifact:v0", SUB_2))
    assert Path(local).read_text() == ORIG_TEXT


async def test_async_face_refers_and_downloads(store: str) -> None:
    """The async face: an ``asyncart.aio`` artifact refers to an entry (by entry, default
    name its last component) and to a URI (W&B's ``wandb-artifact://`` spelling)."""
    Path("a.txt").write_text("alpha")
    async with await aio.init(job_type="up") as run:
        src = aio.Artifact("src", "dataset")
        src.add_file("a.txt", "dir/a.txt")
        await run.log_artifact(src)
        await src.wait()
        ref = aio.Artifact("ref", "dataset")
        (by_entry,) = ref.add_reference(src.get_entry("dir/a.txt"))
        (by_uri,) = ref.add_reference(f"wandb-artifact://{src.id}/dir/a.txt", "copy.txt")
        assert (by_entry.path, by_uri.path) == ("a.txt", "copy.txt")
        assert by_entry.ref == by_uri.ref == "asyncart-artifact://default/src:v0/dir/a.txt"
        await run.log_artifact(ref)
        await ref.wait()
    stored = await aio.Api().artifact("ref:v0")
    root = Path(await stored.download())
    assert (root / "a.txt").read_text() == (root / "copy.txt").read_text() == "alpha"


def test_named_uri_is_read_from_the_store(store: str) -> None:
    """A URI in the stored form names a version no artifact object of this process
    holds: it is resolved by reading the source's manifest (a link's source is named)."""
    log_upstream()
    gc.collect()  # no artifact object of upstream_artifact left to resolve from
    art = asyncart.Artifact("by_name", "database")
    (entry,) = art.add_reference(f"asyncart-artifact://default/upstream_artifact:v0/{SUB_1}")
    assert (entry.path, entry.size) == ("file.txt", len(ORIG_TEXT))
    with asyncart.init(job_type="refer") as run:
        run.log_artifact(art)
    root = asyncart.Api().artifact("by_name:v0").download()
    assert (Path(root) / "file.txt").read_text() == ORIG_TEXT


def test_id_uri_is_resolved_by_the_store(store: str) -> None:
    """A URI naming a version by an id no artifact object of this process holds (W&B's
    shape, e.g. from another process's ``artifact.id``): the store finds the version, and
    the reference is recorded in the stored, by-name form."""
    version_id = log_upstream().id
    gc.collect()  # no artifact object of upstream_artifact left to resolve from
    art = asyncart.Artifact("by_id", "database")
    (entry,) = art.add_reference(f"asyncart-artifact://{version_id}/{SUB_1}")
    assert entry.ref == f"asyncart-artifact://default/upstream_artifact:v0/{SUB_1}"
    with asyncart.init(job_type="refer") as run:
        run.log_artifact(art)
    root = asyncart.Api().artifact("by_id:v0").download()
    assert (Path(root) / "file.txt").read_text() == ORIG_TEXT


@pytest.mark.parametrize(
    ("uri", "match"),
    [
        ("asyncart-artifact://default/upstream_artifact:v0/../../etc/passwd", r"\.\."),
        ("asyncart-artifact://default/upstream_artifact:v0//etc/passwd", "absolute"),
        ("asyncart-artifact://default/upstream_artifact:v0/" + "a" * 9000, "limit is 8192"),
        ("asyncart-artifact://default/upstream_artifact:latest/x", "names no version"),
        ("asyncart-artifact://default/upstream_artifact:v0", "names no entry"),
        ("asyncart-artifact://default/upstream_artifact:v0/x?versionId=1", "query"),
        ("asyncart-artifact:default/upstream_artifact:v0/x", "must start with"),
        ("asyncart-artifact://de\x00fault/upstream_artifact:v0/x", "project"),
    ],
)
def test_hostile_uri_is_refused_when_added(uri: str, match: str) -> None:
    """A malformed or hostile artifact URI is refused by ``add_reference``, naming what
    is wrong (path traversal, absurd length, an alias instead of a version...)."""
    art = asyncart.Artifact("hostile", "dataset")
    with pytest.raises(ConfigError, match=match):
        art.add_reference(uri)
    assert not art.manifest.entries


def test_missing_source_is_a_clear_error(store: str) -> None:
    """A reference to a version or path that is not there, or to an id never seen, is
    refused when added, naming it; so is an entry of an artifact not logged."""
    up = log_upstream()
    art = asyncart.Artifact("broken", "dataset")
    with pytest.raises(ReferenceNotFound, match="upstream_artifact:v7"):
        art.add_reference("asyncart-artifact://default/upstream_artifact:v7/x")
    with pytest.raises(ReferenceNotFound, match=r"no entry 'nope\.txt'"):
        art.add_reference("asyncart-artifact://default/upstream_artifact:v0/nope.txt")
    with pytest.raises(ReferenceNotFound, match=r"no entry 'nope\.txt'"):
        art.add_reference(f"asyncart-artifact://{up.id}/nope.txt")
    with pytest.raises(EntryNotFound, match=r"no entry 'nope\.txt'"):
        art.add_reference(up.get_entry("nope.txt"))
    with pytest.raises(ReferenceNotFound, match="id 0123456789abcdef01234567 names no version"):
        art.add_reference("asyncart-artifact://0123456789abcdef01234567/x")
    Path("d.txt").write_text("d")
    draft = asyncart.Artifact("draft", "dataset")
    draft_entry = draft.add_file("d.txt")
    with pytest.raises(ConfigError, match="has not been logged"):
        art.add_reference(draft_entry)
    assert not art.manifest.entries


def test_deleted_source_fails_the_download_or_is_skipped(store: str) -> None:
    """A source version deleted after it was referred to: the download names it
    (a FileNotFoundError), or skips it with ``allow_missing_references``."""
    up = log_upstream()
    art = asyncart.Artifact("orphan", "dataset")
    Path("own.txt").write_text("own")
    art.add_file("own.txt")
    art.add_reference(up.get_entry(SUB_1), "ref.txt")
    with asyncart.init(job_type="refer") as run:
        run.log_artifact(art)
    art.wait()
    asyncart.Api().artifact("upstream_artifact:v0").delete(delete_aliases=True)
    stored = asyncart.Api().artifact("orphan:v0")
    with pytest.raises(FileNotFoundError, match="upstream_artifact:v0 cannot be read"):
        stored.download()
    root = Path(stored.download(allow_missing_references=True))
    assert (root / "own.txt").read_text() == "own"
    assert not (root / "ref.txt").exists()


def test_using_a_referring_artifact_does_not_use_its_source(store: str) -> None:
    """Lineage as W&B's client records it: a run that uses (and downloads) a version
    with references is a consumer of that version only, not of the sources."""
    log_upstream()
    log_referring("middle_artifact", "upstream_artifact", SUB_1, SUB_2, by_uri=False)
    with asyncart.init(job_type="consume") as run:
        run.use_artifact("middle_artifact:latest").download()
        run_id = run.id
    middle = asyncart.Api().artifact("middle_artifact:v0")
    upstream = asyncart.Api().artifact("upstream_artifact:v0")
    assert run_id in {r.id for r in middle.used_by()}
    assert run_id not in {r.id for r in upstream.used_by()}


@pytest.fixture
def two_projects(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A server over ``secret`` (readable by ``bridge`` only) and ``open`` (written by
    ``bridge``, read by ``outsider``); its URL and the keys by user."""
    root = tmp_path / "store"
    root.mkdir()
    grants = {
        "bridge": [("secret", Role.WRITE), ("open", Role.WRITE)],
        "outsider": [("open", Role.READ)],
    }
    keys = asyncio.run(users_with_keys(root, grants))
    with live_server(root) as server:
        yield server.url, keys


def as_user(monkeypatch: pytest.MonkeyPatch, url: str, key: str, project: str) -> None:
    monkeypatch.setenv("ASYNCART_URL", url)
    monkeypatch.setenv("ASYNCART_API_KEY", key)
    monkeypatch.setenv("ASYNCART_PROJECT", project)


def test_source_the_caller_cannot_read_is_refused(
    two_projects: tuple[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trust boundary: a version in ``open`` refers to one in ``secret``; a caller who may
    read ``open`` but not ``secret`` gets the version's own files, never the secret's
    bytes: the download is refused (and the reference cannot be added by that caller)."""
    url, keys = two_projects
    as_user(monkeypatch, url, keys["bridge"], "secret")
    Path("s.txt").write_text("classified")
    secret = asyncart.Artifact("plans", "dataset")
    secret.add_file("s.txt")
    with asyncart.init(job_type="up") as run:
        run.log_artifact(secret)
    secret.wait()
    monkeypatch.setenv("ASYNCART_PROJECT", "open")
    shared = asyncart.Artifact("pointer", "dataset")
    shared.add_reference(secret.get_entry("s.txt"))
    with asyncart.init(job_type="refer") as run:
        run.log_artifact(shared)
    shared.wait()
    assert Path(shared.download()).joinpath("s.txt").read_text() == "classified"

    as_user(monkeypatch, url, keys["outsider"], "open")
    stored = asyncart.Api().artifact("open/pointer:v0")
    assert stored.get_entry("s.txt").ref == "asyncart-artifact://secret/plans:v0/s.txt"
    no_access = r"secret/plans:v0 cannot be read .*no access"
    with pytest.raises(ReferenceNotFound, match=no_access):
        stored.download("outsider-copy")
    with pytest.raises(ReferenceNotFound, match=no_access):
        stored.get_entry("s.txt").download("outsider-copy")
    assert not Path("outsider-copy/s.txt").exists()
    with pytest.raises(ReferenceNotFound, match=no_access):
        asyncart.Artifact("again", "dataset").add_reference(
            "asyncart-artifact://secret/plans:v0/s.txt"
        )
