// Forms generated from the inputs of a tool (GET /api/tools/{id}) or of a
// workflow (GET /api/workflows/{id}), shared by the Submit and Workflows pages.
//
// One labelled field per input, its description and limits written under it:
// integer and float as text fields (what is typed goes to the server as typed,
// so its validation, and its message, is the API's own), text, boolean as a
// checkbox, select as a list of its options, data as a list of the outputs of
// jobs that ended ok. The form validates nothing itself (novalidate): the
// server's 400 is shown next to the form as its err_msg, and when the message
// names an input ("input 'seconds': ...") that field is marked invalid,
// described by the message, and focused.
//
// An input left empty is not sent, so the server applies its default or says
// that it is required.

import { api, el } from './api.js';

/**
 * The outputs of recently finished jobs a data input may take: [{job, output, tool, size}], newest first.
 * Only tools that declare outputs are asked about (GET /api/jobs?state=ok&tool_id=T), so a flood of recent
 * jobs without outputs (benchmarks of `true`) does not hide the ones that have some; then the newest `limit`
 * of those jobs' outputs that exist (GET /api/jobs/ID/outputs).
 */
export async function dataChoices(limit = 25) {
  const tools = ((await api('api/tools')) || {}).tools || [];
  const lists = await Promise.all(tools.filter((t) => (t.outputs || []).length).map((t) =>
    api('api/jobs', { query: { state: 'ok', tool_id: t.id, limit } }).then((b) => (b && b.jobs) || [], () => [])));
  const jobs = lists.flat().sort((a, b) => (BigInt(b.id) > BigInt(a.id) ? 1 : -1)).slice(0, limit);
  const outs = await Promise.all(jobs.map((j) =>
    api(`api/jobs/${encodeURIComponent(j.id)}/outputs`).then((o) => ({ job: j, outputs: o.outputs || [] }),
      () => ({ job: j, outputs: [] }))));
  const choices = [];
  for (const { job, outputs } of outs) {
    for (const o of outputs) {
      if (o.exists) choices.push({ job: String(job.id), output: o.name, tool: job.tool_id, size: o.size });
    }
  }
  return choices;
}

function limitsText(inp) {
  const parts = [];
  const t = inp.type;
  if (t === 'integer') parts.push('a whole number');
  else if (t === 'float') parts.push('a number');
  else if (t === 'text') parts.push('text' + (inp.max_length ? `, at most ${inp.max_length} bytes` : ''));
  else if (t === 'boolean') parts.push('yes or no');
  else if (t === 'select') parts.push('one of ' + (inp.options || []).join(', '));
  else if (t === 'data') parts.push('an output of a job that ended ok');
  if (inp.min !== undefined && inp.min !== null && inp.max !== undefined && inp.max !== null) parts.push(`from ${inp.min} to ${inp.max}`);
  else if (inp.min !== undefined && inp.min !== null) parts.push(`at least ${inp.min}`);
  else if (inp.max !== undefined && inp.max !== null) parts.push(`at most ${inp.max}`);
  if (isRequired(inp)) parts.push('required');
  else if (inp.default !== undefined && inp.default !== null && t !== 'boolean') parts.push(`default ${JSON.stringify(inp.default)}`);
  return parts.join('; ');
}

/** Whether an input must be given: the tool says so, or (workflows) it has no default. */
export function isRequired(inp) {
  if (typeof inp.required === 'boolean') return inp.required;
  return inp.default === undefined || inp.default === null;
}

function fieldId(prefix, name) { return `${prefix}-in-${name}`; }

function choiceLabel(c) {
  return `job ${c.job} (${c.tool}): ${c.output}` + (typeof c.size === 'number' ? `, ${c.size} B` : '');
}

/**
 * A form for inputs: returns {form, values(), showError(msg), clearErrors()}.
 * opts.prefix: unique id prefix; opts.submitLabel; opts.choices: dataChoices() result; opts.onSubmit(values).
 */
