// The selected version: what people look for first (digest, description, metadata, its
// files, the run that logged it and that run's config) and the command that pulls it.

import { api, errorText, manifest, seg } from "./api.js";
import { bytesText, projectCosts, versionCost } from "./cost.js";
import { diffSection } from "./diff.js";
import { el, humanSize, prettyJson, shellQuote, when } from "./dom.js";

const FILES_SHOWN = 1000; // rows of the file list; the rest is counted

/** The CLI command that pulls exactly this version from this server. */
export function pullCommand(v) {
  return `asyncart pull ${shellQuote(`${v.project}/${v.name}:${v.version}`)} --url ${shellQuote(location.origin)}`;
}

function copyButton(text) {
  const button = el("button", { type: "button", id: "copy-pull", title: "Copy the command" }, "Copy");
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    } catch (_) { // no clipboard (an insecure origin): select the text for Ctrl-C
      const range = document.createRange();
      range.selectNodeContents(document.getElementById("pull-command"));
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      button.textContent = "Selected: press Ctrl-C";
    }
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  });
  return button;
}

const row = (label, ...value) => [el("dt", {}, label), el("dd", {}, ...value)];
const chips = (items, cls) => (items.length ? items.map((a) => el("span", { class: cls }, a)) : ["-"]);

function filesTable(entries) {
  const body = el("tbody");
  for (const e of entries.slice(0, FILES_SHOWN)) {
    body.append(el("tr", { class: "file-row" },
      el("td", { class: "path" }, e.path),
      el("td", { class: "num" }, humanSize(e.size)),
      el("td", { class: "digest", title: e.digest }, e.digest.slice(0, 12)),
      el("td", { class: "ref" }, e.ref || "")));
  }
  const more = entries.length > FILES_SHOWN ? el("p", { class: "hint" }, `… and ${entries.length - FILES_SHOWN} more files (asyncart pull lists them all)`) : null;
  return [el("table", { id: "files" },
    el("thead", {}, el("tr", {}, ...["Path", "Size", "Digest", "Reference"].map((h) => el("th", {}, h)))), body), more];
}

async function fillFiles(box, v) {
  try {
    const m = await manifest(v.project, v.name, v.version);
    box.replaceChildren(...filesTable(m.entries));
    box.dataset.state = "ready";
  } catch (err) {
    box.replaceChildren(el("p", { class: "error" }, errorText(err)));
    box.dataset.state = "error";
  }
}

/** The two cost rows of ``v`` in ``facts`` (a ``dl``): filled when the project's costs arrive. */
async function fillCost(facts, v) {
  const added = el("dd", { id: "cost-added" }, "…");
  const frees = el("dd", { id: "cost-frees" }, "…");
  facts.append(el("dt", {}, "Added when logged"), added, el("dt", {}, "Deleting frees"), frees);
  const costs = await projectCosts(v.project);
  const cost = versionCost(costs, v);
  for (const [dd, n] of [[added, cost && cost.added_bytes], [frees, cost && cost.exclusive_bytes]]) {
    dd.textContent = costs.error ? "unavailable" : bytesText(n);
    if (n != null) dd.dataset.bytes = String(n);
  }
  if (cost && costs.storage.scope === "project") {
    frees.title = "counting only this project's versions (the key may not read every project)";
  }
  facts.dataset.cost = "ready";
}

async function fillRun(box, v) {
  if (!v.created_by) {
    box.replaceChildren(el("p", {}, "Logged outside a run: no run config."));
    box.dataset.state = "ready";
    return;
  }
  try {
    const r = await api(`/v1/runs/${seg(v.created_by)}`);
    box.replaceChildren(
      el("p", {}, `run ${r.id}${r.name ? " " + r.name : ""} · ${r.job_type} · ${r.status} · started ${when(r.started_at)}`),
      el("pre", { id: "run-config" }, Object.keys(r.config || {}).length ? prettyJson(r.config) : "(empty config)"));
    box.dataset.state = "ready";
  } catch (err) {
    box.replaceChildren(el("p", { class: "error" }, errorText(err)));
    box.dataset.state = "error";
  }
}

/** Show version ``v`` (its JSON record): its pull command in ``pullBox``, the rest in
 * ``box`` (its files and run load after). */
export function showVersion(pullBox, box, v) {
  const command = pullCommand(v);
  const filesBox = el("div", { id: "file-list", "data-state": "loading" }, el("p", {}, "Loading files…"));
  const runBox = el("div", { id: "run-info", "data-state": "loading" }, el("p", {}, "Loading run…"));
  const hasMeta = v.metadata && Object.keys(v.metadata).length;
  pullBox.replaceChildren(el("div", { class: "pull" }, el("code", { id: "pull-command" }, command), copyButton(command)));
  const facts = el("dl", { class: "facts", "data-cost": "loading" },
      ...row("Type", v.type),
      ...row("Digest", el("code", { id: "digest" }, v.digest)),
      ...row("Size", `${humanSize(v.size)} in ${v.file_count} file(s)`),
      ...row("Created", when(v.created_at)),
      ...row("Aliases", ...chips(v.aliases, "alias")),
      ...row("Tags", ...chips(v.tags || [], "tag")),
      ...row("Description", el("span", { id: "description" }, v.description || "-")),
      ...(v.ttl != null ? row("TTL", `${v.ttl} s`) : []));
  box.replaceChildren(
    el("h3", {}, "Details"),
    facts,
    el("h3", {}, "Metadata"),
    el("pre", { id: "metadata" }, hasMeta ? prettyJson(v.metadata) : "(none)"),
    el("h3", {}, "Files"),
    filesBox,
    el("h3", {}, "Compare"),
    ...diffSection(v),
    el("h3", {}, "Logged by"),
    runBox);
  fillFiles(filesBox, v);
  fillRun(runBox, v);
  fillCost(facts, v);
}
