// The Submit page: #/submit lists the tools; #/submit/TOOL shows a form
// generated from the tool's inputs (js/inputs.js) and creates a job with
// POST /api/jobs. A 400 is shown next to the form with the API's own message
// (the input it names is marked); a 201 goes to the new job's page.

import { registerPage, isCurrent, navigate } from '../router.js';
import { api, el, ApiError } from '../api.js';
import { inputForm, dataChoices } from '../inputs.js';
import { fill, ensureStyles } from '../graph.js';

const page = {
  async render(params, root) {
    ensureStyles();
    if (!params.tool) return renderList(root);
    return renderTool(params.tool, root);
  },
  stop() {},
};

async function renderList(root) {
  document.title = 'Submit · muleteer';
  fill(root, el('h1', {}, 'Submit a job'), el('p', { class: 'note' }, 'Loading the tools…'));
  const body = await api('api/tools');
  if (!isCurrent(page)) return;
  const tools = (body && body.tools) || [];
  fill(root, 
    el('h1', {}, 'Submit a job'),
    el('p', { class: 'note' }, 'Choose a tool; its form lists its inputs.'),
    tools.length
      ? el('ul', { class: 'tool-list', id: 'tool-list', 'aria-label': 'Tools' },
        tools.map((t) => el('li', { 'data-tool': t.id },
          el('a', { href: '#/submit/' + encodeURIComponent(t.id) }, t.name || t.id),
          ' ', el('code', {}, t.id),
          el('p', {}, t.description || ''),
          el('p', {}, `${(t.inputs || []).length} input${(t.inputs || []).length === 1 ? '' : 's'}`))))
      : el('p', {}, 'No tools are installed.'));
}

async function renderTool(toolId, root) {
  document.title = `Submit ${toolId} · muleteer`;
  fill(root, el('h1', {}, 'Submit a job'), el('p', { class: 'note' }, 'Loading the tool…'));
  let tool;
  try {
    tool = await api('api/tools/' + encodeURIComponent(toolId));
  } catch (e) {
    if (!isCurrent(page)) return;
    fill(root, el('h1', {}, 'Submit a job'),
      el('p', { class: 'form-error', role: 'alert' }, e.message),
      el('p', {}, el('a', { href: '#/submit' }, 'All tools')));
    return;
  }
  const inputs = tool.inputs || [];
  let choices = [];
  if (inputs.some((i) => i.type === 'data')) {
    try { choices = await dataChoices(); } catch (e) { choices = []; }
  }
  if (!isCurrent(page)) return;
  const f = inputForm(inputs, {
    prefix: 'submit', submitLabel: 'Submit job', choices,
    async onSubmit(values) {
      f.clearErrors();
      try {
        const job = await api('api/jobs', { method: 'POST', body: { tool_id: tool.id, inputs: values } });
        navigate('#/jobs/' + encodeURIComponent(job.id));
      } catch (e) {
        if (e instanceof ApiError) f.showError(e.message);
        else f.showError(String(e && e.message || e));
      }
    },
  });
  fill(root, 
    el('p', {}, el('a', { href: '#/submit' }, '\u2190 All tools')),
    el('h1', {}, tool.name || tool.id),
    el('p', {}, el('code', {}, tool.id), ` version ${tool.version || '?'}` +
      (tool.walltime ? `, walltime ${tool.walltime} s` : '')),
    tool.description ? el('p', { class: 'note' }, tool.description) : null,
    el('h2', { id: 'submit-inputs-title' }, 'Inputs'),
    f.form,
    (tool.outputs || []).length
      ? el('p', { class: 'note' }, 'Outputs: ' + tool.outputs.map((o) => o.name).join(', '))
      : null);
  f.form.setAttribute('aria-labelledby', 'submit-inputs-title');
  f.form.dataset.tool = tool.id;
}

registerPage('submit', page);
