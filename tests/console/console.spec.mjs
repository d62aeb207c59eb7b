// The gatekey web console end to end in Debian's Chromium (never a downloaded browser).
// Run by tests/api/console.rs against a fresh server; by hand:
//   GATEKEY_URL=http://127.0.0.1:8080 GATEKEY_OWNER_EMAIL=... GATEKEY_OWNER_PASSWORD=... \
//   GATEKEY_MEMBER_EMAIL=... GATEKEY_MEMBER_PASSWORD=... SCREENSHOT_DIR=target/console-screenshots \
//   node tests/console/console.spec.mjs
// Exits 0 when every step passed, 1 with the failing step otherwise.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is required`);
    process.exit(2);
  }
  return value;
}

const BASE = required('GATEKEY_URL').replace(/\/$/, '');
const OWNER = { email: required('GATEKEY_OWNER_EMAIL'), password: required('GATEKEY_OWNER_PASSWORD') };
const MEMBER = { email: required('GATEKEY_MEMBER_EMAIL'), password: required('GATEKEY_MEMBER_PASSWORD') };
const SHOTS = process.env.SCREENSHOT_DIR || 'target/console-screenshots';
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const TIMEOUT = 15_000;

// Console errors, uncaught exceptions and CSP violations seen on any page, in order.
const problems = [];

function step(name) {
  console.log(`- ${name}`);
}

/** Collects what must never happen on the page; the login probe's 401 is expected. */
function watch(page) {
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    const url = message.location()?.url || '';
    // GET /console/session answers 401 before anyone signed in: that is how the page knows.
    if (text.includes('status of 401') && url.endsWith('/console/session')) return;
    // The mistyped current password the owner flow submits on purpose.
    if (text.includes('status of 401') && url.endsWith('/v1/auth/password')) return;
    problems.push(`console error: ${text} (${url})`);
  });
  page.on('response', (response) => {
    if (response.status() >= 500) problems.push(`${response.status()} from ${response.url()}`);
  });
}

/** POST /v1/verify from outside the browser, as a protected service would. */
async function verify(secret) {
  const response = await fetch(`${BASE}/v1/verify`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ credential: secret }),
  });
  assert.equal(response.status, 200, 'POST /v1/verify answers 200 with the decision in the body');
  return response.json();
}

/**
 * The decision once it is `reason`: a suspension reaches Verify through the cache's
 * invalidation, so give it a moment (well under the change feed's bound) before failing.
 */
