// A version's lineage: the walk (the rules of asyncart/sdk/lineage.py, the CLI's graph),
// the layered SVG drawing, and a viewport that opens centred on the version and fitted
// to the box, with pan (drag) and zoom (wheel, buttons).
//
// The walk: upstream = producers of a version, their inputs, ...; downstream = consumers,
// their outputs, ...; edges along the data flow (run -> version it logged, version -> run
// that used it); a node is expanded at most once per direction (a run met upstream is
// still expanded downstream, or the edges of a run that used what it logged are lost).

import { listAll, seg, versionPath } from "./api.js";
import { el, humanSize, sv } from "./dom.js";

const versionId = (v) => `version:${v.project}/${v.name}:${v.version}`;
const runId = (r) => `run:${r.id}`;

/** The lineage graph of the version ``root`` (its JSON record): {root, nodes, edges}. */
export async function buildLineage(root) {
  const nodes = new Map();
  const edges = [];
  const seenEdges = new Set();
  const addEdge = (source, target) => {
    const key = source + "\n" + target;
    if (!seenEdges.has(key)) {
      seenEdges.add(key);
      edges.push([source, target]);
    }
  };
  const addNode = (id, node) => {
    if (!nodes.has(id)) nodes.set(id, { id, ...node });
  };
  nodes.set(versionId(root), { id: versionId(root), kind: "version", direction: "root", depth: 0, version: root });
  for (const up of [true, false]) {
    const direction = up ? "upstream" : "downstream";
    const expanded = new Set([versionId(root)]); // in this direction
    let versions = [root];
    let runs = [];
    let level = 0;
    while (versions.length || runs.length) {
      level += 1;
      const nextVersions = [];
      const nextRuns = [];
      const found = await Promise.all(
        versions.map((v) => listAll(versionPath(v.project, v.name, v.version) + (up ? "/producers" : "/consumers"), "runs"))
      );
      versions.forEach((v, i) => {
        for (const r of found[i]) {
          if (up) addEdge(runId(r), versionId(v));
          else addEdge(versionId(v), runId(r));
          addNode(runId(r), { kind: "run", direction, depth: level, run: r });
          if (!expanded.has(runId(r))) {
            expanded.add(runId(r));
            nextRuns.push(r);
          }
        }
      });
      const made = await Promise.all(runs.map((r) => listAll(`/v1/runs/${seg(r.id)}/${up ? "inputs" : "outputs"}`, "versions")));
      runs.forEach((r, i) => {
        for (const v of made[i]) {
          if (up) addEdge(versionId(v), runId(r));
          else addEdge(runId(r), versionId(v));
          addNode(versionId(v), { kind: "version", direction, depth: level, version: v });
          if (!expanded.has(versionId(v))) {
            expanded.add(versionId(v));
            nextVersions.push(v);
          }
        }
      });
      versions = nextVersions;
      runs = nextRuns;
    }
  }
  return { root: versionId(root), nodes, edges };
}

const BOX_W = 200;
const BOX_H = 44;
const COL_GAP = 70;
const ROW_GAP = 18;
const PAD = 24;
const ARC = 40; // how far an arc over or under the boxes reaches
const MIN_FIT_SCALE = 0.55; // below this the labels are unreadable: centre on the version instead
const MAX_FIT_SCALE = 1.25;

const clip = (text, n) => (text.length > n ? text.slice(0, n - 1) + "…" : text);

function nodeText(node, rootProject) {
  if (node.kind === "version") {
    const v = node.version;
    const label = v.project === rootProject ? `${v.name}:${v.version}` : `${v.project}/${v.name}:${v.version}`;
    return [label, `${v.type} · ${humanSize(v.size)}${v.aliases.length ? " · " + v.aliases.join(", ") : ""}`];
  }
  const r = node.run;
  return [`${r.name || r.job_type} (${r.id.slice(0, 8)})`, `run · ${r.job_type} · ${r.status}`];
}

