// The jobs list: filters (state, tool, handler, user, creation time range) in a
// labelled form kept in the URL's hash (#/jobs?state=ok&tool_id=echo&...), so that
// a filtered view can be linked and reloaded, and keyset paging: "Older" asks for
// the jobs before the last id shown (before_id), which the database answers from
// an index however deep the page, where an offset would read and skip every row
// before it. "Newer" goes back through the pages seen (kept in the hash as
// `newer`, a stack of before ids). The list refreshes every 5 s while shown.
//
// A filter the server does not take (it answers 400 "unknown query parameter")
// is reported next to the form and left out, rather than silently ignored.
// The first list shown marks the performance timeline ('muleteer:jobs-rendered':
// its startTime is the time to first render since the page's navigation began).

import { registerPage, makeHash, navigate } from '../router.js';
import { api, el, badge, fmtTime, fmtDuration, fmtNumber, secondsBetween, JOB_STATES, ApiError } from '../api.js';
import { poll } from '../live.js';
import { isCapped } from './overview.js';

const PAGE_SIZE = 50;
const FILTERS = ['state', 'tool_id', 'handler', 'user', 'from', 'to'];
let toolsCache = null;
const unsupported = new Set();

function toIso(local) {
  if (!local) return '';
  const d = new Date(local);
  return isNaN(d) ? '' : d.toISOString();
}

function field(id, label, control) {
  return el('div', { class: 'field' }, el('label', { for: id }, label), control);
}

function filterForm(params, tools) {
  const state = el('select', { id: 'f-state', name: 'state' }, el('option', { value: '' }, 'any'),
    JOB_STATES.map((s) => el('option', { value: s, selected: params.state === s }, s)));
  const tool = el('select', { id: 'f-tool', name: 'tool_id' }, el('option', { value: '' }, 'any'),
    tools.map((t) => el('option', { value: t.id, selected: params.tool_id === t.id }, t.id)));
  if (params.tool_id && !tools.some((t) => t.id === params.tool_id)) {
    tool.append(el('option', { value: params.tool_id, selected: true }, params.tool_id));
  }
  const input = (id, name, type = 'text') => el('input', { id, name, type, value: params[name] || '', autocomplete: 'off' });
  const form = el('form', { class: 'filters', id: 'job-filters', role: 'search', 'aria-label': 'Filter jobs' },
    field('f-state', 'State', state),
    field('f-tool', 'Tool', tool),
    field('f-handler', 'Handler', input('f-handler', 'handler')),
    field('f-user', 'User', input('f-user', 'user')),
    field('f-from', 'Created from', input('f-from', 'from', 'datetime-local')),
    field('f-to', 'Created before', input('f-to', 'to', 'datetime-local')),
    el('div', { class: 'actions' },
      el('button', { type: 'submit', id: 'f-apply' }, 'Apply'),
      el('button', { type: 'button', class: 'secondary', id: 'f-clear', onclick: () => navigate('#/jobs') }, 'Clear')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = {};
    for (const k of FILTERS) {
      const v = form.elements[k].value.trim();
      if (v) q[k] = v;
    }
    navigate(makeHash('/jobs', q));
  });
  return form;
}

function apiQuery(params) {
  const q = { limit: PAGE_SIZE, state: params.state, tool_id: params.tool_id, handler: params.handler,
    user: params.user, created_after: toIso(params.from), created_before: toIso(params.to), before_id: params.before };
  for (const k of unsupported) delete q[k];
  return q;
}

/** The list, leaving out (and naming) the parameters the server refuses as unknown. */
async function fetchJobs(params) {
  for (let i = 0; i < 6; i++) {
    try {
      return await api('api/jobs', { query: apiQuery(params) });
    } catch (e) {
      const m = e instanceof ApiError && e.status === 400 && /unknown query parameter '([^']+)'/.exec(e.message);
      if (!m || unsupported.has(m[1])) throw e;
      unsupported.add(m[1]);
    }
  }
  throw new Error('the server refuses the list\'s parameters');
}

function row(j) {
  const run = j.start_time ? fmtDuration(secondsBetween(j.start_time, j.end_time)) : '–';
  return el('tr', { 'data-job-id': j.id },
    el('th', { scope: 'row', class: 'num' }, el('a', { href: '#/jobs/' + encodeURIComponent(j.id) }, j.id)),
    el('td', {}, j.tool_id),
    el('td', {}, badge(j.state)),
    el('td', {}, j.user ?? '–'),
    el('td', {}, j.handler ?? '–'),
    el('td', {}, fmtTime(j.create_time)),
    el('td', { class: 'num' }, run));
}

