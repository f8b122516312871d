"""The lineage graph of an artifact version: the runs and versions upstream and downstream.

Upstream of a version are the runs that logged it (producers), their inputs, those
inputs' producers, and so on; downstream are the runs that used it (consumers), their
outputs, those outputs' consumers, and so on. Edges point the way data flowed:
``run -> version`` (the run logged it) and ``version -> run`` (the run used it).

Built from the ordinary read calls (``version_producers``, ``version_consumers``,
``run_inputs``, ``run_outputs``), so it works against the embedded store and a server
alike, and a key sees only the projects it may read. ``asyncart lineage`` renders it as
text, Graphviz dot or JSON; the server's web page (``asyncart/server/web/lineage.js``) walks
the same calls with the same rules and draws the same nodes and edges.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from asyncart.core.humanize import human_size, human_time
from asyncart.core.models import RunInfo, VersionInfo

Direction = Literal["root", "upstream", "downstream"]


class LineageSource(Protocol):
    """The read calls the graph is built from (a :class:`asyncart.client.remote.Remote`)."""

    async def get_version(self, project: str, name: str, ref: str) -> VersionInfo: ...

    async def version_producers(self, project: str, name: str, ref: str) -> list[RunInfo]: ...

    async def version_consumers(self, project: str, name: str, ref: str) -> list[RunInfo]: ...

    async def run_inputs(self, run_id: str) -> list[VersionInfo]: ...

    async def run_outputs(self, run_id: str) -> list[VersionInfo]: ...


def version_node_id(info: VersionInfo) -> str:
    return f"version:{info.project}/{info.name}:{info.version}"


def run_node_id(run: RunInfo) -> str:
    return f"run:{run.id}"


@dataclass(frozen=True)
class LineageNode:
    """A run or an artifact version; ``depth`` counts edges from the root version."""

    id: str
    kind: Literal["version", "run"]
    direction: Direction
    depth: int
    version: VersionInfo | None = None
    run: RunInfo | None = None

    @property
    def label(self) -> str:
        if self.version is not None:
            return f"{self.version.name}:{self.version.version}"
        assert self.run is not None
        return f"{self.run.name or self.run.job_type} ({self.run.id[:8]})"

    def describe(self) -> str:
        """One line for the text tree."""
        if self.version is not None:
            v = self.version
            aliases = f" [{', '.join(v.aliases)}]" if v.aliases else ""
            return f"{v.project}/{v.name}:{v.version}{aliases} ({v.type}, {human_size(v.size)})"
        assert self.run is not None
        r = self.run
        name = f" {r.name}" if r.name else ""
        return f"run {r.id}{name} ({r.job_type}, {r.status}, {human_time(r.started_at)})"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "label": self.label,
            "direction": self.direction,
            "depth": self.depth,
        }
        if self.version is not None:
            out["version"] = self.version.to_json()
        if self.run is not None:
            out["run"] = self.run.to_json()
        return out


@dataclass
class LineageGraph:
    """Nodes by id (in discovery order) and edges ``(source, target)`` along the data flow."""

    root: str
    nodes: dict[str, LineageNode] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)

    def parents(self, node_id: str) -> list[str]:
        return [s for s, t in self.edges if t == node_id]

    def children(self, node_id: str) -> list[str]:
        return [t for s, t in self.edges if s == node_id]

    # -- renderings -------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "nodes": [n.to_json() for n in self.nodes.values()],
            "edges": [{"source": s, "target": t} for s, t in self.edges],
        }

    def to_dot(self) -> str:
        """A Graphviz digraph: versions as boxes, runs as ellipses, the root in bold."""
        lines = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
        for node in self.nodes.values():
            shape = "box" if node.kind == "version" else "ellipse"
            style = ', style="bold,filled", fillcolor="#ffe9a8"' if node.id == self.root else ""
            label = _dot_str(node.label)
            lines.append(f"  {_dot_str(node.id)} [label={label}, shape={shape}{style}];")
        for source, target in self.edges:
            lines.append(f"  {_dot_str(source)} -> {_dot_str(target)};")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def to_text(self) -> str:
        """An indented tree: the root, then what it came from, then what came from it.

        A node reached a second time is printed with ``(see above)`` and not expanded again.
        """
        root = self.nodes[self.root]
        lines = [root.describe()]
        for title, step, arrow in (
            ("upstream (made from):", self.parents, "<-"),
            ("downstream (used by):", self.children, "->"),
        ):
            lines.append(title)
            first = step(self.root)
            if not first:
                lines.append("  (none)")
            seen: set[str] = {self.root}
            self._tree(lines, first, step, arrow, 1, seen)
        return "\n".join(lines) + "\n"

    def _tree(
        self,
        lines: list[str],
        ids: Sequence[str],
        step: Callable[[str], list[str]],
        arrow: str,
        level: int,
        seen: set[str],
    ) -> None:
        for node_id in ids:
            node = self.nodes[node_id]
            again = node_id in seen
            mark = " (see above)" if again else ""
            lines.append(f"{'  ' * level}{arrow} {node.describe()}{mark}")
            if again:
                continue
            seen.add(node_id)
            self._tree(lines, step(node_id), step, arrow, level + 1, seen)


def render(graph: LineageGraph, fmt: str) -> str:
    """``graph`` as ``text``, ``dot`` or ``json``."""
    if fmt == "dot":
        return graph.to_dot()
    if fmt == "json":
        return json.dumps(graph.to_json(), indent=2) + "\n"
    return graph.to_text()


async def build_lineage(
    source: LineageSource, project: str, name: str, ref: str, *, depth: int | None = None
) -> LineageGraph:
    """The lineage of ``project/name:ref`` up to ``depth`` edges away (``None``: all).

    Each direction is walked breadth first, one level of calls at a time (concurrently);
    a node is expanded at most once per direction, so even a cyclic graph (which the
    store cannot produce) ends. A node met upstream is still expanded downstream (a run
    that used a version and logged another, or used what it logged itself, is both), so
    no edge within ``depth`` of the root is lost; it keeps the direction and depth it
    was first found with.
    """
    if depth is not None and depth < 0:
        raise ValueError("depth must be >= 0")
    info = await source.get_version(project, name, ref)
    graph = LineageGraph(root=version_node_id(info))
    graph.nodes[graph.root] = LineageNode(graph.root, "version", "root", 0, version=info)
    await _walk(source, graph, info, "upstream", depth)
    await _walk(source, graph, info, "downstream", depth)
    return graph


async def _walk(
    source: LineageSource,
    graph: LineageGraph,
    root: VersionInfo,
    direction: Direction,
    depth: int | None,
) -> None:
    up = direction == "upstream"
    versions: list[VersionInfo] = [root]
    runs: list[RunInfo] = []
    level = 0
    edges: set[tuple[str, str]] = set(graph.edges)
    expanded: set[str] = {version_node_id(root)}  # in this direction

    def add_edge(source_id: str, target_id: str) -> None:
        if (source_id, target_id) not in edges:
            edges.add((source_id, target_id))
            graph.edges.append((source_id, target_id))

    while (versions or runs) and (depth is None or level < depth):
        level += 1
        next_runs: list[RunInfo] = []
        next_versions: list[VersionInfo] = []
        if versions:
            found = await asyncio.gather(
                *(
                    (source.version_producers if up else source.version_consumers)(
                        v.project, v.name, v.version
                    )
                    for v in versions
                )
            )
            for v, run_list in zip(versions, found, strict=True):
                for run in run_list:
                    rid = run_node_id(run)
                    add_edge(*((rid, version_node_id(v)) if up else (version_node_id(v), rid)))
                    if rid not in graph.nodes:
                        graph.nodes[rid] = LineageNode(rid, "run", direction, level, run=run)
                    if rid not in expanded:
                        expanded.add(rid)
                        next_runs.append(run)
        if runs:
            found_versions = await asyncio.gather(
                *((source.run_inputs if up else source.run_outputs)(r.id) for r in runs)
            )
            for r, version_list in zip(runs, found_versions, strict=True):
                for v in version_list:
                    vid = version_node_id(v)
                    add_edge(*((vid, run_node_id(r)) if up else (run_node_id(r), vid)))
                    if vid not in graph.nodes:
                        graph.nodes[vid] = LineageNode(vid, "version", direction, level, version=v)
                    if vid not in expanded:
                        expanded.add(vid)
                        next_versions.append(v)
        versions, runs = next_versions, next_runs


def _dot_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


