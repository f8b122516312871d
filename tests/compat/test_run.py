"""The run surface, as W&B's source (``wandb_run.py``: ``log_artifact``,
``_prepare_artifact``, ``use_artifact``) and its tests define it: ``log_artifact`` of a
bare path or URI with W&B's defaults, ``use_artifact`` of an unlogged artifact, and
``init(group=, tags=, notes=, name=, config=)`` stored on the run.

Each test names the W&B test it mirrors (wandb/wandb ``tests/``). ``store``: the
embedded store and a real server subprocess.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import asyncart
from asyncart import aio
from tests.support.live_server import LiveServer, live_server
from tests.support.s3 import S3Bucket, s3_bucket, s3_server  # noqa: F401 - fixtures
from tests.support.web_files import serving_files

FULL = "tests/system_tests/test_artifacts/test_wandb_artifacts_full.py"
PathType = Callable[[str], Any]


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the tests that only send it requests (no store state shared)."""
    with live_server(tmp_path_factory.mktemp("labels") / "store") as srv:
        yield srv


@pytest.fixture
def example_files() -> Path:
    """A directory of two files (W&B's ``example_files`` fixture)."""
    root = Path("example_files")
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha")
    (root / "sub" / "b.txt").write_text("beta")
    return root


# -- log_artifact of a path or URI -------------------------------------------------------


@pytest.mark.parametrize("path_type", [str, Path])
def test_log_file_directly(store: str, path_type: PathType) -> None:
    """Mirrors test_wandb_artifacts_full.py::test_log_file_directly (both stores): a file
    becomes the artifact ``run-<run id>-<file name>``, of type ``unspecified``."""
    Path("example.txt").write_text("hello")
    with asyncart.init(job_type="t") as run:
        run_id = run.id
        artifact = run.log_artifact(path_type("example.txt"))
    artifact.wait()
    assert artifact.id is not None
    assert artifact.name == f"run-{run_id}-example.txt:v0"
    assert artifact.type == "unspecified"
    assert list(artifact.manifest.entries) == ["example.txt"]
    assert [r.id for r in artifact.used_by()] == []
    assert artifact.logged_by().id == run_id  # type: ignore[union-attr]


@pytest.mark.parametrize("path_type", [str, Path])
def test_log_dir_directly(store: str, example_files: Path, path_type: PathType) -> None:
    """Mirrors test_wandb_artifacts_full.py::test_log_dir_directly (both stores): a
    directory's files, named after the directory."""
    with asyncart.init(job_type="t") as run:
        run_id = run.id
        artifact = run.log_artifact(path_type(str(example_files)))
    artifact.wait()
    assert artifact.name == f"run-{run_id}-example_files:v0"
    assert sorted(artifact.manifest.entries) == ["a.txt", "sub/b.txt"]
    fetched = asyncart.Api().artifact(f"run-{run_id}-example_files:latest")
    assert Path(fetched.download(), "sub", "b.txt").read_text() == "beta"


def test_log_reference_directly(example_files: Path) -> None:
    """Mirrors test_wandb_artifacts_full.py::test_log_reference_directly: a ``file://``
    URI becomes a reference artifact named after its last segment."""
    with asyncart.init(job_type="t") as run:
        run_id = run.id
        artifact = run.log_artifact(example_files.resolve().as_uri())
    artifact.wait()
    assert artifact.name == f"run-{run_id}-example_files:v0"
    entry = artifact.get_entry("sub/b.txt")
    assert entry.ref == (example_files / "sub" / "b.txt").resolve().as_uri()


def test_log_url_directly(store: str) -> None:
    """_prepare_artifact's ``://`` branch for ``https://`` (both stores): the URL is added
    as a reference (recorded by ETag) and downloads."""
    with serving_files({"/data/weights.bin": b"weights"}) as web:
        with asyncart.init(job_type="t") as run:
            artifact = run.log_artifact(f"{web.url}/data/weights.bin", type="model")
        artifact.wait()
        assert artifact.name == f"run-{run.id}-weights.bin:v0"
        assert artifact.type == "model"
        assert Path(artifact.download(), "weights.bin").read_bytes() == b"weights"


