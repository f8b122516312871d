// The artifacts table: one row per version of every project the key may read, with links
// on names, sortable by a click on a column header and filtered by the text box.

import { listAll, seg, versionHash } from "./api.js";
import { bytesText, projectCosts, storageLine, versionCost } from "./cost.js";
import { el, humanSize, when } from "./dom.js";

const ADDED_TIP = "Bytes this version added to the store when it was logged (chunks no version of the project held then)";
const FREES_TIP = "Bytes deleting this version (then running gc) would free now: chunks no other version holds";
const costCell = (n, tip) => el("span", {
  class: "cost", "data-bytes": n == null ? null : String(n),
  title: n == null ? "not known (a link, or logged before the store kept it)" : tip,
}, bytesText(n));

const COLUMNS = [ // [header, sort key or null, cell]
  ["Project", (v) => v.project, (v) => v.project],
  ["Artifact", (v) => v.name, (v, newest) => el("a", { href: versionHash(v.project, v.name, newest.version), class: "name" }, v.name)],
  ["Type", (v) => v.type, (v) => v.type],
  ["Version", (v) => v.index, (v) => el("a", { href: versionHash(v.project, v.name, v.version) }, v.version)],
  ["Aliases", null, (v) => v.aliases.map((a) => el("span", { class: "alias" }, a))],
  ["Size", (v) => v.size, (v) => humanSize(v.size)],
  ["Added", (v) => (v.cost ? v.cost.added_bytes ?? -1 : -1), (v) => costCell(v.cost && v.cost.added_bytes, ADDED_TIP)],
  ["Frees", (v) => (v.cost ? v.cost.exclusive_bytes : -1), (v) => costCell(v.cost && v.cost.exclusive_bytes, FREES_TIP)],
  ["Files", (v) => v.file_count, (v) => v.file_count],
  ["Created", (v) => v.created_at, (v) => when(v.created_at)],
  ["Digest", (v) => v.digest, (v) => el("code", { title: v.digest }, v.digest.slice(0, 12))],
];
const RIGHT_ALIGNED = new Set(["Size", "Added", "Frees", "Files"]);

const state = { versions: [], newest: new Map(), sort: null, descending: false, filter: "" };

/** Every version the key may read, newest first within each artifact, each with its
 * ``cost`` (or null), and each project's costs. */
async function readStore() {
  const projects = await listAll("/v1/projects", "projects");
  const perProject = await Promise.all(projects.map(async (project) => {
    const cols = await listAll(`/v1/projects/${seg(project)}/artifacts`, "collections");
    const [versions, costs] = await Promise.all([
      Promise.all(cols.map((c) => listAll(`/v1/projects/${seg(project)}/artifacts/${seg(c.name)}/versions`, "versions"))),
      projectCosts(project),
    ]);
    for (const v of versions.flat()) v.cost = versionCost(costs, v);
    return { versions: versions.flat(), costs };
  }));
  return {
    projects,
    versions: perProject.flatMap((p) => p.versions),
    costs: perProject.map((p, i) => [projects[i], p.costs]),
  };
}

const haystack = (v) => [v.project, v.name, v.type, v.version, ...v.aliases, ...(v.tags || []), v.description || "", v.digest]
  .join("\n").toLowerCase();

function compare(a, b) {
  const column = COLUMNS.find(([h]) => h === state.sort);
  let order = 0;
  if (column) {
    const [x, y] = [column[1](a), column[1](b)];
    order = typeof x === "number" ? x - y : String(x).localeCompare(String(y));
    if (state.descending) order = -order;
  }
  return order || a.project.localeCompare(b.project) || a.name.localeCompare(b.name) || b.index - a.index;
}

function render(table, counter) {
  const words = state.filter.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = state.versions.filter((v) => words.every((w) => haystack(v).includes(w))).sort(compare);
  const body = el("tbody");
  for (const v of shown) {
    const newest = state.newest.get(`${v.project}/${v.name}`);
    body.append(el("tr", { class: "version-row", "data-version": `${v.project}/${v.name}:${v.version}` },
      ...COLUMNS.map(([h, , cell]) => {
        const value = cell(v, newest);
        return el("td", { class: RIGHT_ALIGNED.has(h) ? "num" : null }, ...[value].flat());
      })));
  }
  table.tBodies[0].replaceWith(body);
  for (const th of table.tHead.rows[0].cells) {
    const sorted = th.dataset.column === state.sort;
    th.setAttribute("aria-sort", sorted ? (state.descending ? "descending" : "ascending") : "none");
  }
  counter.textContent = `${shown.length} of ${state.versions.length} version(s)`;
}

/** Fill ``box`` with the store's table; resolves to the number of projects. */
export async function showListing(box) {
  const { projects, versions, costs } = await readStore();
  state.versions = versions;
  state.newest = new Map();
  for (const v of versions) {
    const key = `${v.project}/${v.name}`;
    if (!state.newest.has(key) || state.newest.get(key).index < v.index) state.newest.set(key, v);
  }
  if (!projects.length) {
    box.replaceChildren(el("p", {}, "No projects yet."));
    return 0;
  }
  const filter = el("input", { id: "filter", type: "search", placeholder: "Filter: name, type, alias, tag, description, digest…", value: state.filter, "aria-label": "Filter versions" });
  const counter = el("span", { id: "row-count", class: "hint" });
  const head = el("tr", {}, ...COLUMNS.map(([h, key]) => {
    if (!key) return el("th", { "data-column": h }, h);
    const button = el("button", { type: "button", class: "sort" }, h);
    button.addEventListener("click", () => {
      state.descending = state.sort === h ? !state.descending : false; // a second click reverses
      state.sort = h;
      render(table, counter);
    });
    return el("th", { "data-column": h }, button);
  }));
  const table = el("table", { id: "artifacts" }, el("thead", {}, head), el("tbody"));
  filter.addEventListener("input", () => {
    state.filter = filter.value;
    render(table, counter);
  });
  const storage = el("ul", { id: "storage" }, ...costs.map(([project, c]) => storageLine(project, c)));
  box.replaceChildren(storage, el("div", { class: "table-tools" }, filter, counter), table);
  render(table, counter);
  return projects.length;
}

/** Highlight the row of ``selected`` ("project/name:vN") or none. */
export function markSelected(selected) {
  for (const row of document.querySelectorAll("tr.version-row")) {
    row.classList.toggle("selected", selected !== null && row.dataset.version === selected);
  }
}
