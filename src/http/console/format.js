// How times, roles and statuses are written on screen.

const UNITS = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
  ['second', 1],
];

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });

/** "3 minutes ago", "in 2 days", or `never` when the time is unset. */
export function ago(iso, never = 'never') {
  if (!iso) return never;
  const secs = Math.round((Date.parse(iso) - Date.now()) / 1000);
  if (Math.abs(secs) < 10) return 'just now';
  for (const [unit, size] of UNITS) {
    if (Math.abs(secs) >= size) return relative.format(Math.trunc(secs / size), unit);
  }
  return 'just now';
}

/** "2026-11-30 20:00 UTC"; `fallback` when unset. */
export function date(iso, fallback = '—') {
  if (!iso) return fallback;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return fallback;
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** "Active", "Expired", ... from the API's lowercase words. */
export function title(word) {
  if (!word) return '';
  const spaced = String(word).replaceAll('_', ' ');
  return spaced.charAt(0).toUpperCase() + spaced.slice(1);
}

/** "100 per 60 s (burst 10)". */
export function policy(p) {
  if (!p) return 'none';
  const burst = p.burst ? ` (burst ${p.burst})` : '';
  return `${p.limit} per ${p.window_secs} s${burst}`;
}

/** Splits a comma- or whitespace-separated list, dropping empty items. */
export function words(text) {
  return String(text || '').split(/[\s,]+/).filter((w) => w.length > 0);
}
