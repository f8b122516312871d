"""``asyncart lineage`` as a real subprocess: text, dot and json, embedded and via a server."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.cli.test_cli import ok, one_error_line, run_cli
from tests.support.pipeline import PROJECT, Pipeline, log_pipeline


@pytest.fixture(params=["embedded", "server"])
def logged(request: pytest.FixtureRequest) -> tuple[Pipeline, list[str]]:
    """The pipeline of ``tests.support.pipeline``, logged in the embedded store or a live
    server, and the CLI arguments naming that store and its project."""
    url = None if request.param == "embedded" else request.getfixturevalue("server").url
    pipeline = asyncio.run(log_pipeline(url=url))
    return pipeline, ["--project", PROJECT, *([] if url is None else ["--url", url])]


def test_lineage_text_tree(logged: tuple[Pipeline, list[str]]) -> None:
    p, where = logged
    lines = ok("lineage", "bike model:best", *where).splitlines()
    assert lines[0].startswith(f"{PROJECT}/bike model:v0 [latest, best] (model, 16.0 KiB)")
    up, down = lines.index("upstream (made from):"), lines.index("downstream (used by):")
    upstream, downstream = lines[up + 1 : down], lines[down + 1 :]
    assert [line.split(" (")[0] for line in upstream] == [
        f"  <- run {p.train} train-1",
        f"    <- {PROJECT}/rides:v0 [latest]",
        f"      <- run {p.prepare}",
        f"    <- {PROJECT}/labels:v0 [latest]",
    ]
    assert [line.split(" (")[0] for line in downstream] == [
        f"  -> run {p.evaluate}",
        f"    -> {PROJECT}/report:v0 [latest]",
    ]
    # --depth 1: only the runs next to the version.
    shallow = ok("lineage", f"{PROJECT}/bike model:v0", "--depth", "1", *where)
    assert f"run {p.train}" in shallow and f"run {p.evaluate}" in shallow
    assert "rides:v0" not in shallow and "report:v0" not in shallow


def test_lineage_dot_and_json(logged: tuple[Pipeline, list[str]]) -> None:
    p, where = logged
    dot = ok("lineage", "rides:v0", "--format", "dot", *where)
    assert dot.startswith("digraph lineage {") and dot.rstrip().endswith("}")
    assert f'"version:{PROJECT}/rides:v0" [label="rides:v0", shape=box' in dot
    assert f'"run:{p.evaluate}" [label="evaluate ({p.evaluate[:8]})", shape=ellipse];' in dot
    for edge in (
        f'"run:{p.prepare}" -> "version:{PROJECT}/rides:v0";',
        f'"version:{PROJECT}/rides:v0" -> "run:{p.train}";',
        f'"run:{p.train}" -> "version:{PROJECT}/bike model:v0";',
        f'"version:{PROJECT}/bike model:v0" -> "run:{p.evaluate}";',
        f'"run:{p.evaluate}" -> "version:{PROJECT}/report:v0";',
    ):
        assert edge in dot

    data = json.loads(ok("lineage", "report", "--format", "json", *where))
    report = f"version:{PROJECT}/report:v0"
    assert data["root"] == report
    nodes = {n["id"]: n for n in data["nodes"]}
    assert set(nodes) == {
        report,
        f"run:{p.evaluate}",
        f"version:{PROJECT}/bike model:v0",
        f"run:{p.train}",
        f"version:{PROJECT}/rides:v0",
        f"version:{PROJECT}/labels:v0",
        f"run:{p.prepare}",
    }
    assert nodes[f"run:{p.prepare}"]["direction"] == "upstream"
    assert nodes[f"run:{p.prepare}"]["depth"] == 5
    assert nodes[f"run:{p.prepare}"]["run"]["job_type"] == "prepare"
    assert nodes[report]["version"]["aliases"] == ["latest"]
    assert {"source": f"run:{p.evaluate}", "target": report} in data["edges"]
    assert len(data["edges"]) == 6
    assert json.loads(ok("lineage", "report:latest", "--json", *where)) == data


def test_lineage_of_a_missing_version_is_one_error_line(
    logged: tuple[Pipeline, list[str]],
) -> None:
    _, where = logged
    one_error_line(run_cli("lineage", "bike model:v7", *where), "v7")
    one_error_line(run_cli("lineage", "no such thing", *where), "no such thing")
    bad = run_cli("lineage", "report", "--format", "svg", *where)
    assert bad.returncode == 2 and "svg" in bad.stderr
