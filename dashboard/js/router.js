// Hash routing: the part of the URL after '#' names the page and its parameters, so
// every view has a link of its own, reloads where it was, and the server only ever
// serves one HTML file.
//
//   #/                         overview
//   #/jobs?state=&tool_id=&handler=&user=&from=&to=&before=    jobs        {query...}
//   #/jobs/ID                  job          {id}
//   #/submit, #/submit/TOOL    submit       {tool}
//   #/workflows(/ID)           workflow {id} if registered, else workflows {id}
//   #/invocations(/ID)         invocation {id} if registered, else invocations {id}
//
// A page module calls registerPage(name, {render(params, root), stop()}); render may
// be async and fills root (the <main>); stop is called when the page is left (or
// rendered again with other parameters) and must end its timers and requests.

import { el, clearError } from './api.js';

const pages = new Map();
let current = null;   // {page, key}
let started = false;

export function registerPage(name, page) {
  pages.set(name, page);
  if (started) route();
}

/** The route of a hash: {name, params, nav} or null. */
export function parseHash(hash) {
  let h = (hash || '').replace(/^#/, '');
  if (h !== '' && !h.startsWith('/')) return null;          // an in-page anchor, not a route
  const q = h.indexOf('?');
  const query = {};
  if (q >= 0) {
    for (const [k, v] of new URLSearchParams(h.slice(q + 1))) query[k] = v;
    h = h.slice(0, q);
  }
  const parts = h.split('/').filter(Boolean).map(decodeURIComponent);
  const [top, id] = parts;
  if (!top) return { name: 'overview', params: query, nav: 'overview' };
  if (top === 'jobs') return id ? { name: 'job', params: { ...query, id }, nav: 'jobs' } : { name: 'jobs', params: query, nav: 'jobs' };
  if (top === 'submit') return { name: 'submit', params: { ...query, tool: id || '' }, nav: 'submit' };
  if (top === 'workflows' || top === 'invocations') {
    const single = top.slice(0, -1);
    const name = id && pages.has(single) ? single : top;
    return { name, params: { ...query, id: id || '' }, nav: top };
  }
  return { name: 'notfound', params: { path: h }, nav: '' };
}

/** A hash for a page and its query ({} values that are empty are left out). */
export function makeHash(path, query) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null && v !== '') qs.set(k, v);
  const s = qs.toString();
  return '#' + path + (s ? '?' + s : '');
}

/** Go to a hash (a new history entry unless replace). */
export function navigate(hash, replace = false) {
  if (replace) { history.replaceState(null, '', hash); route(); } else location.hash = hash;
}

function root() { return document.getElementById('main'); }

async function route() {
  const r = parseHash(location.hash);
  if (!r) return;
  const key = location.hash || '#/';
  if (current && current.key === key && current.page === pages.get(r.name)) return;
  if (current && current.page && current.page.stop) {
    try { current.page.stop(); } catch (e) { console.warn('stop failed', e); }
  }
  clearError();
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === r.nav) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  const nav = document.getElementById('site-nav');
  if (nav) nav.classList.remove('open');
  const toggle = document.getElementById('nav-toggle');
  if (toggle) toggle.setAttribute('aria-expanded', 'false');
  const page = pages.get(r.name);
  const main = root();
  current = { page, key };
  if (!page) {
    main.replaceChildren(el('h1', {}, 'Not found'),
      el('p', {}, 'No page here (', el('code', {}, location.hash), '). ', el('a', { href: '#/' }, 'Back to the overview')));
    document.title = 'Not found · muleteer';
    return;
  }
  main.replaceChildren();
  try {
    await page.render(r.params, main);
  } catch (e) {
    if (current && current.page === page && current.key === key) {
      main.append(el('p', { class: 'error-banner', role: 'alert' }, 'This page failed: ' + (e && e.message || e)));
    }
  }
}

/** Whether the page rendered for key is still the one shown (async renders check it before writing). */
export function isCurrent(page) { return current && current.page === page; }

export function startRouter() {
  started = true;
  window.addEventListener('hashchange', route);
  route();
}
