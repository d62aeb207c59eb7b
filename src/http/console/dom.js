// Builds DOM nodes from data without ever parsing it as markup: text goes in as text nodes,
// so a key name such as "<img onerror=...>" stays a string (and the CSP would block it anyway).

/**
 * `h('button', { className: 'primary', dataset: { testid: 'x' }, onclick: fn }, 'Label')`.
 * Attributes named `on...` become listeners; `dataset` and `aria` objects are spread;
 * `className`, `hidden`, `disabled`, `value`, `type`... are set as properties or attributes.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (name === 'className' || name === 'value' || name === 'checked' || name === 'selected') {
      el[name] = value;
    } else if (value === true) {
      el.setAttribute(name, '');
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces every child of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

let nextId = 0;

/**
 * A labelled form field: `<label for>` naming the control, and an optional hint tied to it
 * with `aria-describedby` (inside the label it would become part of the control's name).
 */
export function field(label, control, hint) {
  if (!control.id) control.id = `f${++nextId}`;
  const hintEl = hint ? h('span', { className: 'hint', id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { className: 'field' },
    h('label', { className: 'field-label', for: control.id }, label), control, hintEl);
}

/** A `<select>` from `[value, label]` pairs. */
export function select(attrs, options, current) {
  return h('select', attrs, options.map(([value, label]) =>
    h('option', { value, selected: value === current }, label)));
}

/** A table with a header row; `rows` are arrays of cells (nodes or text) or ready `<tr>`s. */
export function table(testid, headers, rows, empty) {
  const body = h('tbody', {}, rows);
  if (rows.length === 0) {
    body.append(h('tr', {}, h('td', { colspan: headers.length, className: 'empty' }, empty)));
  }
  return h('table', { dataset: { testid } },
    h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
    body);
}
