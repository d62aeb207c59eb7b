// The one way the console talks to gatekey: same-origin fetch with the session cookie, the
// CSRF token on every state change, and one refresh-and-retry when the access token expired.
// The CSRF token lives in this module's memory only; after a reload GET /console/session
// hands it out again.

let csrfToken = null;
let refreshing = null;
let onSignedOut = () => {};

/** An API error: `code` is the stable reason (KEY_NOT_FOUND), `message` is for people. */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message || `request failed (${status})`);
    this.status = status;
    this.code = code || 'UNKNOWN';
    this.details = details || {};
  }
}

/** Called when the session is gone for good (the refresh failed too). */
export function whenSignedOut(callback) {
  onSignedOut = callback;
}

function send(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  return fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
    redirect: 'error',
  });
}

async function errorOf(response) {
  let error = {};
  try {
    error = (await response.json()).error || {};
  } catch {
    // Not JSON (a proxy's page): the status says enough.
  }
  return new ApiError(response.status, error.code, error.message, error.details);
}

async function parse(response) {
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/** Rotates the refresh token; true when the session goes on. */
async function rotate() {
  const response = await send('POST', '/console/session/refresh');
  if (!response.ok) return false;
  const session = await response.json();
  csrfToken = session.csrf_token;
  return true;
}

/**
 * Refreshes the session once for every caller of this page that saw CREDENTIAL_EXPIRED at the
 * same time. Tabs share the cookies, so two tabs presenting the same refresh token would look
 * like a stolen token being replayed (and end the session): under the Web Locks API one tab
 * refreshes at a time, and a tab that waited first checks whether the other one already did.
 */
function refreshSession() {
  if (!refreshing) {
    const once = async () => {
      const check = await send('GET', '/console/session');
      if (check.ok) {
        csrfToken = (await check.json()).csrf_token;
        return true;
      }
      return rotate();
    };
    const locked = navigator.locks
      ? navigator.locks.request('gatekey-console-refresh', once)
      : once();
    refreshing = locked
      .catch(() => false)
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

// 401s that mean the session is over; others (INVALID_CREDENTIALS for a mistyped current
// password) are the answer to the request, not to the session.
const SESSION_ENDED = new Set([
  'MISSING_CREDENTIAL',
  'INVALID_CREDENTIAL',
  'CREDENTIAL_EXPIRED',
  'CREDENTIAL_REVOKED',
  'CREDENTIAL_DISABLED',
  'SESSION_REVOKED',
  'UNKNOWN',
]);

function endIfSessionGone(error) {
  if (SESSION_ENDED.has(error.code)) onSignedOut(error);
}

/** `method path` with an optional JSON body; resolves to the parsed body, throws ApiError. */
export async function request(method, path, body) {
  let response = await send(method, path, body);
  if (response.status === 401) {
    const error = await errorOf(response);
    if (error.code !== 'CREDENTIAL_EXPIRED' || !(await refreshSession())) {
      endIfSessionGone(error);
      throw error;
    }
    response = await send(method, path, body);
    if (response.status === 401) {
      const again = await errorOf(response);
      endIfSessionGone(again);
      throw again;
    }
  }
  if (!response.ok) throw await errorOf(response);
  return parse(response);
}

export const get = (path) => request('GET', path);
export const post = (path, body) => request('POST', path, body ?? {});
export const put = (path, body) => request('PUT', path, body);
export const del = (path) => request('DELETE', path);

/** `path?name=value...` from the non-empty entries of `params`. */
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value) query.set(name, value);
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/** The signed-in session, or null when there is none. */
export async function currentSession() {
  let response = await send('GET', '/console/session');
  if (response.status === 401) {
    // A page reloaded after the access token expired: the server hands the CSRF token of a
    // still-signed session back in a header, so the refresh cookie can carry the session on.
    const token = response.headers.get('X-CSRF-Token');
    if (!token) return null;
    csrfToken = token;
    if (!(await refreshSession())) {
      csrfToken = null;
      return null;
    }
    response = await send('GET', '/console/session');
    if (response.status === 401) return null;
  }
  if (!response.ok) throw await errorOf(response);
  const session = await response.json();
  csrfToken = session.csrf_token;
  return session;
}

/** Signs in; throws ApiError (INVALID_CREDENTIALS...) on failure. */
export async function signIn(email, password) {
  const response = await send('POST', '/console/session', { email, password });
  if (!response.ok) throw await errorOf(response);
  const session = await response.json();
  csrfToken = session.csrf_token;
  return session;
}

/** Ends the session on the server (the refresh token is revoked) and forgets the token. */
export async function signOut() {
  try {
    const response = await send('DELETE', '/console/session');
    if (!response.ok && response.status !== 401) throw await errorOf(response);
  } finally {
    csrfToken = null;
  }
}

/** Every item of a paged list (`field` names the array), following next_page_token. */
export async function listAll(path, field, params = {}) {
  let items = [];
  let pageToken = '';
  // A bound so that a server bug cannot loop the page forever; 20 pages of 1000 is plenty.
  for (let page = 0; page < 20; page++) {
    const answer = await get(withQuery(path, { ...params, page_size: '1000', page_token: pageToken }));
    items = items.concat(answer[field] || []);
    pageToken = answer.next_page_token;
    if (!pageToken) break;
  }
  return items;
}
