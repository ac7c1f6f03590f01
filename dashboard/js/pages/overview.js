// The overview: what the stack is doing, live.
//
// Every 2 s it reads /api/stack (every process: role, server name, pid, state,
// uptime, respawns, messages handled) and /metrics (Prometheus text, parsed by
// parseMetrics below): the farms' queue depths, the jobs in each live state, and
// the jobs counters from which it draws, over the last 5 minutes, the jobs created,
// started and finished per second (each counter's increase between two polls over
// the time between them) and the create->start latency (p50 and p95 estimated from
// the increase of the muleteer_job_wait_seconds histogram over the last ~10 s, as
// Prometheus' histogram_quantile does). Ended jobs are counted from /api/jobs every
// 30 s, or 5 s after the finished counter moved. A user who is not an admin (403
// on /api/stack and /metrics) sees their own job counts only, with a note saying why.
// The first full render marks the performance timeline ('muleteer:overview-rendered').

import { registerPage } from '../router.js';
import { api, apiText, el, svg, badge, fmtDuration, fmtNumber, secondsBetween, JOB_STATES, ENDED_STATES, ApiError } from '../api.js';
import { poll } from '../live.js';

const WINDOW_S = 300;          // the chart's span
const LATENCY_SPAN_S = 10;     // the latency quantiles' window

/** Prometheus text format -> [{name, labels: {k: v}, value}] (comments and malformed lines skipped). */
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let l;
      while ((l = re.exec(m[3]))) labels[l[1]] = l[2].replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
    }
    const v = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    out.push({ name: m[1], labels, value: v });
  }
  return out;
}

/** The sum of a metric's samples whose labels match (every label of `match`). */
export function metricSum(samples, name, match = {}) {
  let sum = 0, found = false;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) { sum += s.value; found = true; }
  }
  return found ? sum : null;
}

/** A histogram's cumulative buckets [{le, count}] sorted by le. */
function histogram(samples, name) {
  const b = new Map();
  for (const s of samples) {
    if (s.name !== name + '_bucket') continue;
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    b.set(le, (b.get(le) || 0) + s.value);
  }
  return [...b.entries()].sort((x, y) => x[0] - y[0]).map(([le, count]) => ({ le, count }));
}

/** histogram_quantile over the increase between two bucket lists; null when nothing was observed. */
export function quantile(q, now, before) {
  const inc = now.map((b, i) => ({ le: b.le, count: b.count - ((before && before[i] && before[i].le === b.le) ? before[i].count : 0) }));
  if (!inc.length) return null;
  const total = inc[inc.length - 1].count;
  if (!(total > 0) || inc.some((b) => b.count < 0)) return null;
  const rank = q * total;
  let prevLe = 0, prevCount = 0;
  for (const b of inc) {
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe;              // beyond the last bucket: its bound
      return prevLe + (b.le - prevLe) * ((rank - prevCount) / Math.max(b.count - prevCount, 1e-12));
    }
    prevLe = b.le; prevCount = b.count;
  }
  return prevLe;
}

// -- the chart -------------------------------------------------------------------------------------

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

/** An SVG line chart: series [{label, color, points: [[t, v|null]]}], t in seconds (epoch). */
function lineChart({ title, series, unit, now, format }) {
  const W = 640, H = 220, L = 52, R = 10, T = 12, B = 28;
  const maxV = niceMax(Math.max(0, ...series.flatMap((s) => s.points.map((p) => p[1] ?? 0))));
  const x = (t) => L + (W - L - R) * (1 - (now - t) / WINDOW_S);
  const y = (v) => T + (H - T - B) * (1 - v / maxV);
  const kids = [svg('title', {}, title)];
  for (let i = 0; i <= 4; i++) {
    const v = maxV * i / 4;
    kids.push(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: '#d8dee4', 'stroke-width': 1 }));
    kids.push(svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, format(v)));
  }
  for (let m = 0; m <= WINDOW_S / 60; m++) {
    kids.push(svg('text', { x: x(now - m * 60), y: H - 8, 'text-anchor': 'middle' }, m ? '-' + m + 'm' : 'now'));
  }
  for (const s of series) {
    let d = '', pen = false;
    for (const [t, v] of s.points) {
      if (now - t > WINDOW_S || v === null || v === undefined) { pen = false; continue; }
      d += (pen ? 'L' : 'M') + x(t).toFixed(1) + ' ' + y(v).toFixed(1);
      pen = true;
    }
    kids.push(svg('path', { d: d || 'M0 0', fill: 'none', stroke: s.color, 'stroke-width': 2, 'stroke-linejoin': 'round' }));
  }
  const chart = svg('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title + (unit ? ' (' + unit + ')' : '') }, ...kids);
  const legend = el('ul', { class: 'legend' }, series.map((s) => {
    const last = [...s.points].reverse().find((p) => p[1] !== null && p[1] !== undefined);
    return el('li', {}, el('span', { class: 'sw', style: 'background:' + s.color }), s.label + ': ' + (last ? format(last[1]) : '–'));
  }));
  return el('figure', { style: 'margin:0' }, el('figcaption', { class: 'h3' }, el('strong', {}, title)), chart, legend);
}

