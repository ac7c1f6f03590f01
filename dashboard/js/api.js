// The dashboard's door to muleteer's JSON API, and the small helpers every page uses.
//
// api(path, opts) fetches JSON from the server the dashboard was loaded from (the
// root two levels above this module: /ui/js/api.js -> /), sending the API key kept
// in localStorage as an X-API-Key header -- never in a URL, so it is not logged nor
// kept in the history. A 401 (no key) or a 403 saying the key is not valid opens a
// labelled form asking for a key (one at a time, shared by every waiting request)
// and the request is sent again with it. Other failures throw an ApiError carrying
// the status and the API's err_msg; a server that cannot be reached is status 0.
// The DOM helpers (el, badge, formatting) are here so that pages stay short.

const KEY_STORE = 'muleteer.apiKey';
export const ROOT = new URL('../../', import.meta.url);

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export function getKey() {
  try { return localStorage.getItem(KEY_STORE) || ''; } catch (e) { return ''; }
}

export function setKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORE, key); else localStorage.removeItem(KEY_STORE);
  } catch (e) { /* storage refused (private mode): the key lives for this page only */ }
  memoryKey = key;
}

let memoryKey = '';
function currentKey() { return getKey() || memoryKey; }

/** The absolute URL of an API path ('api/jobs') with query parameters (empty values left out). */
export function apiUrl(path, query) {
  const u = new URL(path.replace(/^\//, ''), ROOT);
  if (query) {
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, String(v));
    }
  }
  return u.toString();
}

/** fetch() with the key header; retries once a key has been given when the server asks for one.
    Returns the Response (any status but 401 and invalid-key 403). opts: fetch options + query. */
export async function apiFetch(path, opts = {}) {
  const { query, ...init } = opts;
  for (;;) {
    const headers = new Headers(init.headers || {});
    const key = currentKey();
    if (key) headers.set('X-API-Key', key);
    let res;
    try {
      res = await fetch(apiUrl(path, query), { ...init, headers, cache: 'no-store' });
    } catch (e) {
      throw new ApiError(0, 'the server cannot be reached (' + (e && e.message || e) + ')');
    }
    if (res.status === 401 || (res.status === 403 && await saysKeyInvalid(res))) {
      await askKey(res.status === 401 ? 'The server needs an API key.' : 'The API key is not valid.');
      continue;
    }
    return res;
  }
}

async function saysKeyInvalid(res) {
  try {
    const body = await res.clone().json();
    return /key is not valid/i.test(body.err_msg || '');
  } catch (e) { return false; }
}

/** JSON from the API; throws ApiError(status, err_msg) for a status that is not 2xx. */
export async function api(path, opts = {}) {
  const init = { ...opts };
  if (init.body !== undefined && typeof init.body !== 'string') {
    init.body = JSON.stringify(init.body);
    init.headers = { 'Content-Type': 'application/json', ...(init.headers || {}) };
  }
  const res = await apiFetch(path, init);
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
  if (!res.ok) {
    const msg = (body && body.err_msg) || (res.status + ' ' + res.statusText);
    throw new ApiError(res.status, msg, body);
  }
  if (body === null && text) body = text;
  return body;
}

/** The body as text (for /metrics). Throws ApiError like api(). */
export async function apiText(path, opts = {}) {
  const res = await apiFetch(path, opts);
  const text = await res.text();
  if (!res.ok) {
    let msg = res.status + ' ' + res.statusText;
    try { msg = JSON.parse(text).err_msg || msg; } catch (e) { /* not JSON */ }
    throw new ApiError(res.status, msg);
  }
  return text;
}

// -- the key prompt ------------------------------------------------------------------------------

let pendingKey = null;

