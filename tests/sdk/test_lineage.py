"""The lineage graph of a multi-step pipeline, built from the ordinary read calls."""

from __future__ import annotations

import json

import pytest

from asyncart import aio
from asyncart.core.models import RunInfo, VersionInfo
from asyncart.sdk.lineage import build_lineage, render
from tests.support.pipeline import PROJECT, log_pipeline


def _ids(graph_json: dict[str, object]) -> set[str]:
    return {n["id"] for n in graph_json["nodes"]}  # type: ignore[attr-defined,index]


async def test_lineage_of_the_middle_of_a_pipeline(store: str) -> None:
    p = await log_pipeline()
    async with aio.Api(project=PROJECT) as api:
        graph = await api.lineage("bike model:best")
    model = f"version:{PROJECT}/bike model:v0"
    assert graph.root == model
    kinds = {i: (n.kind, n.direction, n.depth) for i, n in graph.nodes.items()}
    assert kinds == {
        model: ("version", "root", 0),
        f"run:{p.train}": ("run", "upstream", 1),
        f"version:{PROJECT}/rides:v0": ("version", "upstream", 2),
        f"version:{PROJECT}/labels:v0": ("version", "upstream", 2),
        f"run:{p.prepare}": ("run", "upstream", 3),
        f"run:{p.evaluate}": ("run", "downstream", 1),
        f"version:{PROJECT}/report:v0": ("version", "downstream", 2),
    }
    assert sorted(graph.edges) == sorted(
        [
            (f"run:{p.prepare}", f"version:{PROJECT}/rides:v0"),
            (f"version:{PROJECT}/rides:v0", f"run:{p.train}"),
            (f"version:{PROJECT}/labels:v0", f"run:{p.train}"),
            (f"run:{p.train}", model),
            (model, f"run:{p.evaluate}"),
            (f"run:{p.evaluate}", f"version:{PROJECT}/report:v0"),
        ]
    )

    text = render(graph, "text")
    lines = text.splitlines()
    assert lines[0].startswith(f"{PROJECT}/bike model:v0 [latest, best] (model, ")
    up, down = lines.index("upstream (made from):"), lines.index("downstream (used by):")
    assert up < down
    assert any(line.startswith(f"  <- run {p.train} train-1 (train, finished") for line in lines)
    assert any(line.startswith(f"    <- {PROJECT}/rides:v0") for line in lines)
    assert any(line.startswith(f"      <- run {p.prepare} (prepare, ") for line in lines)
    assert any(line.startswith(f"  -> run {p.evaluate} (evaluate, ") for line in lines[down:])
    assert any(line.startswith(f"    -> {PROJECT}/report:v0") for line in lines[down:])

    dot = render(graph, "dot")
    assert dot.startswith("digraph lineage {")
    assert f'"version:{PROJECT}/bike model:v0" [label="bike model:v0", shape=box' in dot
    assert f'"run:{p.train}" [label="train-1 ({p.train[:8]})", shape=ellipse];' in dot
    assert f'"run:{p.train}" -> "version:{PROJECT}/bike model:v0";' in dot

    data = json.loads(render(graph, "json"))
    assert data["root"] == model and _ids(data) == set(kinds)
    assert {"source": model, "target": f"run:{p.evaluate}"} in data["edges"]


async def test_depth_limits_both_directions_and_ends_of_a_pipeline(store: str) -> None:
    p = await log_pipeline()
    async with aio.Api(project=PROJECT) as api:
        one = await api.lineage("bike model:v0", depth=1)
        none = await api.lineage("bike model", depth=0)
        first = await api.lineage("rides:v0")
        last = await api.lineage(f"{PROJECT}/report:v0")
    assert set(one.nodes) == {one.root, f"run:{p.train}", f"run:{p.evaluate}"}
    assert set(none.nodes) == {none.root} and none.edges == []
    # The source of the pipeline sees everything downstream, through the model.
    assert f"version:{PROJECT}/report:v0" in first.nodes
    assert first.nodes[f"version:{PROJECT}/report:v0"].depth == 4
    assert f"version:{PROJECT}/labels:v0" not in first.nodes  # a sibling input, not lineage
    assert [n.direction for n in last.nodes.values()].count("downstream") == 0
    assert "downstream (used by):\n  (none)" in render(last, "text")


class _CyclicSource:
    """A store cannot hold a cycle; the walk must end on one anyway."""

    def __init__(self) -> None:
        self.v = VersionInfo("p", "a", "t", 0, "0" * 64, 1, 1)
        self.r = RunInfo("0123abcd", "p", "loop")

    async def get_version(self, project: str, name: str, ref: str) -> VersionInfo:
        return self.v

    async def version_producers(self, project: str, name: str, ref: str) -> list[RunInfo]:
        return [self.r]

    async def version_consumers(self, project: str, name: str, ref: str) -> list[RunInfo]:
        return [self.r]

    async def run_inputs(self, run_id: str) -> list[VersionInfo]:
        return [self.v]

    async def run_outputs(self, run_id: str) -> list[VersionInfo]:
        return [self.v]


async def test_a_cycle_ends_and_the_text_marks_repeats() -> None:
    graph = await build_lineage(_CyclicSource(), "p", "a", "v0")
    assert set(graph.nodes) == {"version:p/a:v0", "run:0123abcd"}
    assert sorted(graph.edges) == [
        ("run:0123abcd", "version:p/a:v0"),
        ("version:p/a:v0", "run:0123abcd"),
    ]
    assert "(see above)" in render(graph, "text")
    with pytest.raises(ValueError, match="depth"):
        await build_lineage(_CyclicSource(), "p", "a", "v0", depth=-1)


async def test_a_run_both_upstream_and_downstream_keeps_all_its_edges(store: str) -> None:
    """The README's seed: ``train`` logs ``bike dataset:v0``, uses it, uses ``bike model:v0``
    and logs it again. From the model, ``train`` is met upstream first; walking downstream
    it must still be expanded, or ``train -> bike dataset:v0`` is lost (issue 20)."""
    from pathlib import Path

    Path("bicycle-data.h5").write_bytes(b"rides " * 100)
    Path("model.h5").write_bytes(b"weights " * 100)
    async with await aio.init(job_type="train", project="seed") as run:
        data = aio.Artifact("bike dataset", type="dataset")
        data.add_file("bicycle-data.h5")
        await run.log_artifact(data)
        await run.use_artifact("bike dataset:latest")
        model = aio.Artifact("bike model", type="model")
        model.add_file("model.h5")
        await run.use_artifact(model)  # logged here (by no run) and used
        again = aio.Artifact("bike model", type="model")
        again.add_file("model.h5")
        await run.log_artifact(again, aliases=["production"])  # the same v0, now logged by train
    train = f"run:{run.id}"
    dataset, model_v0 = "version:seed/bike dataset:v0", "version:seed/bike model:v0"
    every_edge = {
        (train, dataset),
        (dataset, train),
        (train, model_v0),
        (model_v0, train),
    }
    async with aio.Api(project="seed") as api:
        for depth in (2, None):
            graph = await api.lineage("bike model:v0", depth=depth)
            assert set(graph.edges) == every_edge, depth
            assert len(graph.edges) == len(every_edge)  # each edge once
            assert set(graph.nodes) == {model_v0, train, dataset}
            assert graph.nodes[train].direction == "upstream"  # where it was met first
            down = render(graph, "text").split("downstream (used by):")[1]
            assert f"-> run {run.id}" in down and "-> seed/bike dataset:v0" in down
        one = await api.lineage("bike model:v0", depth=1)
    assert set(one.edges) == {(train, model_v0), (model_v0, train)}
