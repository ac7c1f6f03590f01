// The Workflows pages: #/workflows lists the workflows; #/workflows/ID draws one
// as a graph (js/graph.js), lists its steps in words (the graph's text
// alternative), and offers an Invoke form generated from the workflow's inputs
// (js/inputs.js): POST /api/workflows/ID/invocations, then the new invocation's
// page; a 400 is shown next to the form with the API's message.

import { registerPage, isCurrent, navigate } from '../router.js';
import { api, el, ApiError } from '../api.js';
import { inputForm, dataChoices } from '../inputs.js';
import { fill, mountGraph, ensureStyles, stepSources } from '../graph.js';

const listPage = {
  async render(params, root) {
    ensureStyles();
    if (params.id) return renderWorkflow(params.id, root, listPage);
    return renderList(root);
  },
  stop() {},
};

const onePage = {
  async render(params, root) {
    ensureStyles();
    return renderWorkflow(params.id, root, onePage);
  },
  stop() {},
};

async function renderList(root) {
  document.title = 'Workflows · muleteer';
  fill(root, el('h1', {}, 'Workflows'), el('p', { class: 'note' }, 'Loading…'));
  const body = await api('api/workflows');
  if (!isCurrent(listPage)) return;
  const wfs = (body && body.workflows) || [];
  fill(root, 
    el('h1', {}, 'Workflows'),
    el('p', {}, el('a', { href: '#/invocations' }, 'Invocations')),
    wfs.length
      ? el('ul', { class: 'wf-list', id: 'workflow-list', 'aria-label': 'Workflows' },
        wfs.map((w) => el('li', { 'data-workflow': w.id },
          el('a', { href: '#/workflows/' + encodeURIComponent(w.id) }, w.name || w.id), ' ', el('code', {}, w.id),
          el('p', {}, w.description || ''),
          el('p', {}, `${w.steps} step${w.steps === 1 ? '' : 's'}; from ${w.source === 'api' ? 'the API' : 'the workflows directory'}`))))
      : el('p', {}, 'No workflows are installed.'));
}

/** The steps of a workflow in words: each step, its tool, and where each of its inputs comes from. */
export function stepsInWords(wf, states) {
  return el('ol', { class: 'step-list', 'aria-label': 'Steps' },
    (wf.steps || []).map((s) => {
      const srcs = stepSources(s).map((x) => x.kind === 'input'
        ? `${x.into} from workflow input ${x.ref}` : `${x.into} from ${x.ref}.${x.output}`);
      const st = states && states[s.id];
      return el('li', { 'data-step': s.id },
        el('strong', {}, s.id), ` runs ${s.tool}`, srcs.length ? ` (${srcs.join('; ')})` : '',
        st ? [': ', el('span', { class: 'badge s-' + st.state, 'data-state': st.state }, st.state.replace('_', ' ')),
          st.job_id ? [' ', el('a', { href: '#/jobs/' + encodeURIComponent(st.job_id) }, 'job ' + st.job_id)] : '',
          st.info ? ' \u2014 ' + st.info : ''] : '');
    }));
}

async function renderWorkflow(id, root, page) {
  document.title = `Workflow ${id} · muleteer`;
  fill(root, el('h1', {}, 'Workflow ' + id), el('p', { class: 'note' }, 'Loading…'));
  let wf;
  try {
    wf = await api('api/workflows/' + encodeURIComponent(id));
  } catch (e) {
    if (!isCurrent(page)) return;
    fill(root, el('h1', {}, 'Workflow ' + id), el('p', { class: 'form-error', role: 'alert' }, e.message),
      el('p', {}, el('a', { href: '#/workflows' }, 'All workflows')));
    return;
  }
  const inputs = wf.inputs || [];
  let choices = [];
  if (inputs.some((i) => i.type === 'data')) {
    try { choices = await dataChoices(); } catch (e) { choices = []; }
  }
  if (!isCurrent(page)) return;
  const graphBox = el('div', { class: 'graph-wrap', id: 'wf-graph', tabindex: '0', role: 'region', 'aria-labelledby': 'wf-graph-title' });
  mountGraph(graphBox, wf, { title: `Graph of workflow ${wf.id}: its inputs and steps, arrows from each source to the step it feeds` });
  const f = inputForm(inputs, {
    prefix: 'invoke', submitLabel: 'Invoke', choices,
    async onSubmit(values) {
      f.clearErrors();
      try {
        const inv = await api(`api/workflows/${encodeURIComponent(wf.id)}/invocations`,
          { method: 'POST', body: { inputs: values } });
        navigate('#/invocations/' + encodeURIComponent(inv.id));
      } catch (e) {
        f.showError(e instanceof ApiError ? e.message : String(e && e.message || e));
      }
    },
  });
  fill(root, 
    el('p', {}, el('a', { href: '#/workflows' }, '\u2190 All workflows')),
    el('h1', {}, wf.name || wf.id),
    el('p', {}, el('code', {}, wf.id), ` \u2014 ${(wf.steps || []).length} steps; `,
      el('a', { href: '#/invocations?workflow_id=' + encodeURIComponent(wf.id) }, 'its invocations')),
    wf.description ? el('p', { class: 'note' }, wf.description) : null,
    el('h2', { id: 'wf-graph-title' }, 'Graph'),
    graphBox,
    el('h2', {}, 'Steps'),
    stepsInWords(wf),
    el('h2', { id: 'invoke-title' }, 'Invoke'),
    f.form);
  f.form.setAttribute('aria-labelledby', 'invoke-title');
}

registerPage('workflows', listPage);
registerPage('workflow', onePage);
