// Settings: the org's default rate limit, and the signed-in user's password.

import * as api from './api.js';
import { field, h, replace } from './dom.js';
import { policy } from './format.js';

const SOURCES = { org: 'org default', built_in: 'built-in default', key: 'key override' };

/** Renders both forms; the rate-limit form is read-only for members and operators. */
export async function settingsView(root, ctx) {
  const current = await api.get('/v1/rate-limits/org');
  replace(root,
    h('div', { className: 'view-head' }, h('h1', {}, 'Settings')),
    rateLimitForm(current, ctx),
    passwordForm(ctx));
}

function number(name, value, min, testid) {
  return h('input', {
    type: 'number', name, min, step: 1, required: true, value: String(value ?? ''), dataset: { testid },
  });
}

function rateLimitForm(current, ctx) {
  const p = current.policy || { limit: 1000, window_secs: 60, burst: 100 }; // the built-in default
  const limit = number('limit', p.limit, 1, 'org-limit');
  const windowSecs = number('window_secs', p.window_secs, 1, 'org-window');
  const burst = number('burst', p.burst, 1, 'org-burst');
  const inForce = h('p', { className: 'muted', dataset: { testid: 'org-policy' } },
    `In force: ${policy(current.policy)} (${SOURCES[current.source] || 'org default'}).`);
  const saved = h('span', { className: 'copied', role: 'status' });
  const controls = [limit, windowSecs, burst];
  for (const control of controls) control.disabled = !ctx.canWrite;
  const form = h('form', { className: 'card', dataset: { testid: 'org-rate-limit' } },
    h('h2', {}, 'Org rate-limit default'),
    h('p', { className: 'muted' }, 'Applies to every key without its own override.'),
    inForce,
    h('div', { className: 'row' }, field('Requests', limit), field('Per (seconds)', windowSecs), field('Burst', burst)),
    ctx.canWrite
      ? h('div', { className: 'actions' }, saved, h('button', { type: 'submit', className: 'primary', dataset: { testid: 'org-limit-save' } }, 'Save'))
      : null);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    ctx.clearError();
    saved.textContent = '';
    try {
      const answer = await api.put('/v1/rate-limits/org', {
        policy: { limit: Number(limit.value), window_secs: Number(windowSecs.value), burst: Number(burst.value) },
      });
      inForce.textContent = `In force: ${policy(answer.policy)} (org default).`;
      saved.textContent = 'Saved';
    } catch (error) {
      ctx.showError(error);
    }
  });
  return form;
}

function passwordForm(ctx) {
  const currentPassword = h('input', { type: 'password', name: 'current_password', required: true, autocomplete: 'current-password', dataset: { testid: 'password-current' } });
  const newPassword = h('input', { type: 'password', name: 'new_password', required: true, autocomplete: 'new-password', dataset: { testid: 'password-new' } });
  const done = h('span', { className: 'copied', role: 'status' });
  const form = h('form', { className: 'card', dataset: { testid: 'password-form' } },
    h('h2', {}, 'Your password'),
    h('p', { className: 'muted' }, `Signed in as ${ctx.user.email}. Changing it signs out your other sessions.`),
    h('div', { className: 'row' }, field('Current password', currentPassword), field('New password', newPassword)),
    h('div', { className: 'actions' }, done, h('button', { type: 'submit', dataset: { testid: 'password-save' } }, 'Change password')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    ctx.clearError();
    done.textContent = '';
    try {
      const answer = await api.post('/v1/auth/password', { current_password: currentPassword.value, new_password: newPassword.value });
      const ended = answer?.ended_sessions ?? 0;
      done.textContent = `Password changed; ${ended} other session${ended === 1 ? '' : 's'} ended.`;
    } catch (error) {
      ctx.showError(error);
    } finally {
      currentPassword.value = '';
      newPassword.value = '';
    }
  });
  return form;
}