async function verifyUntil(secret, reason) {
  let decision;
  for (let attempt = 0; attempt < 30; attempt++) {
    decision = await verify(secret);
    if (decision.reason === reason) return decision;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`Verify still answers ${JSON.stringify(decision)}, expected reason ${reason}`);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

async function signIn(page, who) {
  await page.goto(`${BASE}/console`);
  await page.getByTestId('login-form').waitFor();
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('view-keys').waitFor();
  assert.ok((await page.getByTestId('whoami').textContent()).includes(who.email), 'signed in as the right user');
}

async function nav(page, view) {
  await page.getByTestId(`nav-${view}`).click();
  await page.getByTestId(`view-${view}`).waitFor();
}

async function storageIsEmpty(page) {
  const used = await page.evaluate(() => localStorage.length + sessionStorage.length);
  assert.equal(used, 0, 'nothing in localStorage or sessionStorage');
}

function keyRow(page, id) {
  return page.locator(`[data-testid="key-row"][data-key-id="${id}"]`);
}

async function keyAction(page, id, action) {
  await keyRow(page, id).getByTestId('key-actions').click();
  await keyRow(page, id).getByTestId(`action-${action}`).click();
}

async function expectStatus(page, id, status) {
  await keyRow(page, id).and(page.locator(`[data-status="${status}"]`)).waitFor();
}

/** Reads the one-time secret(s), checks Escape cannot dismiss them, then acknowledges. */
async function takeSecret(page, screenshot) {
  const dialog = page.getByTestId('secret-dialog');
  await dialog.waitFor();
  const secret = await dialog.getByTestId('secret-value').inputValue();
  assert.ok(secret.length > 20, 'the dialog shows the secret');
  if (screenshot) await shot(page, screenshot);
  await page.keyboard.press('Escape');
  await page.keyboard.press('Escape');
  await page.mouse.click(5, 5);
  assert.ok(await dialog.isVisible(), 'Escape and a backdrop click leave the secret dialog open');
  await dialog.getByTestId('secret-stored').click();
  await dialog.waitFor({ state: 'detached' });
  assert.equal(await page.getByText(secret).count(), 0, 'the secret is gone from the page');
  return secret;
}

async function ownerFlow(page, context) {
  step('login page');
  await page.goto(`${BASE}/console`);
  await page.getByTestId('login-form').waitFor();
  await shot(page, 'login');

  step('sign in as the owner');
  await signIn(page, OWNER);
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'gatekey_session');
  assert.ok(session, 'the session cookie is set');
  assert.equal(session.httpOnly, true, 'the session cookie is HttpOnly');
  assert.equal(session.sameSite, 'Strict', 'the session cookie is SameSite=Strict');
  for (const cookie of cookies.filter((c) => c.name.startsWith('gatekey_'))) {
    assert.equal(cookie.httpOnly, true, `${cookie.name} is HttpOnly`);
    assert.equal(cookie.sameSite, 'Strict', `${cookie.name} is SameSite=Strict`);
  }
  await storageIsEmpty(page);

  step('a reload recovers the session');
  await page.reload();
  await page.getByTestId('view-keys').waitFor();

  step('create a service account');
  await nav(page, 'accounts');
  await page.getByTestId('new-account').click();
  const accountDialog = page.getByTestId('account-dialog');
  await accountDialog.getByLabel('Name').fill('payments-backend');
  await accountDialog.getByTestId('account-dialog-submit').click();
  await accountDialog.waitFor({ state: 'detached' });
  await page.getByTestId('account-row').filter({ hasText: 'payments-backend' }).waitFor();

  step('New key: the secret is shown once and verifies');
  await nav(page, 'keys');
  await page.getByTestId('new-key').click();
  const newKey = page.getByTestId('new-key-dialog');
  await newKey.getByLabel('Name').fill('checkout');
  await newKey.getByLabel('Service account').selectOption({ label: 'payments-backend (member)' });
  await newKey.getByLabel('Expires in (days)').fill('30');
  await newKey.getByTestId('new-key-dialog-submit').click();
  const first = await takeSecret(page, 'new-key-secret');
  let decision = await verify(first);
  assert.equal(decision.allowed, true, `the new key verifies: ${JSON.stringify(decision)}`);
  const row = page.getByTestId('key-row').filter({ hasText: 'checkout' });
  await row.and(page.locator('[data-status="active"]')).waitFor();
  const firstId = await row.getAttribute('data-key-id');
  assert.equal(await row.getByTestId('key-status').textContent(), 'Active');
  await shot(page, 'keys');

  step('rotate with a 24 hour grace period');
  await keyAction(page, firstId, 'rotate');
  const rotate = page.getByTestId('rotate-dialog');
  await rotate.getByLabel('Grace period for the old secret').selectOption('86400');
  await rotate.getByTestId('rotate-dialog-submit').click();
  const second = await takeSecret(page);
  assert.notEqual(second, first);
  decision = await verify(second);
  assert.equal(decision.allowed, true, `the rotated key verifies: ${JSON.stringify(decision)}`);
  decision = await verify(first);
  assert.equal(decision.allowed, true, 'the old secret works during the grace period');
  const rows = page.getByTestId('key-row').filter({ hasText: 'checkout' });
  await rows.nth(1).waitFor();
  const ids = await rows.evaluateAll((all) => all.map((r) => r.dataset.keyId));
  const secondId = ids.find((id) => id !== firstId);
  assert.ok(secondId, 'the replacement key is listed');

  step('disable, then enable');
  await keyAction(page, secondId, 'disable');
  await expectStatus(page, secondId, 'disabled');
  assert.equal(await keyRow(page, secondId).getByTestId('key-status').textContent(), 'Disabled');
  decision = await verifyUntil(second, 'DISABLED');
  assert.equal(decision.allowed, false, 'a disabled key is denied as disabled');
  await keyAction(page, secondId, 'enable');
  await expectStatus(page, secondId, 'active');
  decision = await verifyUntil(second, 'OK');
  assert.equal(decision.allowed, true, 'an enabled key verifies again');

  step('revoke (confirmed), then delete');
  await keyAction(page, secondId, 'revoke');
  const confirm = page.getByTestId('confirm-dialog');
  await confirm.waitFor();
  await confirm.getByTestId('confirm-dialog-submit').click();
  await expectStatus(page, secondId, 'revoked');
  decision = await verifyUntil(second, 'REVOKED');
  assert.equal(decision.allowed, false, 'a revoked key is denied as revoked');
  assert.equal(await keyRow(page, secondId).getByTestId('key-status').textContent(), 'Revoked');
  await keyRow(page, secondId).getByTestId('key-actions').click();
  assert.equal(await keyRow(page, secondId).getByTestId('action-rotate').count(), 0, 'a revoked key cannot be rotated');
  await keyRow(page, secondId).getByTestId('action-delete').click();
  await confirm.waitFor();
  await confirm.getByTestId('confirm-dialog-submit').click();
  await keyRow(page, secondId).waitFor({ state: 'detached' });
  assert.equal(await keyRow(page, firstId).getByTestId('action-delete').count(), 0,
    'delete is offered on revoked keys only');

  step('members');
  await nav(page, 'members');
  await page.getByTestId('member-row').filter({ hasText: MEMBER.email }).waitFor();
  await page.getByTestId('member-row').filter({ hasText: OWNER.email }).waitFor();
  await shot(page, 'members');

  step('audit log with actors in words, and its action filter');
  await nav(page, 'audit');
  const issued = page.getByTestId('audit-row').filter({ hasText: 'service_account.key_issued' });
  await issued.first().waitFor();
  assert.ok((await issued.first().getByTestId('audit-actor-display').textContent()).includes(OWNER.email),
    'the audit log names the actor by email');
  await shot(page, 'audit');
  await page.getByTestId('audit-action').fill('service_account.key_revoked');
  await page.getByTestId('audit-apply').click();
  await page.getByTestId('audit-row').filter({ hasNotText: 'service_account.key_revoked' }).first()
    .waitFor({ state: 'detached' });
  await page.getByTestId('audit-row').first().waitFor();
  step('and its actor filter, applied by the server');
  await page.getByTestId('audit-action').fill('');
  for (const [who, theirs] of [[MEMBER, 'user.login_succeeded'], [OWNER, 'service_account.key_issued']]) {
    await page.getByTestId('audit-actor').selectOption({ label: who.email });
    await page.getByTestId('audit-row').filter({ hasNotText: who.email }).first().waitFor({ state: 'detached' });
    await page.getByTestId('audit-row').filter({ hasText: theirs }).first().waitFor();
    assert.equal(await page.getByTestId('audit-row').filter({ hasNotText: who.email }).count(), 0,
      `only ${who.email}'s events are listed`);
  }

  step('settings: the org rate-limit default');
  await nav(page, 'settings');
  await page.getByTestId('org-rate-limit').waitFor();
  await page.getByTestId('org-limit-save').waitFor();
  await shot(page, 'settings');

  await storageIsEmpty(page);
  assert.equal(await page.getByTestId('alert').isVisible(), false, 'no error was shown');

  step('a mistyped current password is an error on the form, not the end of the session');
  await page.getByTestId('password-current').fill('not-the-password');
  await page.getByTestId('password-new').fill('a-new-password-long-enough');
  await page.getByTestId('password-save').click();
  await page.getByTestId('alert').waitFor();
  assert.match(await page.getByTestId('alert').textContent(), /incorrect/, 'the alert says why');
  assert.equal(await page.getByTestId('view-settings').isVisible(), true, 'still signed in');
  await nav(page, 'keys');

  step('log out');
  await page.getByTestId('logout').click();
  await page.getByTestId('login-form').waitFor();
  const left = (await context.cookies()).filter((c) => c.name === 'gatekey_session' && c.value);
  assert.equal(left.length, 0, 'logging out clears the session cookie');
}

