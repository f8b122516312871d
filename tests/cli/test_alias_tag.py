"""``asyncart alias add|rm`` and ``asyncart tag [--rm]`` as real subprocesses, on the
embedded store and a live server (W&B's alias and tag edits of a logged version)."""

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


def _log_two_versions(where: list[str]) -> None:
    server = where[1] if where else None
    with asyncart.init(job_type="seed", url=server) as run:
        for text in ("one", "two"):
            Path("f.txt").write_text(text)
            art = asyncart.Artifact("model", type="model")
            art.add_file("f.txt")
            run.log_artifact(art, aliases=["best"] if text == "one" else None, wait=True)


def test_alias_add_moves_and_rm_removes(url: list[str]) -> None:
    _log_two_versions(url)
    moved = ok_json("alias", "add", "model:v1", "best", *url)
    assert (moved["version"], moved["aliases"]) == ("v1", ["latest", "best"])
    assert ok_json("alias", "add", "model:latest", "prod", *url)["aliases"] == [
        "latest",
        "best",
        "prod",
    ]
    one_error_line(run_cli("alias", "rm", "model:v0", "best", *url), "names v1, not v0")
    removed = ok_json("alias", "rm", "asyncart/default/model:v1", "prod", *url)
    assert removed["aliases"] == ["latest", "best"]
    one_error_line(run_cli("alias", "rm", "model:v1", "latest", *url), "newest version")
    one_error_line(run_cli("alias", "add", "model", "x", *url), "name the version")
    text = run_cli("alias", "add", "model:v0", "old", *url)
    assert text.returncode == 0 and text.stdout.strip() == "default/model:v0 aliases: old"


def test_tag_adds_and_removes(url: list[str]) -> None:
    _log_two_versions(url)
    tagged = ok_json("tag", "model:best", "reviewed", "needs work", *url)
    assert (tagged["version"], tagged["tags"]) == ("v0", ["needs work", "reviewed"])
    assert ok_json("tag", "model:v0", "--rm", "needs work", *url)["tags"] == ["reviewed"]
    one_error_line(run_cli("tag", "model:v0", "bad!", *url), "Invalid tag")
    assert asyncart.Api(url=url[1] if url else None).artifact("model:v0").tags == ["reviewed"]
