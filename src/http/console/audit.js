// The audit log, newest first, a page at a time, filtered on the server by action, actor (a
// user or a key) and target id, so that "Load more" pages through the matching events only.

import * as api from './api.js';
import { field, h, replace, select, table } from './dom.js';
import { ago, date } from './format.js';

/** The actions gatekey records (the filter also accepts any other name typed in). */
const ACTIONS = [
  'org.created', 'org.rate_limit_set', 'org.role_scopes_set',
  'user.created', 'user.login_succeeded', 'user.login_failed', 'user.role_changed', 'user.removed',
  'user.password_changed',
  'session.revoked', 'session.refresh_token_reused', 'session.user_agent_mismatch',
  'service_account.created', 'service_account.deleted',
  'service_account.key_issued', 'service_account.key_pair_issued', 'service_account.key_rotated',
  'service_account.key_revoked', 'service_account.key_disabled', 'service_account.key_enabled',
  'service_account.key_deleted', 'service_account.key_rate_limit_set',
];

const PAGE_SIZE = '50';

/** Renders the filters and the first page of events. */
export async function auditView(root, ctx) {
  const [users, keys] = await Promise.all([
    api.listAll('/v1/users', 'users').catch(() => []),
    api.listAll('/v1/keys', 'keys').catch(() => []),
  ]);
  const action = h('input', { type: 'text', name: 'action', list: 'audit-actions', dataset: { testid: 'audit-action' }, placeholder: 'All actions' });
  const actions = h('datalist', { id: 'audit-actions' }, ACTIONS.map((a) => h('option', { value: a })));
  const actor = select({ name: 'actor', dataset: { testid: 'audit-actor' } }, [
    ['', 'Everyone'],
    ...users.map((u) => [u.id, u.email]),
    ...keys.map((k) => [k.id, `${k.name} (${k.prefix}${k.start}…)`]),
  ], '');
  const target = h('input', { type: 'text', name: 'target', dataset: { testid: 'audit-target' }, placeholder: 'Any id', spellcheck: false });
  const holder = h('div', { className: 'table-holder' });
  const more = h('button', { type: 'button', dataset: { testid: 'audit-more' }, hidden: true }, 'Load more');
  let events = [];
  let nextPage = '';

  async function load(reset) {
    ctx.clearError();
    const answer = await api.get(api.withQuery('/v1/audit-events', {
      action: action.value.trim(),
      actor: actor.value,
      target: target.value.trim(),
      page_size: PAGE_SIZE,
      page_token: reset ? '' : nextPage,
    }));
    events = reset ? answer.events || [] : events.concat(answer.events || []);
    nextPage = answer.next_page_token || '';
    draw();
    more.hidden = !nextPage;
  }
  function draw() {
    replace(holder, eventsTable(events));
  }
  const run = (reset) => load(reset).catch(ctx.showError);
  more.addEventListener('click', () => run(false));
  const form = h('form', { className: 'filters', dataset: { testid: 'audit-filters' } },
    field('Action', action), actions, field('Actor', actor), field('Target id', target),
    h('button', { type: 'submit', dataset: { testid: 'audit-apply' } }, 'Filter'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    run(true);
  });
  actor.addEventListener('change', () => run(true));

  await load(true);
  replace(root, h('div', { className: 'view-head' }, h('h1', {}, 'Audit log')), form, holder, more);
}

function eventsTable(events) {
  const rows = events.map((e) => h('tr', { dataset: { testid: 'audit-row' } },
    h('td', { title: date(e.occurred_at) }, ago(e.occurred_at)),
    h('td', { dataset: { testid: 'audit-actor-display' } },
      e.actor_display || e.actor, e.actor_display ? h('div', { className: 'mono muted' }, e.actor) : null),
    h('td', { className: 'mono', dataset: { testid: 'audit-action-name' } }, e.action),
    h('td', { className: 'mono' }, e.target || '—', e.key_prefix ? h('div', { className: 'muted' }, e.key_prefix) : null),
    h('td', { className: 'mono' }, e.client_ip || '—'),
    h('td', {}, details(e.details))));
  return table('audit-table', ['When', 'Actor', 'Action', 'Target', 'Client IP', 'Details'], rows, 'No events match.');
}

function details(map) {
  const entries = Object.entries(map || {});
  if (entries.length === 0) return '';
  return h('dl', { className: 'details' }, entries.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}
