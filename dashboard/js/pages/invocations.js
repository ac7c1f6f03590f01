// The Invocations pages. #/invocations lists the invocations of workflows,
// newest first, filtered by workflow and state (kept in the URL's hash) and
// paged with limit/offset. #/invocations/ID draws the invocation's workflow as
// a graph coloured by each step's state (js/graph.js, with a legend and the
// state written in each node and in the list of steps beside it), each step
// linking to its job, and polls the invocation every 1.5 s (js/live.js) until
// it ends; a Cancel button, confirmed in the page, sends DELETE.

import { registerPage, isCurrent, navigate, makeHash } from '../router.js';
import { api, el, badge, fmtTime, ApiError } from '../api.js';
import { poll } from '../live.js';
import { fill, mountGraph, ensureStyles, stateLegend } from '../graph.js';
import { stepsInWords } from './workflows.js';

const INVOCATION_STATES = ['new', 'scheduling', 'ok', 'failed', 'cancelled'];
const ENDED = ['ok', 'failed', 'cancelled'];
const PAGE_SIZE = 25;

let poller = null;
let renderSeq = 0;  // the render shown: an older one still awaiting an answer (another id's) writes nothing

function shown(page, seq) { return isCurrent(page) && seq === renderSeq; }

function stopPolling() {
  if (poller) { poller.stop(); poller = null; }
}

const listPage = {
  async render(params, root) {
    ensureStyles();
    stopPolling();
    if (params.id) return renderOne(params.id, root, listPage);
    return renderList(params, root);
  },
  stop: stopPolling,
};

const onePage = {
  async render(params, root) {
    ensureStyles();
    stopPolling();
    return renderOne(params.id, root, onePage);
  },
  stop: stopPolling,
};

function canonicalOffset(v) {
  return /^(0|[1-9][0-9]{0,8})$/.test(v || '') ? Number(v) : 0;
}

