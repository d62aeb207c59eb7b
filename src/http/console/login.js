// The sign-in form: email and password to POST /console/session.

import * as api from './api.js';
import { field, h, replace } from './dom.js';

/** Renders the form into `root`; calls `signedIn(session)` once the server accepts it. */
export function renderLogin(root, signedIn, notice) {
  const alert = h('p', { className: 'alert', role: 'alert', dataset: { testid: 'login-alert' }, hidden: !notice },
    notice || '');
  const email = h('input', {
    type: 'email', name: 'email', required: true, autocomplete: 'username', dataset: { testid: 'login-email' },
  });
  const password = h('input', {
    type: 'password', name: 'password', required: true, autocomplete: 'current-password',
    dataset: { testid: 'login-password' },
  });
  const submit = h('button', { type: 'submit', className: 'primary', dataset: { testid: 'login-submit' } }, 'Sign in');
  const form = h('form', { className: 'login', dataset: { testid: 'login-form' } },
    h('h1', {}, 'Sign in to gatekey'),
    alert,
    field('Email', email),
    field('Password', password),
    submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    alert.hidden = true;
    try {
      const session = await api.signIn(email.value.trim(), password.value);
      password.value = '';
      signedIn(session);
    } catch (error) {
      alert.textContent = error.message;
      alert.hidden = false;
      password.value = '';
      password.focus();
    } finally {
      submit.disabled = false;
    }
  });
  replace(root, form);
  email.focus();
}