/** The graph as an SVG in columns by signed depth (upstream left, downstream right). */
function drawGraph(graph, onSelect) {
  const columns = new Map();
  const rootProject = graph.nodes.get(graph.root).version.project;
  for (const node of graph.nodes.values()) {
    const col = node.direction === "upstream" ? -node.depth : node.depth;
    if (!columns.has(col)) columns.set(col, []);
    columns.get(col).push(node);
  }
  const order = [...columns.keys()].sort((a, b) => a - b);
  const colOf = (node) => (node.direction === "upstream" ? -node.depth : node.depth);
  const nodeById = (id) => graph.nodes.get(id);
  // An edge that skips a column (a run met upstream that logged a version downstream) arcs
  // over the boxes between, one back to the left under them: leave room for the arcs.
  const span = ([s, t]) => colOf(nodeById(t)) - colOf(nodeById(s)); // columns an edge moves right
  const skips = graph.edges.some((e) => span(e) > 1);
  const backs = graph.edges.some((e) => span(e) < 1); // left or within a column: an arc below
  const top = PAD + 16 + (skips ? ARC : 0);
  const rows = Math.max(...[...columns.values()].map((c) => c.length));
  const width = PAD * 2 + order.length * BOX_W + (order.length - 1) * COL_GAP;
  const height = top + PAD + rows * BOX_H + (rows - 1) * ROW_GAP + (backs ? ARC : 0);
  const pos = new Map();
  order.forEach((col, ci) => {
    const nodes = columns.get(col);
    const offset = ((rows - nodes.length) * (BOX_H + ROW_GAP)) / 2;
    nodes.forEach((node, ri) => {
      pos.set(node.id, { x: PAD + ci * (BOX_W + COL_GAP), y: top + offset + ri * (BOX_H + ROW_GAP) });
    });
  });
  const svg = sv("svg", { role: "img", "aria-label": "lineage graph", "data-width": width, "data-height": height });
  svg.append(
    sv("defs", {}, sv("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      sv("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#8a949e" })))
  );
  order.forEach((col, ci) => {
    const label = col === 0 ? "this version" : col < 0 ? `upstream ${-col}` : `downstream ${col}`;
    svg.append(sv("text", { class: "column-label", x: PAD + ci * (BOX_W + COL_GAP), y: PAD }, label));
  });
  const edgeGroup = sv("g", { class: "edges" });
  for (const [source, target] of graph.edges) {
    const a = pos.get(source);
    const b = pos.get(target);
    if (!a || !b) continue;
    let d;
    if (b.x - a.x === BOX_W + COL_GAP) { // the next column: right side to left side
      const [x1, y1, x2, y2] = [a.x + BOX_W, a.y + BOX_H / 2, b.x, b.y + BOX_H / 2];
      d = `M ${x1} ${y1} C ${x1 + COL_GAP / 2} ${y1}, ${x2 - COL_GAP / 2} ${y2}, ${x2} ${y2}`;
    } else if (b.x > a.x) { // further right: an arc over the boxes between, top to top
      const [x1, y1, x2, y2] = [a.x + BOX_W / 2, a.y, b.x + BOX_W / 2, b.y];
      d = `M ${x1} ${y1} C ${x1} ${y1 - ARC}, ${x2} ${y2 - ARC}, ${x2} ${y2}`;
    } else { // back to the left or the same column: an arc below, bottom to bottom
      const [x1, y1, x2, y2] = [a.x + BOX_W / 2, a.y + BOX_H, b.x + BOX_W / 2, b.y + BOX_H];
      d = `M ${x1} ${y1} C ${x1} ${y1 + ARC}, ${x2} ${y2 + ARC}, ${x2} ${y2}`;
    }
    edgeGroup.append(sv("path", { class: "edge", "data-source": source, "data-target": target, "marker-end": "url(#arrow)", d }));
  }
  svg.append(edgeGroup);
  for (const node of graph.nodes.values()) {
    const p = pos.get(node.id);
    const [title, sub] = nodeText(node, rootProject);
    const g = sv("g", { class: `node ${node.kind} ${node.direction}`, "data-id": node.id, transform: `translate(${p.x},${p.y})` },
      sv("title", {}, node.kind === "version" ? `${node.version.project}/${node.version.name}:${node.version.version}` : `run ${node.run.id}`),
      sv("rect", { width: BOX_W, height: BOX_H, rx: node.kind === "run" ? BOX_H / 2 : 4, ry: node.kind === "run" ? BOX_H / 2 : 4 }),
      sv("text", { x: BOX_W / 2, y: 18, "text-anchor": "middle" }, clip(title, 30)),
      sv("text", { x: BOX_W / 2, y: 34, "text-anchor": "middle", class: "sub" }, clip(sub, 34)));
    if (node.kind === "version" && node.id !== graph.root) g.addEventListener("click", () => onSelect(node.version));
    svg.append(g);
  }
  const rootPos = pos.get(graph.root);
  return { svg, width, height, focus: { x: rootPos.x + BOX_W / 2, y: rootPos.y + BOX_H / 2 } };
}

/** The graph's viewBox: pan and zoom in graph units, fitted around a focus point. */
class Viewport {
  constructor(svg, box, width, height, focus) {
    Object.assign(this, { svg, box, width, height, focus });
    this.view = { x: 0, y: 0, w: width, h: height };
  }

  apply() {
    const { x, y, w, h } = this.view;
    this.svg.setAttribute("viewBox", `${x} ${y} ${w} ${h}`);
    this.svg.dataset.scale = (this.box.clientWidth / w).toFixed(3);
  }

  /** The whole graph if it fits at a readable scale, else as much as fits around the focus. */
  fit() {
    const vw = this.box.clientWidth || 800;
    const vh = this.box.clientHeight || 400;
    const scale = Math.min(MAX_FIT_SCALE, Math.max(MIN_FIT_SCALE, Math.min(vw / this.width, vh / this.height)));
    const w = vw / scale;
    const h = vh / scale;
    const place = (centre, size, total) =>
      size >= total ? (total - size) / 2 : Math.min(Math.max(centre - size / 2, 0), total - size);
    this.view = { x: place(this.focus.x, w, this.width), y: place(this.focus.y, h, this.height), w, h };
    this.apply();
  }

  zoom(factor, cx = 0.5, cy = 0.5) {
    const { x, y, w, h } = this.view;
    const nw = w / factor;
    const nh = h / factor;
    this.view = { x: x + (w - nw) * cx, y: y + (h - nh) * cy, w: nw, h: nh };
    this.apply();
  }

  panBy(dxPixels, dyPixels) {
    const k = this.view.w / (this.box.clientWidth || 1);
    this.view.x -= dxPixels * k;
    this.view.y -= dyPixels * k;
    this.apply();
  }

  listen() {
    let drag = null;
    this.box.addEventListener("pointerdown", (e) => {
      if (e.button !== 0 || e.target.closest("g.node.version")) return; // a click follows a version
      drag = { x: e.clientX, y: e.clientY };
      this.box.setPointerCapture(e.pointerId);
      this.box.classList.add("dragging");
    });
    this.box.addEventListener("pointermove", (e) => {
      if (!drag) return;
      this.panBy(e.clientX - drag.x, e.clientY - drag.y);
      drag = { x: e.clientX, y: e.clientY };
    });
    const stop = () => {
      drag = null;
      this.box.classList.remove("dragging");
    };
    this.box.addEventListener("pointerup", stop);
    this.box.addEventListener("pointercancel", stop);
    this.box.addEventListener("wheel", (e) => {
      e.preventDefault();
      const r = this.box.getBoundingClientRect();
      this.zoom(e.deltaY < 0 ? 1.15 : 1 / 1.15, (e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height);
    }, { passive: false });
  }
}

/** Draw ``graph`` into ``box``: toolbar, then the graph fitted around its version. */
export function mountGraph(box, graph, onSelect) {
  const { svg, width, height, focus } = drawGraph(graph, onSelect);
  const frame = el("div", { class: "viewport" }, svg);
  const view = new Viewport(svg, frame, width, height, focus);
  const button = (label, title, action) => {
    const b = el("button", { type: "button", title }, label);
    b.addEventListener("click", action);
    return b;
  };
  const toolbar = el("div", { class: "toolbar" },
    button("Fit", "Fit the graph around this version", () => view.fit()),
    button("+", "Zoom in", () => view.zoom(1.25)),
    button("−", "Zoom out", () => view.zoom(1 / 1.25)),
    el("span", { class: "hint" }, "drag to pan, wheel to zoom"));
  box.replaceChildren(toolbar, frame);
  // As tall as the graph at full size (a short graph leaves no empty band), at most 55% of
  // the window (CSSOM, which the page's CSP allows, unlike a style attribute).
  frame.style.height = `${Math.round(Math.max(200, Math.min(height + 16, window.innerHeight * 0.55)))}px`;
  view.listen();
  view.fit();
  // Refit when the frame's size changes, never otherwise: the observer's first report (the
  // size just fitted to) can land late on a busy machine and must not undo a pan under way.
  let fitted = [frame.clientWidth, frame.clientHeight];
  let resizeTimer = null;
  new ResizeObserver(() => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      const size = [frame.clientWidth, frame.clientHeight];
      if (size[0] === fitted[0] && size[1] === fitted[1]) return;
      fitted = size;
      view.fit();
    }, 50);
  }).observe(frame);
  return view;
}