// -- the page --------------------------------------------------------------------------------------

function processesTable(stack) {
  const rows = stack.processes.map((p) => el('tr', { 'data-server-name': p.server_name },
    el('td', {}, p.role),
    el('th', { scope: 'row' }, p.server_name),
    el('td', { class: 'num' }, p.pid ?? '–'),
    el('td', {}, badge(p.state), p.beating === false && p.state === 'running' ? el('span', { class: 'badge s-down', title: 'its loop has been silent for ' + p.beat_age_s + ' s' }, 'not beating') : null),
    el('td', { class: 'num' }, p.pid && p.started ? fmtDuration(secondsBetween(p.started)) : '–'),
    el('td', { class: 'num' }, fmtNumber(p.respawns)),
    el('td', { class: 'num' }, p.role === 'mule' ? fmtNumber(p.messages_handled) : '–')));
  return [el('p', { class: 'note', id: 'stack-summary' }, stack.processes.length + ' processes of ', el('code', {}, stack.server_name),
    ' (version ' + stack.version + ', this answer from ' + stack.served_by + ')'),
  el('div', { class: 'table-wrap' }, el('table', { id: 'processes', 'aria-describedby': 'stack-summary' },
    el('thead', {}, el('tr', {}, ['Role', 'Server name', 'PID', 'State', 'Uptime', 'Respawns', 'Messages handled']
      .map((h, i) => el('th', { scope: 'col', class: i === 2 || i > 3 ? 'num' : null }, h)))),
    el('tbody', {}, rows)))];
}

function farmsTable(stack, samples) {
  const names = new Map(stack.processes.filter((p) => p.role === 'mule').map((p) => [p.mule_id, p]));
  if (!stack.farms || !stack.farms.length) return el('p', { class: 'note' }, 'No farms configured.');
  return el('div', { class: 'table-wrap' }, el('table', { id: 'farms' },
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Farm'), el('th', { scope: 'col' }, 'Mules'),
      el('th', { scope: 'col', class: 'num' }, 'Queued messages'), el('th', { scope: 'col', class: 'num' }, 'Messages received'))),
    el('tbody', {}, stack.farms.map((f) => {
      const q = samples ? metricSum(samples, 'muleteer_farm_queue_messages', { farm: f.name }) : null;
      const rcv = samples ? metricSum(samples, 'muleteer_farm_messages_received_total', { farm: f.name }) : null;
      return el('tr', {},
        el('th', { scope: 'row' }, f.name),
        el('td', {}, f.mules.map((id, i) => {
          const p = names.get(id);
          return [i ? ', ' : '', p ? p.server_name : 'mule ' + id, p ? ' ' : '', p ? badge(p.state) : null];
        })),
        el('td', { class: 'num' }, fmtNumber(q)),
        el('td', { class: 'num' }, fmtNumber(rcv)));
    }))));
}

function countsCards(counts, capped) {
  return el('div', { class: 'cards', id: 'job-counts' }, JOB_STATES.map((s) => el('div', { class: 'card', 'data-state': s },
    el('a', { href: '#/jobs?state=' + s },
      el('div', { class: 'value' }, counts[s] === undefined ? '–' : (capped[s] ? '≥ ' : '') + fmtNumber(counts[s])),
      el('div', { class: 'label' }, s)))));
}

/** Count the jobs of the given states the user may see (the API's total; capped totals flagged). */
async function countJobs(states, counts, capped) {
  await Promise.all(states.map(async (s) => {
    const r = await api('api/jobs', { query: { state: s, limit: 1 } });
    counts[s] = r.total;
    capped[s] = isCapped(r);
  }));
}

export function isCapped(r) {
  return !!(r && (r.total_capped || r.total_is_lower_bound || r.total_exact === false || r.total_more));
}

