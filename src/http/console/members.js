// Members (users of the org): list, create, change role, remove.

import * as api from './api.js';
import { confirmDialog, formDialog } from './dialogs.js';
import { field, h, replace, select, table } from './dom.js';
import { ago, date, title } from './format.js';

const ROLES = [['member', 'Member'], ['operator', 'Operator'], ['admin', 'Admin'], ['owner', 'Owner']];
const RANK = { member: 0, operator: 1, admin: 2, owner: 3 };

/** Roles the signed-in user may grant: never above their own (the server checks too). */
function grantable(user) {
  return ROLES.filter(([role]) => RANK[role] <= RANK[user.role]);
}

/** Renders the org's users. */
export async function membersView(root, ctx) {
  const users = await api.listAll('/v1/users', 'users');
  const headers = ['Email', 'Role', 'Created', 'Last login'];
  if (ctx.canWrite) headers.push('Actions');
  const rows = users.map((user) => {
    const self = user.id === ctx.user.id;
    return h('tr', { dataset: { testid: 'member-row', userId: user.id } },
      h('td', {}, h('span', { className: 'name', dataset: { testid: 'member-email' } }, user.email), self ? h('span', { className: 'muted' }, ' (you)') : null),
      h('td', { dataset: { testid: 'member-role' } }, title(user.role)),
      h('td', {}, date(user.created_at)),
      h('td', { title: date(user.last_login_at, 'never') }, ago(user.last_login_at)),
      ctx.canWrite && !self
        ? h('td', { className: 'buttons' },
          h('button', { type: 'button', className: 'small', dataset: { testid: 'change-role' }, onclick: () => changeRole(user, ctx) }, 'Change role…'),
          h('button', { type: 'button', className: 'small danger', dataset: { testid: 'remove-member' }, onclick: () => remove(user, ctx) }, 'Remove…'))
        : ctx.canWrite ? h('td', {}) : null);
  });
  replace(root,
    h('div', { className: 'view-head' },
      h('h1', {}, 'Members'),
      ctx.canWrite
        ? h('button', { type: 'button', className: 'primary', dataset: { testid: 'new-member' }, onclick: () => create(ctx) }, 'Add member')
        : null),
    table('members-table', headers, rows, 'No members.'));
}

async function create(ctx) {
  const email = h('input', { type: 'email', name: 'email', required: true, autocomplete: 'off', dataset: { testid: 'member-new-email' } });
  const password = h('input', {
    type: 'password', name: 'password', required: true, autocomplete: 'new-password', dataset: { testid: 'member-new-password' },
  });
  const role = select({ name: 'role', dataset: { testid: 'member-new-role' } }, grantable(ctx.user), 'member');
  const created = await formDialog({
    title: 'Add member',
    testid: 'member-dialog',
    body: [
      field('Email', email),
      field('Initial password', password, 'Give it to them out of band; they can change it under Settings.'),
      field('Role', role),
    ],
    submitLabel: 'Add member',
    submit: () => api.post('/v1/users', { email: email.value.trim(), password: password.value, role: role.value }),
  });
  if (created) await ctx.reload();
}

async function changeRole(user, ctx) {
  const role = select({ name: 'role', dataset: { testid: 'member-role-select' } }, grantable(ctx.user), user.role);
  const changed = await formDialog({
    title: `Change the role of ${user.email}`,
    testid: 'role-dialog',
    body: field('Role', role),
    submitLabel: 'Change role',
    submit: () => api.put(`/v1/users/${encodeURIComponent(user.id)}/role`, { role: role.value }),
  });
  if (changed) await ctx.reload();
}

async function remove(user, ctx) {
  const done = await confirmDialog({
    title: `Remove ${user.email}?`,
    message: 'They lose access to this org and their sessions end at once.',
    confirmLabel: 'Remove member',
    action: () => api.del(`/v1/users/${encodeURIComponent(user.id)}`),
  });
  if (done) await ctx.reload();
}
