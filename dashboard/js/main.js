// The dashboard's entry point: imports every page (each registers itself with the
// router), wires the shell (the Menu button of narrow screens, the skip link, which
// must not be taken for a route), and starts the router.

import { startRouter } from './router.js';
import './pages/overview.js';
import './pages/jobs.js';
import './pages/job.js';
import './pages/submit.js';
import './pages/workflows.js';
import './pages/invocations.js';

const toggle = document.getElementById('nav-toggle');
const nav = document.getElementById('site-nav');
if (toggle && nav) {
  toggle.addEventListener('click', () => {
    const open = nav.classList.toggle('open');
    toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
  });
}

const skip = document.getElementById('skip-link');
if (skip) {
  skip.addEventListener('click', (ev) => {
    ev.preventDefault();
    document.getElementById('main').focus();
  });
}

startRouter();
