// The keys list with its per-key actions menu: rotate, revoke, disable/enable, delete.

import * as api from './api.js';
import { confirmDialog, formDialog, secretDialog } from './dialogs.js';
import { field, h, replace, select, table } from './dom.js';
import { ago, date, title } from './format.js';
import { openNewKey } from './new_key.js';

const GRACE = [
  ['0', 'None: the old key stops working now'],
  ['3600', '1 hour'],
  ['86400', '24 hours'],
  ['604800', '7 days'],
];

/** Renders the keys of the org, optionally narrowed to one service account. */
export async function keysView(root, ctx) {
  const [accounts, keys] = await Promise.all([
    api.listAll('/v1/service-accounts', 'service_accounts'),
    api.listAll('/v1/keys', 'keys'),
  ]);
  const accountNames = new Map(accounts.map((a) => [a.id, a.name]));
  const holder = h('div', { className: 'table-holder' });
  const filter = select({ id: 'keys-filter', dataset: { testid: 'keys-filter' } },
    [['', 'All service accounts'], ...accounts.map((a) => [a.id, a.name])], '');
  const draw = () => {
    const shown = keys.filter((k) => !filter.value || k.service_account_id === filter.value);
    replace(holder, keysTable(shown, accountNames, ctx));
  };
  filter.addEventListener('change', draw);
  const newKey = ctx.canWrite
    ? h('button', {
      type: 'button',
      className: 'primary',
      dataset: { testid: 'new-key' },
      disabled: accounts.length === 0,
      title: accounts.length === 0 ? 'Create a service account first' : null,
      onclick: () => openNewKey(accounts, filter.value, ctx),
    }, 'New key')
    : null;
  replace(root,
    h('div', { className: 'view-head' },
      h('h1', {}, 'API keys'),
      h('label', { className: 'inline' }, 'Service account ', filter),
      newKey),
    holder);
  draw();
}

function keysTable(keys, accountNames, ctx) {
  const headers = ['Name', 'Service account', 'Status', 'Environment', 'Scopes', 'Created', 'Last used', 'Expires'];
  if (ctx.canWrite) headers.push('Actions');
  return table('keys-table', headers, keys.map((key) => keyRow(key, accountNames, ctx)), 'No keys yet.');
}

function keyRow(key, accountNames, ctx) {
  const cells = [
    h('td', {},
      h('div', { className: 'name', dataset: { testid: 'key-name' } }, key.name),
      h('div', { className: 'mono muted', dataset: { testid: 'key-id' } }, key.id),
      h('div', { className: 'mono muted' }, `${key.prefix}${key.start}…`, key.kind === 'publishable' ? ' (publishable)' : '')),
    h('td', {}, accountNames.get(key.service_account_id) || key.service_account_id),
    h('td', {}, h('span', { className: `badge badge-${key.status}`, dataset: { testid: 'key-status' } }, title(key.status))),
    h('td', {}, h('span', { className: `env env-${key.environment}` }, key.environment)),
    h('td', {}, (key.scopes || []).length
      ? h('ul', { className: 'scopes' }, key.scopes.map((s) => h('li', {}, s)))
      : h('span', { className: 'muted' }, 'none')),
    h('td', { title: date(key.created_at) }, date(key.created_at)),
    h('td', { title: date(key.last_used_at, 'never'), dataset: { testid: 'key-last-used' } }, ago(key.last_used_at)),
    h('td', { title: key.expires_at ? ago(key.expires_at) : '' }, date(key.expires_at, 'never')),
  ];
  if (ctx.canWrite) cells.push(h('td', {}, actionsMenu(key, ctx)));
  return h('tr', { dataset: { testid: 'key-row', keyId: key.id, status: key.status } }, cells);
}

/** The actions a key's state allows: a revoked key can only be deleted. */
function actionsMenu(key, ctx) {
  const item = (testid, label, run, danger = false) => h('button', {
    type: 'button',
    role: 'menuitem',
    className: danger ? 'menu-item danger' : 'menu-item',
    dataset: { testid },
    onclick: async (event) => {
      event.target.closest('details').open = false;
      ctx.clearError();
      try {
        if (await run()) await ctx.reload();
      } catch (error) {
        ctx.showError(error);
      }
    },
  }, label);
  const items = [];
  if (key.status === 'active') items.push(item('action-rotate', 'Rotate…', () => rotate(key)));
  if (key.status === 'active') items.push(item('action-disable', 'Disable', () => setEnabled(key, false)));
  if (key.status === 'disabled') items.push(item('action-enable', 'Enable', () => setEnabled(key, true)));
  if (key.status !== 'revoked') items.push(item('action-revoke', 'Revoke…', () => revoke(key), true));
  if (key.status === 'revoked') items.push(item('action-delete', 'Delete…', () => remove(key), true));
  return h('details', { className: 'menu' },
    h('summary', { dataset: { testid: 'key-actions' }, 'aria-label': `Actions for ${key.name}` }, 'Actions'),
    h('div', { className: 'menu-items', role: 'menu' }, items));
}

async function rotate(key) {
  const grace = select({ name: 'grace', dataset: { testid: 'rotate-grace' } }, GRACE, '0');
  const answer = await formDialog({
    title: `Rotate ${key.name}`,
    testid: 'rotate-dialog',
    body: [
      h('p', { className: 'message' },
        'A new secret replaces this key. Choose how long the old secret keeps working so callers can switch.'),
      field('Grace period for the old secret', grace),
    ],
    submitLabel: 'Rotate',
    submit: () => api.post(`/v1/keys/${encodeURIComponent(key.id)}/rotate`, { grace_period_secs: Number(grace.value) }),
  });
  if (!answer) return false;
  const secrets = [{ label: `New secret for ${answer.new_key.name}`, value: answer.secret }];
  if (answer.paired_secret) {
    secrets.push({ label: `New secret for ${answer.paired_new_key?.name ?? 'the paired key'}`, value: answer.paired_secret });
  }
  await secretDialog({ title: 'Key rotated', secrets });
  return true;
}

async function setEnabled(key, enabled) {
  await api.post(`/v1/keys/${encodeURIComponent(key.id)}/${enabled ? 'enable' : 'disable'}`);
  return true;
}

async function revoke(key) {
  return confirmDialog({
    title: `Revoke ${key.name}?`,
    message: 'Every request with this key is denied from now on. Revoking cannot be undone; disable the key instead for a temporary suspension.',
    confirmLabel: 'Revoke key',
    action: () => api.post(`/v1/keys/${encodeURIComponent(key.id)}/revoke`),
  });
}

async function remove(key) {
  return confirmDialog({
    title: `Delete ${key.name}?`,
    message: 'The revoked key disappears from the list. Its audit events stay.',
    confirmLabel: 'Delete key',
    action: () => api.del(`/v1/keys/${encodeURIComponent(key.id)}`),
  });
}