def test_log_s3_uri_directly(s3_bucket: S3Bucket) -> None:  # noqa: F811 - a fixture
    """_prepare_artifact's ``://`` branch for ``s3://bucket/path`` (the docstring's
    example): one entry per object below the prefix."""
    client = s3_bucket.server.client()
    try:
        client.put_object(Bucket=s3_bucket.name, Key="models/m1.pt", Body=b"one")
        client.put_object(Bucket=s3_bucket.name, Key="models/m2.pt", Body=b"two")
        with asyncart.init(job_type="t") as run:
            artifact = run.log_artifact(f"s3://{s3_bucket.name}/models")
        artifact.wait()
        assert artifact.name == f"run-{run.id}-models:v0"
        assert sorted(artifact.manifest.entries) == ["m1.pt", "m2.pt"]
        assert Path(artifact.download(), "m2.pt").read_bytes() == b"two"
    finally:
        for key in ("models/m1.pt", "models/m2.pt"):
            client.delete_object(Bucket=s3_bucket.name, Key=key)
        client.close()


def test_log_path_with_name_and_type() -> None:
    """Mirrors test_model_workflows.py::test_use_model's ``log_artifact(local_path,
    name=, type=)``: the given name and type win over the defaults."""
    Path("boom.txt").write_text("testing")
    with asyncart.init(job_type="t") as run:
        logged = run.log_artifact(Path("boom.txt"), name="test-model", type="model")
    logged.wait()
    assert (logged.name, logged.type) == ("test-model:v0", "model")


@pytest.mark.parametrize("invalid_name", ["a" * 129, "my/artifact"])
def test_artifact_error_for_invalid_name(invalid_name: str) -> None:
    """Mirrors test_wandb_artifacts_full.py::test_artifact_error_for_invalid_name: a file
    logged under an invalid name raises ValueError; nothing can be fetched by it (W&B: a
    CommError; here the name is refused, or ``my/artifact`` names a project that has none)."""
    Path("test.txt").write_text("test data")
    with pytest.raises(ValueError), asyncart.init(job_type="t") as run:
        run.log_artifact(Path("test.txt"), name=invalid_name).wait()
    with pytest.raises((ValueError, asyncart.NotFoundError)):
        asyncart.Api().artifact(f"{invalid_name}:latest")


def test_log_path_that_is_neither_file_dir_nor_uri() -> None:
    """_prepare_artifact's last branch: a ValueError naming what a path must be."""
    with (
        asyncart.init(job_type="t") as run,
        pytest.raises(ValueError, match="not a file or a directory, nor a reference URI"),
    ):
        run.log_artifact("no-such-file.txt")


async def test_log_path_on_the_async_face(example_files: Path) -> None:
    """The same defaults through asyncart.aio (one core)."""
    async with await aio.init(job_type="t") as run:
        artifact = await run.log_artifact(example_files)
        assert artifact.name == f"run-{run.id}-example_files:v0"
        assert artifact.type == "unspecified"


# -- use_artifact of an unlogged artifact -------------------------------------------------


def test_use_artifact(store: str) -> None:
    """Mirrors test_wandb_run_artifacts.py::test_use_artifact (both stores): an unlogged
    artifact given to use_artifact is logged and used. As W&B's (``_log_artifact(...,
    is_user_created=True, use_after_commit=True)``: no run is sent as its creator), the run
    is its consumer, not its producer."""
    Path("file1.txt").write_text("hello")
    artifact = asyncart.Artifact("arti", type="dataset")
    artifact.add_file("file1.txt")
    with asyncart.init(job_type="t") as run:
        returned = run.use_artifact(artifact)
        assert returned is artifact
        artifact.wait()
        assert artifact.version == "v0"
        assert [v.name for v in run.used_artifacts()] == ["arti"]
        assert run.logged_artifacts() == []
    assert [r.id for r in artifact.used_by()] == [run.id]
    assert artifact.logged_by() is None
    assert asyncart.Api().artifact("arti:latest").digest == artifact.digest


async def test_use_artifact_on_the_async_face() -> None:
    """The same through asyncart.aio."""
    Path("file1.txt").write_text("hello")
    artifact = aio.Artifact("arti", type="dataset")
    artifact.add_file("file1.txt")
    async with await aio.init(job_type="t") as run:
        await run.use_artifact(artifact)
        assert artifact.version == "v0"
        assert [r.id for r in await artifact.used_by()] == [run.id]
        assert await artifact.logged_by() is None


# -- init(group=, tags=, notes=, name=, config=) -------------------------------------------


