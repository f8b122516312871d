// The JSON API under /v1, same origin. On a store with users the key typed into the page
// is kept in sessionStorage (this tab only) and sent as "Authorization: Bearer <key>",
// never in a URL.

export const KEY = "asyncart.apiKey";
export const seg = encodeURIComponent;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function send(path) {
  const headers = { Accept: "application/json" };
  const key = sessionStorage.getItem(KEY);
  if (key) headers.Authorization = "Bearer " + key;
  const resp = await fetch(path, { headers, cache: "no-store", credentials: "omit" });
  if (!resp.ok) {
    let body = null;
    try {
      body = await resp.json();
    } catch (_) {
      body = null;
    }
    throw new ApiError(resp.status, body && body.code, (body && body.message) || resp.statusText);
  }
  return resp;
}

/** The JSON answer of GET ``path``. */
export async function api(path) {
  return (await send(path)).json();
}

/** Every item of a paged list answer (``{key: [...], next}``), following ``next``. */
export async function listAll(path, key) {
  const items = [];
  let cursor = null;
  do {
    const page = await api(cursor === null ? path : `${path}?cursor=${seg(cursor)}`);
    items.push(...page[key]);
    cursor = page.next;
  } while (cursor !== null && cursor !== undefined);
  return items;
}

export const versionPath = (project, name, ref) =>
  `/v1/projects/${seg(project)}/artifacts/${seg(name)}/versions/${seg(ref)}`;
export const versionHash = (project, name, ref) => `#/${seg(project)}/${seg(name)}/${seg(ref)}`;

/** A version's manifest (gzip-compressed JSON, or plain JSON), parsed. */
export async function manifest(project, name, ref) {
  const resp = await send(versionPath(project, name, ref) + "/manifest");
  const bytes = new Uint8Array(await resp.arrayBuffer());
  let text;
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    text = await new Response(stream).text();
  } else {
    text = new TextDecoder().decode(bytes);
  }
  return JSON.parse(text);
}

export function errorText(err) {
  if (err instanceof ApiError && err.status === 401) {
    return sessionStorage.getItem(KEY)
      ? "The API key was refused (unknown or revoked). Enter another key above."
      : "This store needs an API key: enter one above (asyncart server admin create-key).";
  }
  return `Error: ${err.message || err}`;
}
