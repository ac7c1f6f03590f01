// One job: its parameters, times, handler, runner and external id, attempt, the
// history of its states, exit code, stdout and stderr, outputs, and a Cancel button.
//
// It polls the job and its history every 2 s until the job has ended (then once
// more for its streams and outputs). stdout and stderr show their first 64 KiB,
// read from the response's stream and the rest left unread; "Download" fetches the
// whole file with the key in its header (a link could not carry it) and saves the
// Blob, as do the outputs' links. Cancel asks for a confirmation in the page and
// sends DELETE /api/jobs/{id}.

import { registerPage } from '../router.js';
import { api, apiFetch, el, badge, fmtTime, fmtDuration, fmtBytes, secondsBetween, saveBlob, showError, ENDED_STATES, ApiError } from '../api.js';
import { poll } from '../live.js';

const SHOW_BYTES = 64 * 1024;

/** The first `limit` bytes of a response body as text, and the body's size when it is known. */
async function headText(res, limit) {
  const len = Number(res.headers.get('Content-Length'));
  const reader = res.body.getReader();
  const chunks = [];
  let got = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    got += value.length;
    if (got >= limit) { reader.cancel().catch(() => {}); break; }
  }
  const all = new Uint8Array(Math.min(got, limit));
  let off = 0;
  for (const c of chunks) {
    const part = c.subarray(0, Math.min(c.length, all.length - off));
    all.set(part, off);
    off += part.length;
    if (off >= all.length) break;
  }
  const size = Number.isFinite(len) && res.headers.has('Content-Length') ? len : (got > limit ? null : got);
  return { text: new TextDecoder('utf-8', { fatal: false }).decode(all), size, truncated: got > limit || (size !== null && size > limit) };
}

async function download(path, filename, button) {
  button.disabled = true;
  try {
    const res = await apiFetch(path);
    if (!res.ok) {
      let msg = res.status + ' ' + res.statusText;
      try { msg = (await res.json()).err_msg || msg; } catch (e) { /* not JSON */ }
      throw new ApiError(res.status, msg);
    }
    saveBlob(await res.blob(), filename);
  } catch (e) {
    showError('The download failed: ' + e.message);
  } finally {
    button.disabled = false;
  }
}

function stream(job, name) {
  const box = el('section', { 'aria-labelledby': 'h-' + name, id: 'stream-' + name },
    el('h2', { id: 'h-' + name }, name), el('p', { class: 'note' }, 'Loading…'));
  const path = 'api/jobs/' + encodeURIComponent(job.id) + '/' + name;
  if (!job.start_time) {   // never started: nothing to ask for (the API would answer 404)
    box.replaceChildren(box.firstChild, el('p', { class: 'note' }, 'None: the command did not run.'));
    return box;
  }
  (async () => {
    const res = await apiFetch(path);
    if (res.status === 404) { box.replaceChildren(box.firstChild, el('p', { class: 'note' }, 'None: the command did not run.')); return; }
    if (!res.ok) throw new ApiError(res.status, res.statusText);
    const { text, size, truncated } = await headText(res, SHOW_BYTES);
    const btn = el('button', { type: 'button', class: 'secondary', id: 'download-' + name }, 'Download ' + name);
    btn.addEventListener('click', () => download(path, 'job-' + job.id + '.' + name + '.txt', btn));
    box.replaceChildren(box.firstChild,
      el('div', { class: 'toolbar' }, el('span', { class: 'note' }, size === null ? '' : fmtBytes(size) +
        (truncated ? ', the first ' + fmtBytes(SHOW_BYTES) + ' shown' : '')), size === 0 ? null : btn),
      text ? el('pre', { class: 'output', tabindex: '0', 'aria-label': name }, text) : el('p', { class: 'note' }, 'Empty.'));
  })().catch((e) => box.replaceChildren(box.firstChild, el('p', { class: 'error-banner' }, name + ' cannot be read: ' + e.message)));
  return box;
}

function outputs(job) {
  const box = el('section', { 'aria-labelledby': 'h-outputs', id: 'outputs' }, el('h2', { id: 'h-outputs' }, 'Outputs'));
  (async () => {
    const r = await api('api/jobs/' + encodeURIComponent(job.id) + '/outputs');
    const list = r.outputs || [];
    if (!list.length) { box.append(el('p', { class: 'note' }, 'This tool has no outputs.')); return; }
    box.append(el('div', { class: 'table-wrap' }, el('table', {},
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Name'), el('th', { scope: 'col', class: 'num' }, 'Size'), el('th', { scope: 'col' }, ''))),
      el('tbody', {}, list.map((o) => {
        const path = 'api/jobs/' + encodeURIComponent(job.id) + '/outputs/' + encodeURIComponent(o.name);
        const btn = o.exists ? el('button', { type: 'button', class: 'secondary', 'aria-label': 'Download output ' + o.name }, 'Download') : null;
        if (btn) btn.addEventListener('click', () => download(path, 'job-' + job.id + '.' + o.name, btn));
        return el('tr', {}, el('th', { scope: 'row' }, o.name),
          el('td', { class: 'num' }, o.exists ? fmtBytes(o.size) : 'not written'), el('td', {}, btn));
      })))));
  })().catch((e) => box.append(el('p', { class: 'error-banner' }, 'The outputs cannot be listed: ' + e.message)));
  return box;
}

