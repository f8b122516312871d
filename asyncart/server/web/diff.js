// The diff view of a version: "compare with" another version (any collection), drawn from
// the two manifests only (no file bytes). The rules are those of asyncart/core/
// manifest_diff.py (asyncart diff): same path and digest is unchanged; a removed path and
// an added path of one non-empty digest are a rename; a changed file's differing bytes are
// those of its new chunks that its old chunks (same path) lack; "new" bytes are those of
// distinct chunks of the new version the old one lacks, "shared" of those both hold.

import { api, errorText, manifest, versionPath } from "./api.js";
import { el, humanSize } from "./dom.js";

const ROWS_SHOWN = 1000;

/** The chunks of a manifest entry as [hash, size] pairs (none for a reference). */
function chunksOf(e) {
  if (e.ref) return [];
  if (e.chunks) return e.chunks;
  return e.size > 0 ? [[e.digest, e.size]] : [];
}

function differing(a, b) {
  if (a.ref || b.ref) return b.size;
  const held = new Set(chunksOf(a).map(([h]) => h));
  return chunksOf(b).reduce((n, [h, s]) => (held.has(h) ? n : n + s), 0);
}

/** The diff of manifest ``old`` to manifest ``now`` (their decoded JSON). */
export function diffManifests(old, now) {
  const oldBy = new Map(old.entries.map((e) => [e.path, e]));
  const newBy = new Map(now.entries.map((e) => [e.path, e]));
  const files = [];
  const gone = [];
  for (const a of old.entries) {
    const b = newBy.get(a.path);
    if (!b) gone.push(a);
    else if (b.digest === a.digest) files.push({ status: "unchanged", path: b.path, a, b, bytes: 0 });
    else files.push({ status: "changed", path: b.path, a, b, bytes: differing(a, b) });
  }
  const byDigest = new Map();
  for (const a of gone) {
    if (a.size > 0) byDigest.set(a.digest, [...(byDigest.get(a.digest) || []), a]);
  }
  const paired = new Set();
  for (const b of now.entries) {
    if (oldBy.has(b.path)) continue;
    const candidates = byDigest.get(b.digest);
    if (b.size > 0 && candidates && candidates.length) {
      const a = candidates.shift();
      paired.add(a.path);
      files.push({ status: "renamed", path: b.path, oldPath: a.path, a, b, bytes: 0 });
    } else {
      files.push({ status: "added", path: b.path, b, bytes: b.size });
    }
  }
  for (const a of gone) {
    if (!paired.has(a.path)) files.push({ status: "removed", path: a.path, a, bytes: 0 });
  }
  files.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
  const sizes = (m) => new Map(m.entries.flatMap(chunksOf));
  const held = sizes(old);
  let fresh = 0;
  let shared = 0;
  for (const [h, s] of sizes(now)) {
    if (held.has(h)) shared += s;
    else fresh += s;
  }
  const total = (m) => m.entries.reduce((n, e) => n + e.size, 0);
  return { files, newBytes: fresh, sharedBytes: shared, oldSize: total(old), newSize: total(now) };
}

const MARK = { added: "A", removed: "D", changed: "M", renamed: "R" };

function what(f) {
  if (f.status === "changed") return `${humanSize(f.bytes)} of ${humanSize(f.b.size)} differ (was ${humanSize(f.a.size)})`;
  if (f.status === "added") return `+${humanSize(f.b.size)}`;
  if (f.status === "removed") return `-${humanSize(f.a.size)}`;
  return `${humanSize(f.b.size)}, same content`;
}

/** The summary line, as ``asyncart diff`` prints it. */
export function summary(d) {
  const n = (s) => d.files.filter((f) => f.status === s).length;
  const parts = ["added", "removed", "changed", "renamed"].filter((s) => n(s)).map((s) => `${n(s)} ${s}`);
  const same = n("unchanged");
  return `${parts.length ? parts.join(", ") : "no changes"}, ${same} file${same === 1 ? "" : "s"} unchanged; `
    + `${humanSize(d.newBytes)} new, ${humanSize(d.sharedBytes)} shared `
    + `(${humanSize(d.oldSize)} -> ${humanSize(d.newSize)})`;
}

function diffTable(d) {
  const shown = d.files.filter((f) => f.status !== "unchanged");
  const body = el("tbody");
  for (const f of shown.slice(0, ROWS_SHOWN)) {
    body.append(el("tr", { class: `diff-row ${f.status}`, "data-status": f.status },
      el("td", { class: "mark" }, MARK[f.status]),
      el("td", { class: "path" }, f.oldPath ? `${f.oldPath} -> ${f.path}` : f.path),
      el("td", { class: "num" }, what(f))));
  }
  const more = shown.length > ROWS_SHOWN ? el("p", { class: "hint" }, `… and ${shown.length - ROWS_SHOWN} more (asyncart diff lists them all)`) : null;
  return [el("p", { id: "diff-summary" }, summary(d)),
    shown.length ? el("table", { id: "diff" }, body) : null, more];
}

/** ``[project/]name[:ref]`` as {project, name, ref}; the project defaults to ``project``. */
export function parseRef(text, project) {
  let rest = text.trim();
  let p = project;
  const slash = rest.lastIndexOf("/");
  if (slash >= 0) {
    p = rest.slice(0, slash).split("/").pop();
    rest = rest.slice(slash + 1);
  }
  const colon = rest.lastIndexOf(":");
  const name = colon >= 0 ? rest.slice(0, colon) : rest;
  const ref = colon >= 0 ? rest.slice(colon + 1) : "latest";
  return { project: p, name, ref };
}

async function compare(box, v, text) {
  box.dataset.state = "loading";
  box.replaceChildren(el("p", {}, "Comparing…"));
  try {
    const o = parseRef(text, v.project);
    const other = await api(versionPath(o.project, o.name, o.ref));
    const [old, now] = await Promise.all([
      manifest(other.project, other.name, other.version),
      manifest(v.project, v.name, v.version),
    ]);
    const d = diffManifests(old, now);
    box.replaceChildren(
      el("p", { class: "hint" }, `${other.project}/${other.name}:${other.version} -> ${v.project}/${v.name}:${v.version}`),
      ...diffTable(d));
    box.dataset.state = "ready";
  } catch (err) {
    box.replaceChildren(el("p", { class: "error" }, errorText(err)));
    box.dataset.state = "error";
  }
}

/** The "compare with" form of version ``v`` and the box its diff is drawn in; the form
 * starts at the previous version of the collection (none for v0). */
export function diffSection(v) {
  const box = el("div", { id: "diff-view", "data-state": "empty" });
  const number = /^v([0-9]+)$/.exec(v.version);
  const previous = number && Number(number[1]) > 0 ? `${v.name}:v${Number(number[1]) - 1}` : "";
  const input = el("input", { id: "compare-with", type: "text", spellcheck: "false",
    placeholder: "name:version, or project/name:alias",
    value: previous });
  const form = el("form", { id: "compare-form", class: "table-tools", autocomplete: "off" },
    el("label", {}, "Compare with ", input), el("button", { type: "submit" }, "Diff"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.value.trim()) compare(box, v, input.value);
  });
  return [el("p", { class: "hint" }, "What changed from another version to this one (read from the two manifests)."), form, box];
}