const page = {
  render(params, root) {
    document.title = 'Jobs · muleteer';
    const token = {};
    this.token = token;
    // the tools fill the Tool menu when they come; the list does not wait for them
    const tools = toolsCache || [];
    if (!toolsCache) {
      api('api/tools').then((r) => {
        toolsCache = r.tools || [];
        const sel = document.getElementById('f-tool');
        if (this.token !== token || !sel) return;
        for (const t of toolsCache) {
          if (![...sel.options].some((o) => o.value === t.id)) sel.append(el('option', { value: t.id }, t.id));
        }
      }).catch(() => { /* the menu keeps 'any' and the tool asked for */ });
    }
    const status = el('p', { id: 'jobs-status', role: 'status', 'aria-live': 'polite' }, 'Loading…');
    const warn = el('div', { id: 'jobs-warn' });
    const tableBox = el('div', { class: 'table-wrap' });
    const pager = el('nav', { class: 'pager', 'aria-label': 'Pages' });
    root.replaceChildren(el('h1', {}, 'Jobs'), filterForm(params, tools), warn, status, tableBox, pager);

    const newer = (params.newer || '').split(',').filter(Boolean);
    const base = {};
    for (const k of FILTERS) if (params[k]) base[k] = params[k];

    let shown = '';
    const load = async () => {
      const t0 = performance.now();
      const r = await fetchJobs(params);
      if (this.token !== token) return;
      const ms = performance.now() - t0;
      const used = FILTERS.filter((k) => params[k]).map((k) => ({ from: 'created_after', to: 'created_before' }[k] || k));
      const ignored = used.filter((k) => unsupported.has(k));
      warn.replaceChildren(ignored.length ? el('p', { class: 'notice' },
        'This server does not filter by ' + ignored.join(', ') + ': the list is shown without ' + (ignored.length > 1 ? 'these filters' : 'this filter') + '.') : '');
      const jobs = r.jobs || [];
      const sig = JSON.stringify(r);
      if (sig === shown) return;           // unchanged: keep the DOM (and the keyboard focus) as it is
      shown = sig;
      const total = r.total === undefined || r.total === null ? null : r.total;
      status.textContent = (total === null ? '' : (isCapped(r) ? 'more than ' : '') + fmtNumber(total) + (total === 1 ? ' job matches; ' : ' jobs match; ')) +
        (jobs.length ? 'showing ' + jobs.length + (params.before ? ' older than job ' + params.before : ' newest') : 'no jobs to show') +
        ' (' + Math.round(ms) + ' ms).';
      tableBox.replaceChildren(el('table', { id: 'jobs-table' },
        el('caption', { class: 'sr-only' }, 'Jobs, newest first'),
        el('thead', {}, el('tr', {}, ['ID', 'Tool', 'State', 'User', 'Handler', 'Created', 'Run time']
          .map((h, i) => el('th', { scope: 'col', class: i === 0 || i === 6 ? 'num' : null }, h)))),
        el('tbody', {}, jobs.map(row))));
      const keyset = !unsupported.has('before_id');
      const last = r.next_before_id || (jobs.length ? jobs[jobs.length - 1].id : null);
      const hasOlder = 'next_before_id' in r ? r.next_before_id !== null : jobs.length === PAGE_SIZE;
      const newerBtn = el('button', { type: 'button', class: 'secondary', id: 'page-newer', disabled: !params.before,
        onclick: () => {
          const stack = newer.slice(0, -1);
          const prev = newer[newer.length - 1];
          navigate(makeHash('/jobs', { ...base, before: prev && prev !== 'top' ? prev : '', newer: stack.join(',') }));
        } }, '← Newer');
      const newestBtn = el('button', { type: 'button', class: 'secondary', id: 'page-newest', disabled: !params.before,
        onclick: () => navigate(makeHash('/jobs', base)) }, 'Newest');
      const olderBtn = el('button', { type: 'button', class: 'secondary', id: 'page-older', disabled: !hasOlder || !keyset,
        onclick: () => navigate(makeHash('/jobs', { ...base, before: last, newer: [...newer, params.before || 'top'].join(',') })) }, 'Older →');
      if (!performance.getEntriesByName('muleteer:jobs-rendered').length) performance.mark('muleteer:jobs-rendered');
      pager.replaceChildren(newestBtn, newerBtn, olderBtn,
        keyset ? '' : el('span', { class: 'note' }, 'This server does not page by id (before_id): only the newest jobs are listed.'));
    };
    this.poller = poll(load, { interval: 5000, onError: (e) => {
      if (this.token === token && e.status !== 0 && !(e.status >= 502)) {
        status.replaceChildren(el('span', { class: 'error-banner', role: 'alert' }, 'The jobs cannot be listed: ' + e.message));
      }
    } });
  },
  stop() {
    this.token = null;
    if (this.poller) this.poller.stop();
    this.poller = null;
  },
};

registerPage('jobs', page);
