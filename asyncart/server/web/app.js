// asyncart web page: lists projects, artifacts and versions, and draws a version's lineage.
// Plain JavaScript, no build step. Everything comes from the JSON API under /v1 (same
// origin); on a store with users the API key typed by the user is kept in sessionStorage
// (this tab only) and sent as "Authorization: Bearer <key>", never in a URL.
// The lineage walk follows the rules of asyncart/sdk/lineage.py (the CLI's graph):
// upstream = producers of a version, their inputs, ...; downstream = consumers, their
// outputs, ...; edges along the data flow (run -> version it logged, version -> run that
// used it); a node is expanded at most once per direction (a run met upstream is still
// expanded downstream, or the edges of a run that used what it logged would be lost).
"use strict";

(() => {
  const KEY = "asyncart.apiKey";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const seg = encodeURIComponent;
  const $ = (id) => document.getElementById(id);

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(path) {
    const headers = { Accept: "application/json" };
    const key = sessionStorage.getItem(KEY);
    if (key) headers.Authorization = "Bearer " + key;
    const resp = await fetch(path, { headers, cache: "no-store", credentials: "omit" });
    let body = null;
    try {
      body = await resp.json();
    } catch (_) {
      body = null;
    }
    if (!resp.ok) {
      throw new ApiError(resp.status, body && body.code, (body && body.message) || resp.statusText);
    }
    return body;
  }

  const versionPath = (project, name, ref) =>
    `/v1/projects/${seg(project)}/artifacts/${seg(name)}/versions/${seg(ref)}`;
  const versionHash = (project, name, ref) => `#/${seg(project)}/${seg(name)}/${seg(ref)}`;

  // DOM helpers: text goes in through textContent / createTextNode only.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  function sv(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  function humanSize(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let value = n;
    let i = 0;
    while (value >= 1024 && i < units.length - 1) {
      value /= 1024;
      i += 1;
    }
    return i === 0 ? `${value} B` : `${value.toFixed(1)} ${units[i]}`;
  }

  const when = (ts) => (ts == null ? "-" : new Date(ts * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC");

  function errorText(err) {
    if (err instanceof ApiError && err.status === 401) {
      return sessionStorage.getItem(KEY)
        ? "The API key was refused (unknown or revoked). Enter another key above."
        : "This store needs an API key: enter one above (asyncart server admin create-key).";
    }
    return `Error: ${err.message || err}`;
  }

  // -- the key ---------------------------------------------------------------------------

  function showKeyState() {
    $("key-state").textContent = sessionStorage.getItem(KEY) ? "key set for this tab" : "";
  }

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("key").value.trim();
    $("key").value = "";
    if (value) sessionStorage.setItem(KEY, value);
    showKeyState();
    refresh();
  });
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    showKeyState();
    refresh();
  });

  // -- the listing ---------------------------------------------------------------------

  async function projectSection(project) {
    const section = el("section", { class: "project", "data-project": project }, el("h3", {}, project));
    const cols = (await api(`/v1/projects/${seg(project)}/artifacts`)).collections;
    if (!cols.length) {
      section.append(el("p", {}, "No artifacts."));
      return section;
    }
    const lists = await Promise.all(
      cols.map((c) => api(`/v1/projects/${seg(project)}/artifacts/${seg(c.name)}/versions`))
    );
    const table = el(
      "table",
      {},
      el("thead", {}, el("tr", {}, ...["Artifact", "Type", "Version", "Aliases", "Size", "Files", "Created"].map((h) => el("th", {}, h))))
    );
    const body = el("tbody");
    cols.forEach((c, i) => {
      const versions = lists[i].versions.slice().reverse(); // newest first
      versions.forEach((v, j) => {
        const row = el("tr", { class: "version-row", "data-version": `${v.project}/${v.name}:${v.version}` });
        if (j === 0) {
          row.append(el("td", { rowspan: versions.length, class: "artifact" }, c.name));
          row.append(el("td", { rowspan: versions.length }, c.type));
        }
        row.append(el("td", {}, el("a", { href: versionHash(v.project, v.name, v.version) }, v.version)));
        row.append(el("td", {}, ...v.aliases.map((a) => el("span", { class: "alias" }, a))));
        row.append(el("td", { class: "num" }, humanSize(v.size)));
        row.append(el("td", { class: "num" }, v.file_count));
        row.append(el("td", {}, when(v.created_at)));
        body.append(row);
      });
    });
    table.append(body);
    section.append(table);
    return section;
  }

  async function loadStore() {
    const box = $("projects");
    document.body.dataset.store = "loading";
    try {
      const projects = (await api("/v1/projects")).projects;
      const sections = projects.length ? await Promise.all(projects.map(projectSection)) : [el("p", {}, "No projects yet.")];
      box.replaceChildren(...sections);
      document.body.dataset.store = "ready";
    } catch (err) {
      box.replaceChildren(el("p", { class: "error" }, errorText(err)));
      document.body.dataset.store = "error";
    }
    markSelected();
  }

  // -- lineage -------------------------------------------------------------------------

  const versionId = (v) => `version:${v.project}/${v.name}:${v.version}`;
  const runId = (r) => `run:${r.id}`;

  async function buildLineage(project, name, ref) {
    const root = await api(versionPath(project, name, ref));
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
    nodes.set(versionId(root), { id: versionId(root), kind: "version", direction: "root", depth: 0, version: root });
    for (const up of [true, false]) {
      const direction = up ? "upstream" : "downstream";
      let versions = [root];
      let runs = [];
      let level = 0;
      const expanded = new Set([versionId(root)]); // in this direction
      while (versions.length || runs.length) {
        level += 1;
        const nextVersions = [];
        const nextRuns = [];
        if (versions.length) {
          const found = await Promise.all(
            versions.map((v) => api(versionPath(v.project, v.name, v.version) + (up ? "/producers" : "/consumers")))
          );
          versions.forEach((v, i) => {
            for (const r of found[i].runs) {
              if (up) addEdge(runId(r), versionId(v));
              else addEdge(versionId(v), runId(r));
              if (!nodes.has(runId(r))) nodes.set(runId(r), { id: runId(r), kind: "run", direction, depth: level, run: r });
              if (!expanded.has(runId(r))) {
                expanded.add(runId(r));
                nextRuns.push(r);
              }
            }
          });
        }
        if (runs.length) {
          const found = await Promise.all(runs.map((r) => api(`/v1/runs/${seg(r.id)}/${up ? "inputs" : "outputs"}`)));
          runs.forEach((r, i) => {
            for (const v of found[i].versions) {
              if (up) addEdge(versionId(v), runId(r));
              else addEdge(runId(r), versionId(v));
              if (!nodes.has(versionId(v))) nodes.set(versionId(v), { id: versionId(v), kind: "version", direction, depth: level, version: v });
              if (!expanded.has(versionId(v))) {
                expanded.add(versionId(v));
                nextVersions.push(v);
              }
            }
          });
        }
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

  const clip = (text, n) => (text.length > n ? text.slice(0, n - 1) + "…" : text);

  function nodeText(node) {
    if (node.kind === "version") {
      const v = node.version;
      const label = node.direction === "root" || v.project === node.rootProject ? `${v.name}:${v.version}` : `${v.project}/${v.name}:${v.version}`;
      return [label, `${v.type} · ${humanSize(v.size)}${v.aliases.length ? " · " + v.aliases.join(", ") : ""}`];
    }
    const r = node.run;
    return [`${r.name || r.job_type} (${r.id.slice(0, 8)})`, `run · ${r.job_type} · ${r.status}`];
  }

  function drawGraph(graph) {
    // Layered layout: column = signed depth (upstream left of the root, downstream right).
    const columns = new Map();
    const rootProject = graph.nodes.get(graph.root).version.project;
    for (const node of graph.nodes.values()) {
      node.rootProject = rootProject;
      const col = node.direction === "upstream" ? -node.depth : node.depth;
      if (!columns.has(col)) columns.set(col, []);
      columns.get(col).push(node);
    }
    const order = [...columns.keys()].sort((a, b) => a - b);
    const rows = Math.max(...[...columns.values()].map((c) => c.length));
    const width = PAD * 2 + order.length * BOX_W + (order.length - 1) * COL_GAP;
    const height = PAD * 2 + 16 + rows * BOX_H + (rows - 1) * ROW_GAP;
    const pos = new Map();
    order.forEach((col, ci) => {
      const nodes = columns.get(col);
      const offset = ((rows - nodes.length) * (BOX_H + ROW_GAP)) / 2;
      nodes.forEach((node, ri) => {
        pos.set(node.id, { x: PAD + ci * (BOX_W + COL_GAP), y: PAD + 16 + offset + ri * (BOX_H + ROW_GAP) });
      });
    });
    const svg = sv("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "lineage graph" });
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
      const x1 = a.x + BOX_W;
      const y1 = a.y + BOX_H / 2;
      const x2 = b.x;
      const y2 = b.y + BOX_H / 2;
      const bend = Math.max(30, Math.abs(x2 - x1) / 2);
      edgeGroup.append(sv("path", {
        class: "edge", "data-source": source, "data-target": target, "marker-end": "url(#arrow)",
        d: `M ${x1} ${y1} C ${x1 + bend} ${y1}, ${x2 - bend} ${y2}, ${x2} ${y2}`,
      }));
    }
    svg.append(edgeGroup);
    for (const node of graph.nodes.values()) {
      const p = pos.get(node.id);
      const [title, sub] = nodeText(node);
      const classes = `node ${node.kind} ${node.direction}`; // direction: root, upstream or downstream
      const g = sv("g", { class: classes, "data-id": node.id, transform: `translate(${p.x},${p.y})` },
        sv("title", {}, node.kind === "version" ? `${node.version.project}/${node.version.name}:${node.version.version}` : `run ${node.run.id}`),
        sv("rect", { width: BOX_W, height: BOX_H, rx: node.kind === "run" ? BOX_H / 2 : 4, ry: node.kind === "run" ? BOX_H / 2 : 4 }),
        sv("text", { x: BOX_W / 2, y: 18, "text-anchor": "middle" }, clip(title, 30)),
        sv("text", { x: BOX_W / 2, y: 34, "text-anchor": "middle", class: "sub" }, clip(sub, 34)));
      if (node.kind === "version" && node.id !== graph.root) {
        g.addEventListener("click", () => {
          location.hash = versionHash(node.version.project, node.version.name, node.version.version);
        });
      }
      svg.append(g);
    }
    return svg;
  }

  function parseHash() {
    const parts = location.hash.replace(/^#\/?/, "").split("/").filter((p) => p !== "");
    if (parts.length !== 3) return null;
    try {
      const [project, name, ref] = parts.map(decodeURIComponent);
      return { project, name, ref };
    } catch (_) {
      return null;
    }
  }

  let selected = null;

  function markSelected() {
    for (const row of document.querySelectorAll("tr.version-row")) {
      row.classList.toggle("selected", selected !== null && row.dataset.version === selected);
    }
  }

  let routeToken = 0;

  async function route() {
    const target = parseHash();
    const section = $("lineage");
    const graphBox = $("graph");
    if (target === null) {
      section.hidden = true;
      selected = null;
      markSelected();
      return;
    }
    const token = ++routeToken;
    section.hidden = false;
    $("lineage-title").textContent = `Lineage of ${target.project}/${target.name}:${target.ref}`;
    graphBox.dataset.state = "loading";
    graphBox.replaceChildren(el("p", {}, "Loading…"));
    $("version-info").replaceChildren();
    try {
      const graph = await buildLineage(target.project, target.name, target.ref);
      if (token !== routeToken) return; // a newer selection took over
      const v = graph.nodes.get(graph.root).version;
      selected = `${v.project}/${v.name}:${v.version}`;
      $("lineage-title").textContent = `Lineage of ${selected}`;
      const producer = v.created_by ? `logged by run ${v.created_by}` : "logged outside a run";
      $("version-info").replaceChildren(
        el("span", {}, `${v.type} · ${humanSize(v.size)} · ${v.file_count} file(s) · ${when(v.created_at)} · ${producer} · digest ${v.digest.slice(0, 12)} `),
        ...v.aliases.map((a) => el("span", { class: "alias" }, a))
      );
      graphBox.replaceChildren(drawGraph(graph));
      graphBox.dataset.state = "ready";
    } catch (err) {
      if (token !== routeToken) return;
      graphBox.replaceChildren(el("p", { class: "error" }, errorText(err)));
      graphBox.dataset.state = "error";
    }
    markSelected();
  }

  function refresh() {
    loadStore();
    route();
  }

  window.addEventListener("hashchange", route);
  showKeyState();
  refresh();
})();
