"""The model helpers of a run, as W&B's tests define them: ``log_model``, ``use_model``,
``link_model`` (tests/system_tests/test_artifacts/test_model_workflows.py).

W&B's ``test_use_model*`` log with ``run.log_artifact(path, name=, type=)``; here the
artifact is built with ``add_file`` (logging a bare path is another change). Those taking
``store`` run on the embedded store and on a real server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import asyncart
from asyncart import aio


def artifacts_dir() -> Path:
    return Path.cwd().resolve() / "artifacts"


def write_model(tmp_path: Path) -> Path:
    local_path = tmp_path / "boom.txt"
    local_path.write_text("testing")
    return local_path


def log_file(run: asyncart.Run, path: Path, name: str, type: str) -> None:
    artifact = asyncart.Artifact(name, type)
    artifact.add_file(path)
    run.log_artifact(artifact).wait()


def test_log_model(store: str, tmp_path: Path) -> None:
    """Mirrors test_model_workflows.py::test_log_model (both stores)."""
    with asyncart.init(job_type="train") as run:
        assert run.log_model(write_model(tmp_path), "test-model") is None
    with asyncart.init(job_type="eval") as run:
        download_path = run.use_model("test-model:v0")
    assert download_path == str(artifacts_dir() / "test-model:v0" / "boom.txt")
    assert asyncart.Api().artifact("test-model:v0").type == "model"


def test_log_model_default_name_and_aliases(tmp_path: Path) -> None:
    """W&B's log_model: the default name is ``run-<run id>-<basename>``; ``aliases``
    apply (``latest`` too); a directory is logged whole."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "a.bin").write_bytes(b"a")
    (model_dir / "b.bin").write_bytes(b"b")
    with asyncart.init(job_type="train") as run:
        run.log_model(model_dir, aliases=["best"])
        name = f"run-{run.id}-model"
        path = run.use_model(f"{name}:best")
    assert sorted(asyncart.Api().artifact(f"{name}:v0").aliases) == ["best", "latest"]
    assert path == str(artifacts_dir() / f"{name}:v0")  # several files: the directory
    assert sorted(p.name for p in Path(path).iterdir()) == ["a.bin", "b.bin"]


def test_use_model(tmp_path: Path) -> None:
    """Mirrors test_model_workflows.py::test_use_model."""
    with asyncart.init(job_type="train") as run:
        log_file(run, write_model(tmp_path), "test-model", "model")
        download_path = run.use_model("test-model:v0")
    assert download_path == str(artifacts_dir() / "test-model:v0" / "boom.txt")
    assert [a.name for a in run.used_artifacts()] == ["test-model"]


def test_use_model_error_artifact_type(tmp_path: Path) -> None:
    """Mirrors test_model_workflows.py::test_use_model_error_artifact_type: a type without
    'model' raises AssertionError (asyncart's NotAModelError, one)."""
    with asyncart.init(job_type="train") as run:
        log_file(run, write_model(tmp_path), "test-model", "data")
        with pytest.raises(AssertionError, match="model"):
            run.use_model("test-model:v0")


def test_link_model(store: str, tmp_path: Path) -> None:
    """Mirrors test_model_workflows.py::test_link_model (both stores): the registered
    model is a collection of links in project ``model-registry``; its download lands in
    the source's directory, as W&B's."""
    with asyncart.init(job_type="train") as run:
        linked = run.link_model(write_model(tmp_path), "test_portfolio", "test_model")
    assert linked.qualified_name == "asyncart/model-registry/test_portfolio:v0"
    assert linked.source_name == "test_model:v0"
    with asyncart.init(job_type="eval") as run:
        download_path = run.use_model("model-registry/test_portfolio:v0")
    assert download_path == str(artifacts_dir() / "test_model:v0" / "boom.txt")


def test_link_model_error_artifact_type(tmp_path: Path) -> None:
    """Mirrors test_model_workflows.py::test_link_model_error_artifact_type: an existing
    ``name`` whose type lacks 'model' raises AssertionError, and nothing is linked."""
    local_path = write_model(tmp_path)
    with asyncart.init(job_type="train") as run:
        log_file(run, local_path, "test_model", "dataset")
        with pytest.raises(AssertionError):
            run.link_model(local_path, "test_portfolio", "test_model")
    assert asyncart.Api().artifact_exists("model-registry/test_portfolio:v0") is False


def test_link_model_log_new_artifact(tmp_path: Path) -> None:
    """Mirrors test_model_workflows.py::test_link_model_log_new_artifact; then a second
    link_model of other bytes logs v1 of the same model and links it as v1 (``latest``)."""
    with asyncart.init(job_type="train") as run:
        run.link_model(write_model(tmp_path), "test_portfolio", "test_model")
        (tmp_path / "boom.txt").write_text("better")
        second = run.link_model(tmp_path / "boom.txt", "test_portfolio", "test_model", ["prod"])
    with asyncart.init(job_type="eval") as run:
        download_path = run.use_model("model-registry/test_portfolio:v0")
    assert download_path == str(artifacts_dir() / "test_model:v0" / "boom.txt")
    assert (second.version, second.source_version) == ("v1", "v1")
    assert sorted(second.aliases) == ["latest", "prod"]


def test_link_model_refuses_a_path_as_registered_model_name(tmp_path: Path) -> None:
    """W&B's link_model asserts the registered model name is not a path."""
    with asyncart.init(job_type="train") as run, pytest.raises(AssertionError, match="path"):
        run.link_model(write_model(tmp_path), "team/test_portfolio", "test_model")


async def test_models_on_the_async_face(tmp_path: Path) -> None:
    """The same helpers on ``asyncart.aio``."""
    local_path = write_model(tmp_path)
    async with await aio.init(job_type="train") as run:
        await run.log_model(local_path, "test-model")
        assert await run.use_model("test-model:v0") == str(
            artifacts_dir() / "test-model:v0" / "boom.txt"
        )
        linked = await run.link_model(local_path, "registered", "test-model")
        assert linked.qualified_name == "asyncart/model-registry/registered:v0"
        assert linked.source_qualified_name == "asyncart/default/test-model:v0"