const page = {
  render(params, root) {
    document.title = 'Overview · muleteer';
    const state = { samples: [], admin: null, counts: {}, capped: {}, endedAt: 0, stack: null, metrics: null };
    this.state = state;
    const heading = el('h1', {}, 'Overview');
    const note = el('div', { id: 'overview-note' });
    const procBox = el('section', { 'aria-labelledby': 'h-proc' }, el('h2', { id: 'h-proc' }, 'Processes'), el('p', {}, 'Loading…'));
    const farmBox = el('section', { 'aria-labelledby': 'h-farm' }, el('h2', { id: 'h-farm' }, 'Farms'));
    const countBox = el('section', { 'aria-labelledby': 'h-count' }, el('h2', { id: 'h-count' }, 'Jobs by state'));
    const chartBox = el('section', { 'aria-labelledby': 'h-chart' }, el('h2', { id: 'h-chart' }, 'Jobs, last 5 minutes'));
    root.replaceChildren(heading, note, countBox, procBox, farmBox, chartBox);

    const draw = () => {
      countBox.replaceChildren(countBox.firstChild, countsCards(state.counts, state.capped));
      if (state.admin === false) {
        procBox.hidden = farmBox.hidden = chartBox.hidden = true;
        return;
      }
      if (state.stack) {
        procBox.replaceChildren(procBox.firstChild, ...processesTable(state.stack));
        if (!performance.getEntriesByName('muleteer:overview-rendered').length) performance.mark('muleteer:overview-rendered');
        farmBox.replaceChildren(farmBox.firstChild, farmsTable(state.stack, state.metrics));
      }
      if (state.metrics === null && state.stack) {
        chartBox.replaceChildren(chartBox.firstChild, el('p', { class: 'note' }, 'The metrics are off on this server (metrics = false): no chart.'));
        return;
      }
      const now = Date.now() / 1000;
      const pts = (k) => state.samples.filter((s) => s.rates).map((s) => [s.t, s.rates[k]]);
      const fmtRate = (v) => (v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2));
      chartBox.replaceChildren(chartBox.firstChild, el('div', { class: 'grid2' },
        lineChart({ title: 'Jobs per second', unit: '1/s', now, format: fmtRate, series: [
          { label: 'created', color: '#0b5cad', points: pts('created') },
          { label: 'started', color: '#b35c00', points: pts('started') },
          { label: 'finished', color: '#1a6b2f', points: pts('finished') }] }),
        lineChart({ title: 'Create → start latency', unit: 's', now, format: (v) => fmtDuration(v), series: [
          { label: 'p50', color: '#6a3d9a', points: pts('p50') },
          { label: 'p95', color: '#a1161c', points: pts('p95') }] })));
    };

    const tick = async () => {
      let stack = null, text = null;
      // ended counts, asked beside the stack: every 30 s, or 5 s after the finished counter moved
      const t = Date.now() / 1000;
      const fin = state.samples.length ? state.samples[state.samples.length - 1].finished : null;
      const moved = fin !== state.endedFinished && t - state.endedAt >= 5;
      const endedAsked = !state.endedAt || t - state.endedAt >= 30 || moved
        ? countJobs(ENDED_STATES, state.counts, state.capped) : null;
      if (endedAsked) { state.endedAt = t; state.endedFinished = fin; }
      if (state.admin !== false) {
        try {
          [stack, text] = await Promise.all([
            api('api/stack'),
            apiText('metrics').catch((e) => { if (e.status === 404) return null; throw e; }),
          ]);
          state.admin = true;
        } catch (e) {
          if (!(e instanceof ApiError) || e.status !== 403) throw e;
          state.admin = false;
          note.replaceChildren(el('p', { class: 'notice' },
            'Your API key is not an admin\'s: the processes, farms and metrics of the stack are for admins only (',
            el('code', {}, e.message), '). The counts below are of your own jobs.'));
        }
      }
      if (state.admin) {
        state.stack = stack;
        if (text !== null) {
          const m = parseMetrics(text);
          state.metrics = m;
          const sample = {
            t,
            created: metricSum(m, 'muleteer_jobs_created_total'),
            started: metricSum(m, 'muleteer_jobs_started_total'),
            finished: metricSum(m, 'muleteer_jobs_finished_total'),
            wait: histogram(m, 'muleteer_job_wait_seconds'),
          };
          const prev = state.samples[state.samples.length - 1];
          if (prev) {
            const dt = t - prev.t;
            const rate = (k) => (sample[k] === null || prev[k] === null || sample[k] < prev[k] ? null : (sample[k] - prev[k]) / dt);
            const old = state.samples.find((s) => t - s.t <= LATENCY_SPAN_S) || prev;
            sample.rates = { created: rate('created'), started: rate('started'), finished: rate('finished'),
              p50: quantile(0.5, sample.wait, old.wait), p95: quantile(0.95, sample.wait, old.wait) };
          }
          state.samples.push(sample);
          while (state.samples.length && t - state.samples[0].t > WINDOW_S + 5) state.samples.shift();
          for (const s of ['new', 'queued', 'running', 'deleting']) {
            const v = metricSum(m, 'muleteer_jobs', { state: s });
            if (v !== null) { state.counts[s] = v; state.capped[s] = false; }
          }
        } else {
          state.metrics = null;
        }
      }
      // the live states come from the gauge when metrics are readable, else from /api/jobs
      const live = state.admin && state.metrics ? [] : JOB_STATES.filter((s) => !ENDED_STATES.includes(s));
      if (live.length) await countJobs(live, state.counts, state.capped);
      if (endedAsked) {
        try { await endedAsked; } catch (e) { state.endedAt = 0; throw e; }
      }
      draw();
    };
    this.poller = poll(tick, { interval: 2000, onError: (e) => {
      if (e.status !== 0 && e.status < 500) note.replaceChildren(el('p', { class: 'error-banner', role: 'alert' }, e.message));
    } });
  },
  stop() {
    if (this.poller) this.poller.stop();
    this.poller = null;
  },
};

registerPage('overview', page);