function props(job) {
  const dl = el('dl', { class: 'props', id: 'job-props' });
  const add = (k, v) => dl.append(el('dt', {}, k), el('dd', {}, v === null || v === undefined || v === '' ? '–' : v));
  add('State', el('span', { id: 'job-state', 'data-state': job.state }, badge(job.state)));
  add('Tool', el('span', {}, job.tool_id + (job.tool_version ? ' ' + job.tool_version : '')));
  add('User', job.user);
  add('Handler', job.handler);
  add('Destination', job.destination);
  add('Runner', job.runner);
  add('External id', job.external_id);
  add('Attempt', job.attempt);
  add('Exit code', job.exit_code);
  add('Created', fmtTime(job.create_time));
  add('Claimed', fmtTime(job.claim_time));
  add('Started', fmtTime(job.start_time) + (job.start_time ? ' (waited ' + fmtDuration(secondsBetween(job.create_time, job.start_time)) + ')' : ''));
  add('Ended', fmtTime(job.end_time) + (job.end_time && job.start_time ? ' (ran ' + fmtDuration(secondsBetween(job.start_time, job.end_time)) + ')' : ''));
  add('Info', job.info);
  return dl;
}

function params(job) {
  const entries = Object.entries(job.params || {});
  return el('section', { 'aria-labelledby': 'h-params' }, el('h2', { id: 'h-params' }, 'Parameters'),
    entries.length ? el('dl', { class: 'props', id: 'job-params' }, entries.map(([k, v]) => [el('dt', {}, k),
      el('dd', { class: 'mono' }, v && typeof v === 'object' && v.job
        ? el('span', {}, 'output ', el('code', {}, v.output), ' of ', el('a', { href: '#/jobs/' + encodeURIComponent(v.job) }, 'job ' + v.job))
        : typeof v === 'string' ? v : JSON.stringify(v))]))
      : el('p', { class: 'note' }, 'None.'));
}

function history(h) {
  return el('section', { 'aria-labelledby': 'h-history' }, el('h2', { id: 'h-history' }, 'History'),
    el('div', { class: 'table-wrap' }, el('table', { id: 'job-history' },
      el('thead', {}, el('tr', {}, ['Time', 'State', 'Handler', 'Info'].map((c) => el('th', { scope: 'col' }, c)))),
      el('tbody', {}, h.map((e) => el('tr', {}, el('td', {}, fmtTime(e.time)), el('td', {}, badge(e.state)),
        el('td', {}, e.handler ?? '–'), el('td', { style: 'white-space:normal' }, e.info ?? '')))))));
}

function cancelBox(job, onDone) {
  const box = el('div', { class: 'toolbar', id: 'cancel-box' });
  const ask = () => {
    const yes = el('button', { type: 'button', class: 'danger', id: 'cancel-confirm' }, 'Yes, cancel it');
    const no = el('button', { type: 'button', class: 'secondary', id: 'cancel-keep' }, 'Keep it running');
    yes.addEventListener('click', async () => {
      yes.disabled = no.disabled = true;
      try {
        await api('api/jobs/' + encodeURIComponent(job.id), { method: 'DELETE' });
        box.replaceChildren(el('span', { role: 'status' }, 'Cancel requested.'));
      } catch (e) {
        box.replaceChildren(el('span', { class: 'error-banner', role: 'alert' }, 'The job could not be cancelled: ' + e.message));
      }
      onDone();
    });
    no.addEventListener('click', show);
    box.replaceChildren(el('span', { role: 'alert' }, 'Cancel job ' + job.id + '? Its command is stopped.'), yes, no);
    yes.focus();
  };
  const show = () => {
    const btn = el('button', { type: 'button', class: 'danger', id: 'cancel-job' }, 'Cancel job');
    btn.addEventListener('click', ask);
    box.replaceChildren(btn);
  };
  show();
  return box;
}

const page = {
  render(routeParams, root) {
    const id = routeParams.id;
    document.title = 'Job ' + id + ' · muleteer';
    const token = {};
    this.token = token;
    const heading = el('h1', {}, 'Job ' + id);
    const top = el('div', { id: 'job-top' });
    const live = el('div', { id: 'job-live' });
    const tail = el('div', { id: 'job-tail' });
    root.replaceChildren(el('p', {}, el('a', { href: '#/jobs' }, '← Jobs')), heading, top, live, tail);
    let last = '', cancel = null, tailDone = false;

    const tick = async () => {
      let job, h;
      try {
        [job, h] = await Promise.all([api('api/jobs/' + encodeURIComponent(id)),
          api('api/jobs/' + encodeURIComponent(id) + '/history')]);
      } catch (e) {
        if (e.status === 404 || e.status === 400) {
          this.poller.stop();
          top.replaceChildren(el('p', { class: 'error-banner', role: 'alert' }, e.message));
          return;
        }
        throw e;
      }
      if (this.token !== token) return;
      const ended = ENDED_STATES.includes(job.state);
      const sig = JSON.stringify([job, h]);
      if (sig !== last) {
        last = sig;
        if (!ended && !cancel) {
          cancel = cancelBox(job, () => this.poller && this.poller.now());
          top.replaceChildren(cancel);
        } else if (ended) {
          top.replaceChildren();
        }
        live.replaceChildren(props(job), params(job), history(h.history || []));
      }
      if (ended) {
        this.poller.stop();
        if (!tailDone) {
          tailDone = true;
          tail.replaceChildren(stream(job, 'stdout'), stream(job, 'stderr'), outputs(job));
        }
      } else if (job.start_time && !tail.firstChild) {
        tail.replaceChildren(el('p', { class: 'note' }, 'Its output is shown when it ends.'));
      }
    };
    this.poller = poll(tick, { interval: 2000, onError: (e) => {
      if (e.status && e.status < 500) top.replaceChildren(el('p', { class: 'error-banner', role: 'alert' }, e.message));
    } });
  },
  stop() {
    this.token = null;
    if (this.poller) this.poller.stop();
    this.poller = null;
  },
};

registerPage('job', page);