export function inputForm(inputs, opts = {}) {
  const prefix = opts.prefix || 'f';
  const errorBox = el('p', { class: 'form-error', id: `${prefix}-error`, role: 'alert', 'aria-live': 'assertive' });
  const fields = new Map();
  const form = el('form', { class: 'input-form', novalidate: true, id: `${prefix}-form`, 'data-inputs': inputs.length });
  for (const inp of inputs) {
    const id = fieldId(prefix, inp.name);
    const hintId = id + '-hint';
    const errId = id + '-err';
    const title = inp.label || inp.name;
    const hint = [inp.description, `${inp.name}: ${limitsText(inp)}`].filter(Boolean).join(' \u2014 ');
    const label = el('label', { for: id }, title, isRequired(inp) && inp.type !== 'boolean' ? el('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null);
    let control;
    const common = { id, name: inp.name, 'aria-describedby': hintId, 'data-type': inp.type };
    if (inp.type === 'boolean') {
      control = el('input', { ...common, type: 'checkbox' });
      control.checked = inp.default === true || inp.default === 'true';
    } else if (inp.type === 'select') {
      control = el('select', common,
        isRequired(inp) ? el('option', { value: '' }, '\u2014 choose \u2014') : null,
        (inp.options || []).map((o) => el('option', { value: o }, o)));
      if (!isRequired(inp) && inp.default !== undefined && inp.default !== null) control.value = String(inp.default);
    } else if (inp.type === 'data') {
      const choices = opts.choices || [];
      control = el('select', common,
        el('option', { value: '' }, choices.length ? '\u2014 choose an output \u2014' : '\u2014 no finished job has an output yet \u2014'),
        choices.map((c) => el('option', { value: JSON.stringify({ job: c.job, output: c.output }) }, choiceLabel(c))));
    } else {
      control = el('input', {
        ...common, type: 'text', autocomplete: 'off', spellcheck: inp.type === 'text' ? 'true' : 'false',
        inputmode: inp.type === 'integer' ? 'numeric' : inp.type === 'float' ? 'decimal' : null,
      });
      if (inp.default !== undefined && inp.default !== null) control.value = String(inp.default);
    }
    if (isRequired(inp) && inp.type !== 'boolean') control.setAttribute('aria-required', 'true');
    const err = el('p', { class: 'field-error', id: errId, hidden: true });
    const field = el('div', { class: 'field' + (inp.type === 'boolean' ? ' check' : ''), 'data-input': inp.name },
      inp.type === 'boolean' ? [control, label] : [label, control],
      el('p', { class: 'hint', id: hintId }, hint), err);
    fields.set(inp.name, { inp, control, field, err, hintId, errId });
    form.append(field);
  }
  if (!inputs.length) form.append(el('p', { class: 'note' }, 'No inputs: submit as it is.'));
  const submit = el('button', { type: 'submit', id: `${prefix}-submit` }, opts.submitLabel || 'Submit');
  form.append(el('div', { class: 'actions' }, submit), errorBox);

  function values() {
    const out = {};
    for (const [name, f] of fields) {
      const { inp, control } = f;
      if (inp.type === 'boolean') { out[name] = control.checked; continue; }
      const v = control.value;
      if (v === '') continue;
      if (inp.type === 'data') out[name] = JSON.parse(v);
      else out[name] = v;  // numbers as typed: the server reads "12" and "2.5" and says what is wrong otherwise
    }
    return out;
  }

  function clearErrors() {
    errorBox.textContent = '';
    for (const f of fields.values()) {
      f.field.classList.remove('invalid');
      f.control.removeAttribute('aria-invalid');
      f.control.setAttribute('aria-describedby', f.hintId);
      f.err.hidden = true;
      f.err.textContent = '';
    }
  }

  function showError(msg) {
    clearErrors();
    errorBox.textContent = msg;
    const m = /\binput '([^']+)'/.exec(msg);
    const f = m && fields.get(m[1]);
    if (f) {
      f.field.classList.add('invalid');
      f.control.setAttribute('aria-invalid', 'true');
      f.control.setAttribute('aria-describedby', `${f.errId} ${f.hintId}`);
      f.err.textContent = msg;
      f.err.hidden = false;
      f.control.focus();
    }
    return f ? f.inp.name : null;
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!opts.onSubmit) return;
    submit.disabled = true;
    form.setAttribute('aria-busy', 'true');
    try {
      await opts.onSubmit(values());
    } finally {
      submit.disabled = false;
      form.removeAttribute('aria-busy');
    }
  });

  return { form, values, showError, clearErrors };
}
