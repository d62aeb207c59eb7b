// The console's entry point: recovers the session, switches between the sections, and shows
// API errors in the alert region. State lives in memory only: nothing in localStorage,
// sessionStorage or the URL.

import * as api from './api.js';
import { accountsView } from './accounts.js';
import { auditView } from './audit.js';
import { replace, h } from './dom.js';
import { keysView } from './keys.js';
import { renderLogin } from './login.js';
import { membersView } from './members.js';
import { settingsView } from './settings.js';

const VIEWS = {
  keys: keysView,
  accounts: accountsView,
  members: membersView,
  audit: auditView,
  settings: settingsView,
};

/**
 * Owners and admins write; operators and members see everything read-only, except the audit
 * log, which the server shows to owners and admins only (so its tab is not offered).
 */
const WRITERS = new Set(['owner', 'admin']);
const ADMIN_ONLY_VIEWS = new Set(['audit']);

const topbar = document.getElementById('topbar');
const nav = document.getElementById('nav');
const whoami = document.getElementById('whoami');
const alertRegion = document.getElementById('alert');
const viewRoot = document.getElementById('view');

let session = null;
let current = 'keys';
// Bumped on every navigation so a slow answer for a section left behind is not drawn.
let generation = 0;

function showError(error) {
  alertRegion.textContent = error.message || String(error);
  alertRegion.hidden = false;
}

function clearError() {
  alertRegion.textContent = '';
  alertRegion.hidden = true;
}

function context() {
  return {
    user: session.user,
    canWrite: WRITERS.has(session.user.role),
    showError,
    clearError,
    reload: () => show(current, { keepAlert: true }),
  };
}

async function show(name, { keepAlert = false } = {}) {
  if (!session) return;
  current = name;
  const mine = ++generation;
  if (!keepAlert) clearError();
  for (const button of nav.querySelectorAll('button')) {
    if (button.dataset.view === name) button.setAttribute('aria-current', 'page');
    else button.removeAttribute('aria-current');
  }
  const section = h('section', { className: 'view', dataset: { testid: `view-${name}` } });
  try {
    await VIEWS[name](section, context());
    if (mine === generation) replace(viewRoot, section);
  } catch (error) {
    if (mine !== generation || !session) return;
    replace(viewRoot, section);
    showError(error);
  }
}

function signedIn(newSession) {
  session = newSession;
  document.body.dataset.role = session.user.role;
  whoami.textContent = `${session.user.email} (${session.user.role})`;
  for (const button of nav.querySelectorAll('button[data-view]')) {
    button.hidden = ADMIN_ONLY_VIEWS.has(button.dataset.view) && !WRITERS.has(session.user.role);
  }
  topbar.hidden = false;
  clearError();
  show('keys');
}

function signedOut(notice) {
  session = null;
  generation++;
  delete document.body.dataset.role;
  topbar.hidden = true;
  whoami.textContent = '';
  clearError();
  renderLogin(viewRoot, signedIn, notice);
}

nav.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-view]');
  if (button && !button.hidden) show(button.dataset.view);
});

document.getElementById('logout').addEventListener('click', async () => {
  try {
    await api.signOut();
  } catch (error) {
    showError(error);
    return;
  }
  signedOut();
});

api.whenSignedOut(() => {
  if (session) signedOut('Your session has ended. Sign in again.');
});

async function start() {
  try {
    const existing = await api.currentSession();
    if (existing) signedIn(existing);
    else signedOut();
  } catch (error) {
    signedOut();
    showError(error);
  }
}

start();
