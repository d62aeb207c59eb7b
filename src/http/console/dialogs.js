// Modal dialogs: a form, a confirmation, and the one-time secret.

import { h } from './dom.js';

function open(dialog) {
  document.body.append(dialog);
  dialog.showModal();
}

function dispose(dialog) {
  if (dialog.open) dialog.close();
  dialog.remove();
}

function alertBox() {
  return h('p', { className: 'alert', role: 'alert', dataset: { testid: 'dialog-alert' }, hidden: true });
}

function showIn(box, error) {
  box.textContent = error.message;
  box.hidden = false;
}

/**
 * A form in a modal. `submit(form)` runs on submit; its result resolves the promise and
 * closes the dialog, an error is shown inside the dialog (the page's alert is behind the
 * backdrop). Cancel (button or Escape) resolves null.
 */
export function formDialog({ title, testid, body, submitLabel, danger = false, submit }) {
  return new Promise((resolve) => {
    const box = alertBox();
    const submitButton = h('button', {
      type: 'submit',
      className: danger ? 'danger' : 'primary',
      dataset: { testid: `${testid}-submit` },
    }, submitLabel);
    const form = h('form', { className: 'dialog-form' },
      h('h2', {}, title),
      box,
      body,
      h('div', { className: 'actions' },
        h('button', { type: 'button', dataset: { testid: `${testid}-cancel` }, onclick: () => finish(null) }, 'Cancel'),
        submitButton));
    const dialog = h('dialog', { dataset: { testid }, 'aria-label': title }, form);
    let done = false;
    function finish(value) {
      if (done) return;
      done = true;
      dispose(dialog);
      resolve(value);
    }
    dialog.addEventListener('close', () => finish(null));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      submitButton.disabled = true;
      box.hidden = true;
      try {
        const result = await submit(form);
        finish(result === undefined ? true : result);
      } catch (error) {
        showIn(box, error);
      } finally {
        submitButton.disabled = false;
      }
    });
    open(dialog);
  });
}

/**
 * Asks before an irreversible action. `action` runs on the confirm button (its error is
 * shown in the dialog); resolves true once it succeeded, false on cancel.
 */
export function confirmDialog({ title, message, confirmLabel, action, testid = 'confirm-dialog' }) {
  return formDialog({
    title,
    testid,
    body: h('p', { className: 'message' }, message),
    submitLabel: confirmLabel,
    danger: true,
    submit: async () => {
      await action();
      return true;
    },
  }).then((value) => value === true);
}

/**
 * Shows freshly issued secrets once. The only way out is "I've stored this key": Escape is
 * refused (`closedby="none"`, and the `cancel` event is cancelled), a backdrop click does
 * nothing, and should the browser close it anyway it opens again. On dismissal the secrets
 * are removed from the page. `secrets` is a list of `{ label, value }`.
 */
export function secretDialog({ title, secrets }) {
  return new Promise((resolve) => {
    const rows = secrets.map(({ label, value }, i) => {
      const input = h('input', {
        type: 'text',
        readonly: true,
        value,
        className: 'secret',
        spellcheck: 'false',
        autocomplete: 'off',
        'aria-label': label,
        dataset: { testid: i === 0 ? 'secret-value' : `secret-value-${i}` },
      });
      const status = h('span', { className: 'copied', role: 'status' });
      const copy = h('button', {
        type: 'button',
        dataset: { testid: i === 0 ? 'secret-copy' : `secret-copy-${i}` },
        onclick: () => copyText(input, status),
      }, 'Copy');
      return h('div', { className: 'secret-row' },
        h('span', { className: 'field-label' }, label),
        h('div', { className: 'secret-line' }, input, copy, status));
    });
    let acknowledged = false;
    const stored = h('button', {
      type: 'button',
      className: 'primary',
      dataset: { testid: 'secret-stored' },
      onclick: () => {
        acknowledged = true;
        for (const input of dialog.querySelectorAll('input.secret')) input.value = '';
        dispose(dialog);
        resolve();
      },
    }, "I've stored this key");
    const dialog = h('dialog', { closedby: 'none', dataset: { testid: 'secret-dialog' }, 'aria-label': title },
      h('h2', {}, title),
      h('p', { className: 'warning' },
        'Copy the secret now. It is shown only this once: gatekey keeps only a hash of it.'),
      rows,
      h('div', { className: 'actions' }, stored));
    dialog.addEventListener('cancel', (event) => event.preventDefault());
    dialog.addEventListener('close', () => {
      if (!acknowledged) dialog.showModal();
    });
    open(dialog);
  });
}

async function copyText(input, status) {
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    // No clipboard permission (or not a secure context): select it for Ctrl+C instead.
    input.select();
    status.textContent = 'Selected: press Ctrl+C';
    return;
  }
  status.textContent = 'Copied';
}