def test_init_labels_are_stored_on_the_run(store: str) -> None:
    """Mirrors test_wandb.py::test_sagemaker's ``run.group`` and
    test_mode_disabled_full.py::test_access_properties' ``run.tags == ("tag",)`` /
    ``run.notes`` (both stores): init's labels are on the run, and Api().run(path) reads
    them back (``tags`` a list there, as W&B's public Run)."""
    with asyncart.init(
        job_type="train",
        name="first-run",
        config={"lr": 0.1, "layers": [1, 2]},
        group="sage",
        tags=["tag", "other tag", "tag"],
        notes="a note\nover two lines",
    ) as run:
        assert (run.group, run.tags, run.notes) == ("sage", ("tag", "other tag"), run.notes)
        run_id = run.id
    read = asyncart.Api().run(f"default/{run_id}")
    assert read.name == "first-run"
    assert read.config == {"lr": 0.1, "layers": [1, 2]}
    assert read.group == "sage"
    assert read.tags == ["tag", "other tag"]
    assert read.notes == "a note\nover two lines"


def test_init_without_labels() -> None:
    """Mirrors test_simple_tfjob's ``run.group is None``: no group, tags or notes given."""
    with asyncart.init(job_type="t") as run:
        assert (run.group, run.tags, run.notes) == (None, (), None)
    read = asyncart.Api().run(run.id)
    assert (read.group, read.tags, read.notes) == (None, [], None)


async def test_init_labels_on_the_async_face() -> None:
    """asyncart.aio.init takes the same labels; aio.Api reads them back."""
    async with await aio.init(job_type="t", group="g", tags=("a",), notes="n") as run:
        run_id = run.id
    async with aio.Api() as api:
        read = await api.run(run_id)
    assert (read.group, read.tags, read.notes) == ("g", ["a"], "n")


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        ({"group": ""}, "run group"),
        ({"group": "g" * 129}, "run group"),
        ({"group": 3}, "run group must be a string"),
        ({"tags": "one-tag"}, "run tags must be a list"),
        ({"tags": ["x" * 65]}, "run tag"),
        ({"tags": ["bad\ttag"]}, "control character"),
        ({"notes": "x" * ((64 << 10) + 1)}, "run notes are at most"),
        ({"notes": 5}, "run notes must be a string"),
    ],
)
def test_init_refuses_bad_labels(labels: dict[str, Any], match: str) -> None:
    """Bad labels raise at init, naming what is wrong (a ValueError, as W&B's settings)."""
    with pytest.raises(ValueError, match=match):
        asyncart.init(job_type="t", **labels)


def _post_run(server: LiveServer, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{server.url}/v1/runs",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize(
    "labels",
    [
        {"group": "g" * 129},
        {"group": " padded"},
        {"group": 7},
        {"tags": "not-a-list"},
        {"tags": ["t" * 65]},
        {"tags": [f"t{i}" for i in range(101)]},
        {"notes": 12},
        {"notes": "é" * (40 << 10)},  # 80 KiB of UTF-8: over the 64 KiB limit
    ],
)
def test_server_refuses_bad_labels(shared_server: LiveServer, labels: dict[str, Any]) -> None:
    """The server checks the labels at its boundary: a 400 naming the field."""
    status, answer = _post_run(shared_server, {"project": "p", "job_type": "t", **labels})
    assert status == 400, answer
    (field,) = labels
    assert (
        field in answer["message"].replace("run ", "").lower()
        or "request body" in (answer["message"])
    )


def test_server_stores_labels_sent_over_the_wire(shared_server: LiveServer) -> None:
    """A run created over HTTP keeps its labels (the answer carries them)."""
    status, answer = _post_run(
        shared_server, {"project": "p", "job_type": "t", "group": "g", "tags": ["a"], "notes": "n"}
    )
    assert status == 201
    assert (answer["group"], answer["tags"], answer["notes"]) == ("g", ["a"], "n")


def test_a_string_alias_is_one_alias(store: str) -> None:
    """``aliases='best'`` is the alias ``best``, as W&B's ``validate_aliases`` reads a
    string (``log_artifact`` and ``link``), not one alias per character; a value that is
    neither a string nor a list is refused naming its type."""
    Path("w.bin").write_bytes(b"weights")
    with asyncart.init(job_type="train") as run:
        art = asyncart.Artifact("model", "model")
        art.add_file("w.bin")
        logged = run.log_artifact(art, aliases="best")
        logged.wait()
        bad = asyncart.Artifact("other", "model")
        bad.add_file("w.bin")
        with pytest.raises(asyncart.errors.InvalidNameError, match="aliases must be a list"):
            run.log_artifact(bad, aliases=3)  # type: ignore[arg-type]
    stored = asyncart.Api().artifact("model:best")
    assert sorted(stored.aliases) == ["best", "latest"]
    linked = stored.link("portfolio", aliases="prod")
    assert "prod" in linked.aliases and "p" not in linked.aliases
