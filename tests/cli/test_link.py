"""``asyncart link NAME:VERSION TARGET [--alias A]...`` and ``asyncart unlink
TARGET:VERSION`` as real subprocesses, on the embedded store and a live server (W&B's
``artifact.link`` / ``unlink`` from the shell)."""

from __future__ import annotations

from pathlib import Path

import pytest

import asyncart
from tests.cli.test_cli import ok_json, one_error_line, run_cli


@pytest.fixture(params=["embedded", "server"])
def url(request: pytest.FixtureRequest) -> list[str]:
    """Extra arguments naming the store: none (embedded) or ``--url`` of a live server."""
    if request.param == "embedded":
        return []
    return ["--url", request.getfixturevalue("server").url]


def _log(where: list[str]) -> None:
    Path("f.txt").write_text("weights")
    with asyncart.init(job_type="seed", url=where[1] if where else None) as run:
        art = asyncart.Artifact("model", type="model")
        art.add_file("f.txt")
        run.log_artifact(art, wait=True)


def test_link_then_unlink(url: list[str]) -> None:
    _log(url)
    linked = ok_json("link", "model:latest", "wandb-registry-model/best", "--alias", "prod", *url)
    assert (linked["project"], linked["name"], linked["version"]) == (
        "wandb-registry-model",
        "best",
        "v0",
    )
    assert linked["aliases"] == ["latest", "prod"]
    assert linked["source"] == {"project": "default", "name": "model", "index": 0}
    text = run_cli("link", "default/model:v0", "portfolio", *url)
    assert text.returncode == 0
    assert text.stdout.strip() == "default/portfolio:v0 -> default/model:v0 aliases: latest"

    one_error_line(run_cli("unlink", "model:v0", *url), "use 'Artifact.delete' instead")
    gone = ok_json("unlink", "wandb-registry-model/best:prod", *url)
    assert gone["source"]["name"] == "model"
    api = asyncart.Api(url=url[1] if url else None)
    assert api.artifact_exists("wandb-registry-model/best:v0") is False
    assert api.artifact_exists("model:v0") is True


def test_link_refuses_a_target_version_and_an_unnamed_source(url: list[str]) -> None:
    _log(url)
    one_error_line(run_cli("link", "model", "portfolio", *url), "name the version")
    one_error_line(run_cli("link", "model:v0", "portfolio:v0", *url), "names a version")
