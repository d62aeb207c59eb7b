// Service accounts: list, create, delete (its keys are revoked with it).

import * as api from './api.js';
import { confirmDialog, formDialog } from './dialogs.js';
import { field, h, replace, select, table } from './dom.js';
import { date, title } from './format.js';

const ROLES = [['member', 'Member'], ['operator', 'Operator'], ['admin', 'Admin']];

/** Renders the org's service accounts. */
export async function accountsView(root, ctx) {
  const [accounts, keys] = await Promise.all([
    api.listAll('/v1/service-accounts', 'service_accounts'),
    api.listAll('/v1/keys', 'keys'),
  ]);
  const activeKeys = new Map();
  for (const key of keys) {
    if (key.status === 'active') activeKeys.set(key.service_account_id, (activeKeys.get(key.service_account_id) || 0) + 1);
  }
  const headers = ['Name', 'Role', 'Active keys', 'Created'];
  if (ctx.canWrite) headers.push('Actions');
  const rows = accounts.map((account) => h('tr', { dataset: { testid: 'account-row', accountId: account.id } },
    h('td', {}, h('div', { className: 'name' }, account.name), h('div', { className: 'mono muted' }, account.id)),
    h('td', {}, title(account.role)),
    h('td', {}, String(activeKeys.get(account.id) || 0)),
    h('td', {}, date(account.created_at)),
    ctx.canWrite
      ? h('td', {}, h('button', {
        type: 'button',
        className: 'danger small',
        dataset: { testid: 'delete-account' },
        onclick: () => remove(account, ctx),
      }, 'Delete…'))
      : null));
  replace(root,
    h('div', { className: 'view-head' },
      h('h1', {}, 'Service accounts'),
      ctx.canWrite
        ? h('button', { type: 'button', className: 'primary', dataset: { testid: 'new-account' }, onclick: () => create(ctx) },
          'New service account')
        : null),
    h('p', { className: 'muted' }, 'A service account is the identity its API keys act as; a key never has more than its role.'),
    table('accounts-table', headers, rows, 'No service accounts yet.'));
}

async function create(ctx) {
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 100, dataset: { testid: 'account-name' } });
  const role = select({ name: 'role', dataset: { testid: 'account-role' } }, ROLES, 'member');
  const created = await formDialog({
    title: 'New service account',
    testid: 'account-dialog',
    body: [field('Name', name), field('Role', role, 'Keys of this account act with this role.')],
    submitLabel: 'Create',
    submit: () => api.post('/v1/service-accounts', { name: name.value.trim(), role: role.value }),
  });
  if (created) await ctx.reload();
}

async function remove(account, ctx) {
  const done = await confirmDialog({
    title: `Delete ${account.name}?`,
    message: 'Every key of this service account is revoked at once, in the same step. This cannot be undone.',
    confirmLabel: 'Delete service account',
    action: () => api.del(`/v1/service-accounts/${encodeURIComponent(account.id)}`),
  });
  if (done) await ctx.reload();
}