async function renderList(params, root) {
  const seq = ++renderSeq;
  document.title = 'Invocations · muleteer';
  const workflowId = params.workflow_id || '';
  const state = INVOCATION_STATES.includes(params.state) ? params.state : '';
  const offset = canonicalOffset(params.offset);
  const title = el('h1', {}, 'Invocations');
  fill(root, title, el('p', { class: 'note' }, 'Loading…'));
  const [wfs, body] = await Promise.all([
    api('api/workflows').catch(() => ({ workflows: [] })),
    api('api/invocations', { query: { workflow_id: workflowId, state, limit: PAGE_SIZE, offset } }),
  ]);
  if (!shown(listPage, seq)) return;

  const wfSelect = el('select', { id: 'inv-filter-workflow', name: 'workflow_id' },
    el('option', { value: '' }, 'any'),
    (wfs.workflows || []).map((w) => el('option', { value: w.id }, w.id)));
  wfSelect.value = workflowId;
  if (workflowId && wfSelect.value !== workflowId) {
    wfSelect.append(el('option', { value: workflowId }, workflowId));
    wfSelect.value = workflowId;
  }
  const stSelect = el('select', { id: 'inv-filter-state', name: 'state' },
    el('option', { value: '' }, 'any'), INVOCATION_STATES.map((s) => el('option', { value: s }, s)));
  stSelect.value = state;
  const filters = el('form', { class: 'filters', id: 'inv-filters', 'aria-label': 'Filter invocations' },
    el('div', { class: 'field' }, el('label', { for: 'inv-filter-workflow' }, 'Workflow'), wfSelect),
    el('div', { class: 'field' }, el('label', { for: 'inv-filter-state' }, 'State'), stSelect),
    el('div', { class: 'actions' }, el('button', { type: 'submit' }, 'Filter'),
      el('a', { class: 'button secondary', href: '#/invocations' }, 'Clear')));
  filters.addEventListener('submit', (ev) => {
    ev.preventDefault();
    navigate(makeHash('/invocations', { workflow_id: wfSelect.value, state: stSelect.value }));
  });

  const rows = (body.invocations || []).map((inv) => el('tr', { 'data-invocation': inv.id },
    el('td', { class: 'num' }, el('a', { href: '#/invocations/' + encodeURIComponent(inv.id) }, inv.id)),
    el('td', {}, el('a', { href: '#/workflows/' + encodeURIComponent(inv.workflow_id) }, inv.workflow_id)),
    el('td', {}, badge(inv.state)),
    el('td', {}, inv.handler || '–'),
    el('td', {}, inv.user || '–'),
    el('td', {}, fmtTime(inv.create_time)),
    el('td', {}, fmtTime(inv.end_time))));
  const total = body.total || 0;
  const from = total ? offset + 1 : 0;
  const to = offset + (body.invocations || []).length;
  const q = { workflow_id: workflowId, state };
  const prev = offset > 0 ? el('a', { class: 'button secondary', id: 'inv-prev', rel: 'prev',
    href: makeHash('/invocations', { ...q, offset: Math.max(0, offset - PAGE_SIZE) || '' }) }, '\u2190 Newer') : null;
  const next = to < total ? el('a', { class: 'button secondary', id: 'inv-next', rel: 'next',
    href: makeHash('/invocations', { ...q, offset: offset + PAGE_SIZE }) }, 'Older \u2192') : null;
  fill(root, 
    title,
    el('p', {}, 'Start one from a ', el('a', { href: '#/workflows' }, 'workflow'), '\u2019s page.'),
    filters,
    rows.length
      ? el('div', { class: 'table-wrap' }, el('table', { id: 'inv-table' },
        el('caption', {}, `Invocations ${from}\u2013${to} of ${total}`),
        el('thead', {}, el('tr', {}, ['Id', 'Workflow', 'State', 'Handler', 'User', 'Created', 'Ended']
          .map((h, i) => el('th', { scope: 'col', class: i === 0 ? 'num' : null }, h)))),
        el('tbody', {}, rows)))
      : el('p', { id: 'inv-empty' }, total ? 'No invocations on this page.' : 'No invocations match.'),
    el('nav', { class: 'pager', 'aria-label': 'Pages of invocations' }, prev, el('span', { id: 'inv-range' },
      `${from}\u2013${to} of ${total}`), next));
}

function statesOf(inv) {
  const m = {};
  for (const s of inv.steps || []) m[s.id] = s;
  return m;
}

