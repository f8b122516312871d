"""Collections of links (W&B's portfolios), as W&B's tests define them: ``is_sequence()``
is False, the type cannot change (W&B: "Type can only be changed if the artifact
collection is a sequence"), name, description and tags save as a sequence's do, and
``delete()`` removes the links but not their sources.

Each test names the W&B test it mirrors (wandb/wandb ``tests/``), or says what asyncart
adds. ``store`` runs a test on the embedded store and on a real server.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import asyncart
from asyncart import aio
from asyncart.errors import ArtifactNotFound, ConfigError
from tests.support.live_server import live_server


def log_and_link(name: str, portfolio: str, project: str | None = None) -> asyncart.Artifact:
    """Log one file as ``name`` (type ``data``) and link it into ``portfolio``."""
    Path("test.txt").write_text("testing")
    art = asyncart.Artifact(name, type="data")
    art.add_file("test.txt")
    with asyncart.init(job_type="compat", project=project) as run:
        run.log_artifact(art)
        run.link_artifact(art, portfolio if project is None else f"{project}/{portfolio}")
    return art.wait()


@pytest.mark.parametrize("new_description", ["", "New description."])
def test_save_artifact_portfolio(store: str, new_description: str) -> None:
    """Mirrors test_wandb_artifacts.py::test_save_artifact_portfolio (both stores): a
    portfolio is no sequence and refuses a new type (a ``ValueError``); its name,
    description and tags save; its source collection stays a sequence."""
    log_and_link("image_data", "portfolio_name")
    api = asyncart.Api()
    portfolio = api.artifact_collection("data", "portfolio_name")
    assert portfolio.is_sequence() is False
    assert api.artifact_collection("data", "image_data").is_sequence() is True
    portfolio.description = new_description
    portfolio.name = "new_name"
    with pytest.raises(ValueError, match="portfolio"):
        portfolio.type = "new_type"
    assert portfolio.type == "data"
    portfolio.tags = ["tag"]
    portfolio.save()
    with asyncart.init(job_type="compat") as run:
        saved = run.use_artifact("new_name:v0").collection
    assert saved is not None
    assert (saved.name, saved.description, saved.tags) == ("new_name", new_description, ["tag"])
    saved.tags = ["new_tag"]
    saved.save()
    with asyncart.init(job_type="compat") as run:
        again = run.use_artifact("new_name:latest").collection
    assert again is not None and again.tags == ["new_tag"]
    assert again.is_sequence() is False


def test_change_type_of_a_portfolio_is_refused(store: str) -> None:
    """Mirrors ArtifactCollection.change_type's rule (W&B: "Artifact collection needs to
    be a sequence"; both stores): nothing changes."""
    log_and_link("image_data", "portfolio_name")
    portfolio = asyncart.Api().artifact_collection("data", "portfolio_name")
    with pytest.warns(DeprecationWarning), pytest.raises(ConfigError, match="portfolio"):
        portfolio.change_type("new_type")
    assert asyncart.Api().artifact("portfolio_name:v0").type == "data"


def test_delete_collection_portfolio_half(store: str) -> None:
    """Mirrors test_wandb_artifacts_api.py::test_delete_collection's portfolio half (both
    stores; the sequence half: test_collections.py::test_delete_collection): deleting
    the portfolio removes its links; the artifact it linked stays."""
    log_and_link("test-artifact", "test-portfolio", project="test")
    api = asyncart.Api()
    portfolio = api.artifact_type("data", project="test").collection("test-portfolio")
    assert portfolio.is_sequence() is False
    portfolio.delete()
    with pytest.raises(ArtifactNotFound):
        api.artifact("asyncart/test/test-portfolio:latest", type="data")
    assert api.artifact("asyncart/test/test-artifact:latest", type="data").version == "v0"


async def test_portfolio_on_the_async_face() -> None:
    """asyncart: on ``asyncart.aio`` an unread collection (``artifact.collection``) takes
    the new type, and ``save()`` refuses it once it has read the collection."""
    log_and_link("image_data", "portfolio_name")
    async with aio.Api() as api:
        link = await api.artifact("portfolio_name:v0")
        portfolio = link.collection
        assert portfolio is not None
        portfolio.type = "new_type"
        with pytest.raises(ConfigError, match="portfolio"):
            await portfolio.save()
        assert portfolio.is_sequence() is False


def test_server_refuses_to_retype_a_portfolio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncart: the server checks too: a ``PATCH`` of a portfolio's type sent over the
    wire is a 400 naming the portfolio; a sequence's type still changes."""
    with live_server(tmp_path / "store") as srv:
        monkeypatch.setenv("ASYNCART_URL", srv.url)
        log_and_link("image_data", "portfolio_name")

        def patch(name: str) -> tuple[int, str]:
            request = urllib.request.Request(
                f"{srv.url}/v1/projects/default/artifacts/{name}",
                data=json.dumps({"type": "new_type"}).encode(),
                headers={"Content-Type": "application/json"},
                method="PATCH",
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    return answer.status, json.loads(answer.read())["type"]
            except urllib.error.HTTPError as error:
                return error.code, json.loads(error.read())["message"]

        status, message = patch("portfolio_name")
        assert status == 400 and "portfolio" in message
        assert asyncart.Api().artifact("portfolio_name:v0").type == "data"
        assert patch("image_data") == (200, "new_type")
