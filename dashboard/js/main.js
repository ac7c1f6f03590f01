// The dashboard's entry point: imports every page (each registers itself with the
// router), wires the shell (the Menu button of narrow screens, the API key button, the
// skip link, which must not be taken for a route), and starts the router.

import { startRouter } from './router.js';
import { changeKey } from './api.js';
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

// "API key": forget the key kept in this browser and ask for another (to act as another user)
const keyButton = document.getElementById('change-key');
if (keyButton) keyButton.addEventListener('click', () => changeKey().then(() => location.reload()));

startRouter();