/** Show the key form (once, however many requests wait) and resolve when a key has been saved. */
export function askKey(reason) {
  if (pendingKey) return pendingKey;
  pendingKey = new Promise((resolve) => {
    const host = document.getElementById('key-prompt-host') || document.body;
    const input = el('input', { id: 'api-key-input', type: 'password', name: 'key', autocomplete: 'current-password',
      required: true, spellcheck: 'false' });
    const form = el('form', { class: 'key-prompt-form' },
      el('div', { class: 'field' }, el('label', { for: 'api-key-input' }, 'API key'), input),
      el('button', { type: 'submit', id: 'api-key-save' }, 'Use this key'));
    const box = el('section', { class: 'key-prompt', id: 'key-prompt', 'aria-labelledby': 'key-prompt-title' },
      el('h2', { id: 'key-prompt-title' }, 'API key needed'),
      el('p', {}, reason + ' It is kept in this browser (localStorage) and sent as the X-API-Key header.'),
      form);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const key = input.value.trim();
      if (!key) return;
      setKey(key);
      box.remove();
      pendingKey = null;
      resolve(key);
    });
    host.replaceChildren(box);
    input.focus();
  });
  return pendingKey;
}

/** Forget the key and ask for another one (the "change key" link). */
export function changeKey() {
  setKey('');
  return askKey('Enter the API key to use.');
}

// -- errors --------------------------------------------------------------------------------------

export function showError(message) {
  const b = document.getElementById('error-banner');
  if (!b) return;
  const close = el('button', { type: 'button', class: 'secondary' }, 'Dismiss');
  close.addEventListener('click', clearError);
  b.replaceChildren(el('span', {}, message), close);
  b.hidden = false;
}

export function clearError() {
  const b = document.getElementById('error-banner');
  if (b) { b.hidden = true; b.replaceChildren(); }
}

// -- DOM and formatting helpers ----------------------------------------------------------------------

/** el('a', {href: '#/', class: 'x', onclick: fn}, 'text', child...): an element; null/false children skipped. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElementNS(tag === 'svg' || attrs.svg ? 'http://www.w3.org/2000/svg' : 'http://www.w3.org/1999/xhtml', tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false || k === 'svg') continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** An SVG element (namespace) with attributes. */
export function svg(tag, attrs = {}, ...children) {
  return el(tag, { ...attrs, svg: true }, ...children);
}

export function badge(state) {
  const s = state === null || state === undefined ? 'none' : String(state);
  return el('span', { class: 'badge s-' + s.replace(/[^a-z0-9_-]/gi, '') }, s);
}

// One formatter each, made once: toLocaleString() with options builds a new one at every call,
// which costs a table of 50 rows tens of milliseconds.
const TIME_FORMAT = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
const NUMBER_FORMAT = new Intl.NumberFormat('en-US');

export function fmtTime(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  if (isNaN(d)) return String(iso);
  return TIME_FORMAT.format(d);
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || isNaN(seconds)) return '–';
  if (seconds < 1) return Math.round(seconds * 1000) + ' ms';
  if (seconds < 60) return seconds.toFixed(seconds < 10 ? 1 : 0) + ' s';
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  if (d) return d + 'd ' + h + 'h';
  if (h) return h + 'h ' + m + 'm';
  return m + 'm ' + (s % 60) + 's';
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return '–';
  if (n < 1024) return n + ' B';
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return v.toFixed(v < 10 ? 1 : 0) + ' ' + units[i];
}

export function fmtNumber(n) {
  return n === null || n === undefined || isNaN(n) ? '–' : NUMBER_FORMAT.format(Number(n));
}

/** Seconds between two ISO times (or until now). */
export function secondsBetween(fromIso, toIso) {
  if (!fromIso) return null;
  const a = Date.parse(fromIso), b = toIso ? Date.parse(toIso) : Date.now();
  return isNaN(a) || isNaN(b) ? null : Math.max(0, (b - a) / 1000);
}

/** Save a Blob as a file through a temporary link. */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export const JOB_STATES = ['new', 'queued', 'running', 'ok', 'error', 'deleting', 'deleted'];
export const ENDED_STATES = ['ok', 'error', 'deleted'];
