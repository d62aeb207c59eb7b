// The "New key" dialog: issue a key (or a publishable + secret pair) and show its secret once.

import * as api from './api.js';
import { formDialog, secretDialog } from './dialogs.js';
import { field, h, select } from './dom.js';
import { words } from './format.js';

const DAY_MS = 24 * 3600 * 1000;

/** Opens the dialog; after the secret was acknowledged, reloads the list. */
export async function openNewKey(accounts, preselected, ctx) {
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 100, dataset: { testid: 'new-key-name' } });
  const account = select({ name: 'service_account', required: true, dataset: { testid: 'new-key-account' } },
    accounts.map((a) => [a.id, `${a.name} (${a.role})`]), preselected || accounts[0]?.id);
  const kind = select({ name: 'kind', dataset: { testid: 'new-key-kind' } }, [
    ['secret', 'Secret (sk_): server side'],
    ['publishable', 'Publishable (pk_): safe in a browser or app'],
    ['pair', 'Pair: a publishable and a secret key together'],
  ], 'secret');
  const environment = select({ name: 'environment', dataset: { testid: 'new-key-environment' } },
    [['live', 'Live'], ['test', 'Test']], 'live');
  const scopes = h('input', { type: 'text', name: 'scopes', dataset: { testid: 'new-key-scopes' }, placeholder: 'orders:read orders:write' });
  const publishableScopes = h('input', { type: 'text', name: 'publishable_scopes', dataset: { testid: 'new-key-publishable-scopes' } });
  const publishableField = field('Publishable key scopes', publishableScopes, 'Separate with spaces or commas.');
  publishableField.hidden = true;
  kind.addEventListener('change', () => {
    publishableField.hidden = kind.value !== 'pair';
  });
  const ips = h('textarea', { name: 'ip_allowlist', rows: 2, dataset: { testid: 'new-key-ips' }, placeholder: '203.0.113.0/24' });
  const days = h('input', { type: 'number', name: 'expires_in_days', min: 1, step: 1, dataset: { testid: 'new-key-expires-days' } });
  const limit = h('input', { type: 'number', name: 'limit', min: 1, step: 1, dataset: { testid: 'new-key-limit' } });
  const windowSecs = h('input', { type: 'number', name: 'window_secs', min: 1, step: 1, value: '60', dataset: { testid: 'new-key-window' } });
  const burst = h('input', { type: 'number', name: 'burst', min: 1, step: 1, placeholder: 'as requests', dataset: { testid: 'new-key-burst' } });

  const body = [
    field('Name', name),
    field('Service account', account),
    h('div', { className: 'row' }, field('Kind', kind), field('Environment', environment)),
    field('Scopes', scopes, 'Separate with spaces or commas.'),
    publishableField,
    field('IP allowlist', ips, 'Addresses or CIDR ranges, one per line or comma-separated. Empty: any address.'),
    field('Expires in (days)', days, 'Optional. Empty: never expires.'),
    h('fieldset', {},
      h('legend', {}, 'Rate limit override (optional; empty: the org default)'),
      h('div', { className: 'row' },
        field('Requests', limit), field('Per (seconds)', windowSecs), field('Burst', burst))),
  ];

  const issued = await formDialog({
    title: 'New key',
    testid: 'new-key-dialog',
    body,
    submitLabel: 'Create key',
    submit: () => {
      const request = {
        name: name.value.trim(),
        environment: environment.value,
      };
      const scopeList = words(scopes.value);
      if (scopeList.length) request.scopes = scopeList;
      const ipList = words(ips.value);
      if (ipList.length) request.ip_allowlist = ipList;
      if (days.value) request.expires_at = new Date(Date.now() + Number(days.value) * DAY_MS).toISOString();
      if (limit.value) {
        request.rate_limit = {
          limit: Number(limit.value),
          window_secs: Number(windowSecs.value || 60),
          // Empty burst: the limit itself, as `gatekey limits set` defaults it.
          burst: Number(burst.value || limit.value),
        };
      }
      const base = `/v1/service-accounts/${encodeURIComponent(account.value)}`;
      if (kind.value === 'pair') {
        const publishable = words(publishableScopes.value);
        if (publishable.length) request.publishable_scopes = publishable;
        return api.post(`${base}/key-pairs`, request);
      }
      request.kind = kind.value;
      return api.post(`${base}/keys`, request);
    },
  });
  if (!issued) return;
  const secrets = issued.pair_id
    ? [
      { label: `Secret key (${issued.secret_key?.name ?? 'secret'})`, value: issued.secret },
      { label: `Publishable key (${issued.publishable_key?.name ?? 'publishable'})`, value: issued.publishable_secret },
    ]
    : [{ label: `Secret for ${issued.key.name}`, value: issued.secret }];
  await secretDialog({ title: 'Key created', secrets });
  await ctx.reload();
}
