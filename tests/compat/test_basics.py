"""Small W&B behaviours no other slice ported: invalid names, missing artifacts, logging
the same content twice, who logged and used a version, the default download root.

Each test names the W&B test it mirrors (wandb/wandb ``tests/``); docs/wandb-tests.md
lists every W&B artifact test and where it stands.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import asyncart
from asyncart.errors import ArtifactNotFound


def logged(text: str = "I shall not change") -> asyncart.Artifact:
    Path("data.txt").write_text(text)
    art = asyncart.Artifact("dedup", "dataset")
    art.add_file("data.txt")
    with asyncart.init(job_type="compat") as run:
        run.log_artifact(art)
    return art.wait()


@pytest.mark.parametrize("invalid_name", ["a" * 129, "my/artifact", "left /right"])
def test_invalid_artifact_name(invalid_name: str) -> None:
    """Mirrors unit test_wandb_artifacts.py::test_invalid_artifact_name: a name over the
    length limit or holding ``/`` is a ``ValueError`` at ``Artifact()``."""
    with pytest.raises(ValueError):
        asyncart.Artifact(invalid_name, type="any")


def test_retrieve_missing_artifact() -> None:
    """Mirrors test_wandb_artifacts_full.py::test_retrieve_missing_artifact: another
    project, another name, another name's version; each names what is missing
    (``ArtifactNotFound``; W&B: ``CommError``)."""
    logged()
    api = asyncart.Api()
    for path, missing in (
        ("foo/bar/dedup:v0", "project 'bar'"),
        ("asyncart/bar/dedup:v0", "project 'bar'"),
        ("asyncart/default/baz", "'baz'"),
        ("asyncart/default/baz:v0", "'baz'"),
    ):
        with pytest.raises(ArtifactNotFound, match=missing):
            api.artifact(path)


def test_duplicate_artifact_skips_upload(store: str) -> None:
    """Mirrors test_misc.py::test_duplicate_artifact_skips_upload (both stores): the same
    content logged by a second run makes no new version."""
    first = logged()
    second = logged()
    assert (first.version, second.version) == ("v0", "v0")
    assert (first.is_new_version, second.is_new_version) == (True, False)
    assert len(asyncart.Api().artifacts("dataset", "dedup")) == 1


def test_artifact_run_lookup_apis(store: str) -> None:
    """Mirrors test_misc.py::test_artifact_run_lookup_apis (without its media objects):
    ``used_by()`` names the runs that used a version, ``logged_by()`` the run that made
    it (the second version's run, not the first's)."""
    logged("one")
    Path("data.txt").write_text("two")
    art = asyncart.Artifact("dedup", "dataset")
    art.add_file("data.txt")
    with asyncart.init(job_type="second") as second:
        second.log_artifact(art)
    with asyncart.init(job_type="user") as user:
        used = user.use_artifact("dedup:latest")
        assert [r.id for r in used.used_by()] == [user.id]
        maker = used.logged_by()
        assert maker is not None and maker.id == second.id


def test_artifact_download_root() -> None:
    """Mirrors test_wandb_artifacts_full.py::test_artifact_download_root: the default root
    is ``./artifacts/<name>`` with the version in the name."""
    art = logged()
    assert Path(art.download()) == Path.cwd() / "artifacts" / "dedup:v0"
