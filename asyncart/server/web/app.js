// asyncart web page: the artifacts table, and for the selected version (/#/PROJECT/NAME/REF)
// its details, files, run and lineage. Plain JavaScript modules, no build step; everything
// comes from the JSON API under /v1 (same origin, see api.js for the key).

import { api, errorText, KEY, versionHash, versionPath } from "./api.js";
import { forgetCosts } from "./cost.js";
import { showVersion } from "./detail.js";
import { $, el } from "./dom.js";
import { buildLineage, mountGraph } from "./lineage.js";
import { markSelected, showListing } from "./listing.js";

let selected = null; // "project/name:vN" of the version shown

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

async function loadStore() {
  const box = $("projects");
  document.body.dataset.store = "loading";
  try {
    await showListing(box);
    document.body.dataset.store = "ready";
  } catch (err) {
    box.replaceChildren(el("p", { class: "error" }, errorText(err)));
    document.body.dataset.store = "error";
  }
  markSelected(selected);
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

let routeToken = 0;

async function route() {
  const target = parseHash();
  const section = $("version");
  const graphBox = $("graph");
  if (target === null) {
    section.hidden = true;
    selected = null;
    markSelected(selected);
    return;
  }
  const token = ++routeToken;
  section.hidden = false;
  $("version-title").textContent = `${target.project}/${target.name}:${target.ref}`;
  graphBox.dataset.state = "loading";
  graphBox.replaceChildren(el("p", {}, "Loading…"));
  $("version-info").replaceChildren();
  $("pull-box").replaceChildren();
  try {
    const v = await api(versionPath(target.project, target.name, target.ref));
    if (token !== routeToken) return; // a newer selection took over
    selected = `${v.project}/${v.name}:${v.version}`;
    $("version-title").textContent = selected;
    document.title = `${selected} · asyncart`;
    showVersion($("pull-box"), $("version-info"), v);
    markSelected(selected);
    const graph = await buildLineage(v);
    if (token !== routeToken) return;
    mountGraph(graphBox, graph, (other) => {
      location.hash = versionHash(other.project, other.name, other.version);
    });
    graphBox.dataset.state = "ready";
  } catch (err) {
    if (token !== routeToken) return;
    graphBox.replaceChildren(el("p", { class: "error" }, errorText(err)));
    graphBox.dataset.state = "error";
  }
}

function refresh() {
  forgetCosts();
  loadStore();
  route();
}

window.addEventListener("hashchange", route);
showKeyState();
refresh();
