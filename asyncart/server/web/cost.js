// What versions cost the store, as `asyncart ls` and `ls --sizes` show it: per version the
// bytes it added when it was logged and the bytes deleting it (then gc) would free now; per
// project its logical size, its deduplicated bytes and its quota. From
// GET /v1/projects/{p}/storage and /quota (both read the index, never a pack), one request
// of each per project per page load, shared by the table and the version details.

import { api, errorText, seg } from "./api.js";
import { el, humanSize } from "./dom.js";

let answers = new Map(); // project -> Promise of its costs

/** Drop what was fetched (the key changed, or the page refreshes). */
export function forgetCosts() {
  answers = new Map();
}

async function fetchCosts(project) {
  const [storage, quota] = await Promise.all([
    api(`/v1/projects/${seg(project)}/storage`),
    // An older server has no quota route: the quota is then unknown, not an error.
    api(`/v1/projects/${seg(project)}/quota`).catch((err) => (err.status === 404 ? null : Promise.reject(err))),
  ]);
  const versions = new Map();
  for (const c of storage.collections) {
    for (const v of c.versions) versions.set(`${c.name}:${v.version}`, v);
  }
  return { storage, quota, versions };
}

/** The costs of ``project``: ``{storage, quota, versions}`` (versions keyed "name:vN"),
 * or ``{error}`` when the server would not say (the page shows the rest regardless). */
export function projectCosts(project) {
  if (!answers.has(project)) {
    answers.set(project, fetchCosts(project).catch((error) => ({ error })));
  }
  return answers.get(project);
}

/** A byte figure for a cell: "-" when unknown, with the reason as its tooltip. */
export function bytesText(n) {
  return n == null ? "-" : humanSize(n);
}

/** The cost record of version ``v`` (its JSON record) from ``costs``, or null. */
export const versionCost = (costs, v) => (costs.versions ? costs.versions.get(`${v.name}:${v.version}`) || null : null);

/** One line on what ``project`` stores and what counts against its quota. */
export function storageLine(project, costs) {
  const item = el("li", { class: "storage-line", "data-project": project }, el("strong", {}, project), ": ");
  if (costs.error) {
    item.append(el("span", { class: "error" }, `sizes unavailable (${errorText(costs.error)})`));
    return item;
  }
  const { storage, quota } = costs;
  item.dataset.size = String(storage.size);
  item.dataset.stored = String(storage.stored_bytes);
  item.append(
    el("span", { class: "logical" }, `${humanSize(storage.size)} in files`), " · ",
    el("span", { class: "stored" }, `${humanSize(storage.stored_bytes)} stored after dedup`));
  if (quota && quota.quota_bytes != null) {
    const left = Math.max(0, quota.quota_bytes - quota.stored_bytes);
    item.dataset.quota = String(quota.quota_bytes);
    item.append(" · ", el("span", { class: "quota" },
      `quota: ${humanSize(quota.stored_bytes)} of ${humanSize(quota.quota_bytes)} used (${humanSize(left)} left)`));
  }
  return item;
}
