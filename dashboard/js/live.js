// Live updates by polling: cheap, and correct across a restart of the server.
//
// poll(fn, {interval}) calls fn() at once and then every `interval` ms (2 s by
// default) while the page is shown. The cost, measured by what the pages ask: the
// overview asks /api/stack (the shared process table, read on the web worker's
// loop, no database) and /metrics (sums of per-process shared-memory counters plus
// one indexed count per live job state) every 2 s, and the job counts of the ended
// states every 30 s; a job page asks for one job and its history (primary-key
// reads) until it ends. A dashboard open is thus about 1-2 requests a second of the
// cheapest kind the server answers. Timers stop while the tab is hidden (the
// Page Visibility API) and run at once when it is shown again.
//
// When fn() throws because the server cannot be reached or answers 502/503/504 (it
// is restarting), the header shows "reconnecting..." and the next try comes later
// and later (2, 4, 8 s, at most 10 s); the first answer clears it and the poll goes
// on at its interval: a restart under an open page needs no reload.

const statusEl = () => document.getElementById('conn-status');
const pollers = new Set();
let downSince = null;

function isDown(err) {
  return err && (err.status === 0 || err.status === 502 || err.status === 503 || err.status === 504);
}

function setDown(down) {
  const s = statusEl();
  if (down && downSince === null) downSince = Date.now();
  if (!down) downSince = null;
  if (!s) return;
  if (down) {
    s.textContent = 'reconnecting...';
    s.classList.add('down');
    s.dataset.state = 'down';
  } else {
    s.textContent = 'live';
    s.classList.remove('down');
    s.dataset.state = 'live';
  }
}

/** Whether the server was unreachable at the last try. */
export function serverDown() { return downSince !== null; }

/**
 * Run fn now and every interval ms until stop(). fn may be async; its errors are given to
 * onError (or logged) and make the next try wait longer. Returns {stop(), now()}.
 */
export function poll(fn, { interval = 2000, maxBackoff = 10000, onError = null } = {}) {
  let timer = null, stopped = false, running = false, failures = 0;
  const p = {
    stop() { stopped = true; clearTimeout(timer); pollers.delete(p); },
    now() { if (!stopped) { clearTimeout(timer); tick(); } },
  };
  async function tick() {
    timer = null;
    if (stopped || running) return;
    if (document.hidden) return;          // resumed by visibilitychange
    running = true;
    let delay = interval;
    try {
      await fn();
      failures = 0;
      setDown(false);
    } catch (err) {
      failures++;
      delay = Math.min(interval * 2 ** Math.min(failures, 4), maxBackoff);
      if (isDown(err)) setDown(true);
      if (onError) onError(err); else if (!isDown(err)) console.warn('poll failed:', err && err.message || err);
    } finally {
      running = false;
    }
    if (!stopped && !document.hidden) timer = setTimeout(tick, delay);
  }
  pollers.add(p);
  tick();
  return p;
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden) for (const p of pollers) p.now();
});
