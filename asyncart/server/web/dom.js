// DOM and formatting helpers of the web page. Text from the store goes in through text
// nodes and setAttribute only (never innerHTML): names, metadata and file names may hold
// markup and must show as the characters they are.

export const SVG_NS = "http://www.w3.org/2000/svg";
export const $ = (id) => document.getElementById(id);

function fill(node, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined && v !== false) node.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** An HTML element with attributes and children (nodes or text). */
export const el = (tag, attrs, ...children) => fill(document.createElement(tag), attrs, children);

/** An SVG element with attributes and children (nodes or text). */
export const sv = (tag, attrs, ...children) => fill(document.createElementNS(SVG_NS, tag), attrs, children);

export function humanSize(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i += 1;
  }
  return i === 0 ? `${value} B` : `${value.toFixed(1)} ${units[i]}`;
}

export const when = (ts) =>
  ts == null || ts === 0 ? "-" : new Date(ts * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";

/** ``text`` as one POSIX shell word: bare when it is plain, else single-quoted. */
export function shellQuote(text) {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : "'" + text.replace(/'/g, "'\\''") + "'";
}

/** Pretty JSON of a store value, for a <pre> (as text). */
export const prettyJson = (value) => JSON.stringify(value, null, 2);