async function renderOne(id, root, page) {
  const seq = ++renderSeq;
  document.title = `Invocation ${id} · muleteer`;
  fill(root, el('h1', {}, 'Invocation ' + id), el('p', { class: 'note' }, 'Loading…'));
  let inv, wf;
  try {
    inv = await api('api/invocations/' + encodeURIComponent(id));
    wf = await api('api/workflows/' + encodeURIComponent(inv.workflow_id));
  } catch (e) {
    if (!shown(page, seq)) return;
    fill(root, el('h1', {}, 'Invocation ' + id), el('p', { class: 'form-error', role: 'alert' }, e.message),
      el('p', {}, el('a', { href: '#/invocations' }, 'All invocations')));
    return;
  }
  if (!shown(page, seq)) return;

  const graphBox = el('div', { class: 'graph-wrap', id: 'inv-graph', tabindex: '0', role: 'region', 'aria-labelledby': 'inv-graph-title' });
  const g = mountGraph(graphBox, wf, { states: statesOf(inv),
    title: `Graph of invocation ${inv.id} of workflow ${wf.id}: each step with its state` });
  const stateBadge = el('span', { id: 'inv-state', 'aria-live': 'polite' });
  const props = el('dl', { class: 'props', id: 'inv-props' });
  const stepsBox = el('div', { id: 'inv-steps' });
  const infoBox = el('p', { id: 'inv-info', class: 'notice', hidden: true });
  const msg = el('p', { class: 'form-error', id: 'inv-cancel-error', role: 'alert' });
  const cancelBtn = el('button', { type: 'button', class: 'danger', id: 'inv-cancel' }, 'Cancel invocation');
  const confirmBox = el('div', { class: 'toolbar', id: 'inv-confirm', hidden: true, role: 'group', 'aria-labelledby': 'inv-confirm-q' },
    el('span', { id: 'inv-confirm-q' }, `Cancel invocation ${inv.id}? Its unfinished steps end cancelled and their running jobs are stopped.`),
    el('button', { type: 'button', class: 'danger', id: 'inv-confirm-yes' }, 'Yes, cancel it'),
    el('button', { type: 'button', class: 'secondary', id: 'inv-confirm-no' }, 'No, keep it'));

  function show(cur) {
    inv = cur;
    stateBadge.replaceChildren(badge(cur.state));
    stateBadge.dataset.state = cur.state;
    props.replaceChildren(
      el('dt', {}, 'Workflow'), el('dd', {}, el('a', { href: '#/workflows/' + encodeURIComponent(cur.workflow_id) }, cur.workflow_id)),
      el('dt', {}, 'Handler'), el('dd', {}, cur.handler || '–'),
      el('dt', {}, 'User'), el('dd', {}, cur.user || '–'),
      el('dt', {}, 'Inputs'), el('dd', {}, el('code', {}, JSON.stringify(cur.inputs || {}))),
      el('dt', {}, 'Created'), el('dd', {}, fmtTime(cur.create_time)),
      el('dt', {}, 'Claimed'), el('dd', {}, fmtTime(cur.claim_time)),
      el('dt', {}, 'Ended'), el('dd', {}, fmtTime(cur.end_time)));
    const states = statesOf(cur);
    g.update(states);
    stepsBox.replaceChildren(stepsInWords(wf, states));
    if (cur.info) { infoBox.textContent = typeof cur.info === 'string' ? cur.info : JSON.stringify(cur.info); infoBox.hidden = false; }
    else infoBox.hidden = true;
    const ended = ENDED.includes(cur.state);
    cancelBtn.hidden = ended;
    if (ended) confirmBox.hidden = true;
    return ended;
  }

  cancelBtn.addEventListener('click', () => {
    confirmBox.hidden = false;
    document.getElementById('inv-confirm-no').focus();
  });
  confirmBox.querySelector('#inv-confirm-no').addEventListener('click', () => {
    confirmBox.hidden = true;
    cancelBtn.focus();
  });
  confirmBox.querySelector('#inv-confirm-yes').addEventListener('click', async () => {
    msg.textContent = '';
    try {
      const cur = await api('api/invocations/' + encodeURIComponent(inv.id), { method: 'DELETE' });
      if (cur && cur.id) show({ ...inv, ...cur, steps: cur.steps || inv.steps });
    } catch (e) {
      msg.textContent = e instanceof ApiError ? e.message : String(e && e.message || e);
    }
    confirmBox.hidden = true;
    if (poller) poller.now(); else startPolling();
  });

  fill(root, 
    el('p', {}, el('a', { href: '#/invocations' }, '\u2190 All invocations')),
    el('div', { class: 'inv-head' }, el('h1', {}, `Invocation ${inv.id}`), stateBadge),
    el('div', { class: 'toolbar' }, cancelBtn), confirmBox, msg,
    infoBox,
    el('h2', { id: 'inv-graph-title' }, 'Graph'),
    stateLegend(),
    graphBox,
    el('h3', {}, 'Steps in words'),
    stepsBox,
    el('h2', {}, 'Details'),
    props);
  const endedNow = show(inv);

  function startPolling() {
    stopPolling();
    const me = poll(async () => {
      const cur = await api('api/invocations/' + encodeURIComponent(id));
      if (!shown(page, seq) || poller !== me) return;
      if (show(cur)) stopPolling();
    }, { interval: 1500 });
    poller = me;
  }
  if (!endedNow) startPolling();
}

registerPage('invocations', listPage);
registerPage('invocation', onePage);