async function memberFlow(page, context) {
  step('sign in as a member: everything is read-only');
  await signIn(page, MEMBER);
  await page.getByTestId('keys-table').waitFor();
  await page.getByTestId('key-row').first().waitFor();
  for (const absent of ['new-key', 'key-actions', 'action-rotate', 'action-revoke', 'action-delete']) {
    assert.equal(await page.getByTestId(absent).count(), 0, `a member sees no ${absent}`);
  }
  await nav(page, 'accounts');
  await page.getByTestId('account-row').first().waitFor();
  for (const absent of ['new-account', 'delete-account']) {
    assert.equal(await page.getByTestId(absent).count(), 0, `a member sees no ${absent}`);
  }
  await nav(page, 'members');
  await page.getByTestId('member-row').first().waitFor();
  for (const absent of ['new-member', 'change-role', 'remove-member']) {
    assert.equal(await page.getByTestId(absent).count(), 0, `a member sees no ${absent}`);
  }
  await nav(page, 'settings');
  assert.equal(await page.getByTestId('org-limit-save').count(), 0, 'a member cannot change the org limit');
  const orgLimit = page.getByTestId('org-limit');
  assert.equal(await orgLimit.isEditable(), false, 'the org limit is shown read-only');
  assert.equal(await orgLimit.evaluate((el) => getComputedStyle(el).cursor), 'not-allowed', 'and looks it');
  assert.equal(await page.getByTestId('nav-audit').isVisible(), false, 'the audit log (admins only) is not offered');
  assert.equal(await page.getByTestId('alert').isVisible(), false, 'no error was shown to the member');

  step('and the server refuses a member\'s write anyway');
  const session = await context.request.get(`${BASE}/console/session`);
  assert.equal(session.status(), 200);
  const { csrf_token: csrf } = await session.json();
  const refused = await context.request.post(`${BASE}/v1/service-accounts`, {
    headers: { 'X-CSRF-Token': csrf },
    data: { name: 'sneaky', role: 'member' },
  });
  assert.equal(refused.status(), 403, 'a member cannot create a service account');
  const noCsrf = await context.request.post(`${BASE}/console/session/refresh`);
  assert.equal(noCsrf.status(), 403, 'a state change without the CSRF token is refused');
  await storageIsEmpty(page);
}

async function main() {
  await mkdir(SHOTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  let failed = false;
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(TIMEOUT);
    // Reports CSP violations even where Chromium would not log them as errors.
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`);
      });
    });
    const page = await context.newPage();
    watch(page);
    try {
      await ownerFlow(page, context);
      await memberFlow(page, context);
    } catch (error) {
      failed = true;
      console.error(`FAILED: ${error.stack || error}`);
      await shot(page, 'failure').catch(() => {});
    }
  } finally {
    await browser.close();
  }
  if (problems.length) {
    failed = true;
    console.error(`problems on the page:\n  ${problems.join('\n  ')}`);
  }
  if (failed) process.exit(1);
  console.log(`ok: screenshots in ${SHOTS}`);
}

await main();
