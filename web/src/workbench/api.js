// Every request the Workbench makes, with the bearer token. The token lives
// in this module's variable only: never in localStorage, sessionStorage or
// a cookie, so it is gone with the tab.

import { unquoteGo } from './traceback.js';

let token = '';

export function setToken(value) {
  token = String(value || '').trim();
}

export function hasToken() {
  return token !== '';
}

// authHeaders are the headers a request to this server carries.
export function authHeaders(extra) {
  const h = { ...(extra || {}) };
  if (token) h.Authorization = `Bearer ${token}`;
  return h;
}

// sameOrigin says whether url is this server's (only those get the token).
export function sameOrigin(url) {
  try {
    return new URL(url, location.href).origin === location.origin;
  } catch (_) {
    return false;
  }
}

// ApiError is a failed answer: status, the server's {"error", "logs",
// "line"} as body, and what was asked (for the headline).
export class ApiError extends Error {
  constructor(status, text, what) {
    let body = null;
    try {
      const j = JSON.parse(text);
      if (j && typeof j === 'object' && !Array.isArray(j)) body = j;
    } catch (_) { /* not JSON */ }
    if (!body) body = { error: text ? (text.length > 4000 ? text.slice(0, 4000) + '…' : text) : '' };
    if (typeof body.error !== 'string') body.error = body.error ? JSON.stringify(body.error) : '';
    if (typeof body.logs !== 'string') body.logs = '';
    if (!body.error) body.error = status === 0 ? 'network error' : `HTTP ${status}`;
    super(`${what}: ${body.error.trim().split('\n').pop()}`);
    this.status = status;
    this.body = body;
    this.what = what;
  }
}

// Busy answers (503: the UDF's queue or the render slots are full; 429:
// over a rate limit) are asked again, a few times, after Retry-After (at most
// 2 s) or a short backoff: a map asks for many draft tiles at once, and
// drafts are never cached.
const RETRIES = 5;

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    if (signal) {
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(new DOMException('aborted', 'AbortError'));
      }, { once: true });
    }
  });
}

// fetchRetry is fetch, again after a busy answer to a GET.
export async function fetchRetry(url, init) {
  const method = (init && init.method) || 'GET';
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(url, init);
    if ((res.status !== 503 && res.status !== 429) || method !== 'GET' || attempt >= RETRIES) return res;
    const after = Number(res.headers.get('Retry-After'));
    const wait = Number.isFinite(after) && after > 0 ? Math.min(after * 1000, 2000) : 200 * 2 ** attempt;
    if (res.body) res.body.cancel().catch(() => {});
    await sleep(wait * (0.75 + Math.random() / 2), init && init.signal);
  }
}

// request sends one request and returns {status, type, text, logs,
// headers}; a status of 400 or more throws an ApiError.
export async function request(method, url, { body, accept, signal, what } = {}) {
  const headers = authHeaders(accept ? { Accept: accept } : { Accept: 'application/json' });
  const init = { method, headers, signal, cache: 'no-store' };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  let res;
  try {
    res = await fetchRetry(url, init);
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(0, String((err && err.message) || err), what || method);
  }
  const text = await res.text();
  if (!res.ok) throw new ApiError(res.status, text, what || `${method} ${new URL(url, location.href).pathname}`);
  return {
    status: res.status,
    type: res.headers.get('Content-Type') || '',
    text,
    logs: unquoteGo(res.headers.get('X-UDF-Logs') || ''),
    headers: res.headers,
  };
}

async function json(method, url, opts) {
  const r = await request(method, url, opts);
  try {
    return r.text ? JSON.parse(r.text) : {};
  } catch (e) {
    throw new ApiError(r.status, `not JSON: ${e.message}`, opts && opts.what);
  }
}

const enc = encodeURIComponent;

// createDraft sends the code: {id, udf}, or an ApiError whose body has the
// traceback (and "line") when the code does not load.
export function createDraft(code, signal) {
  return json('POST', '/v1/drafts', { body: { code }, signal, what: 'Draft' });
}

export function saveUDF(name, payload) {
  return json('PUT', `/v1/udfs/${enc(name)}`, { body: payload, what: 'Save' });
}

export async function loadCode(name) {
  const r = await request('GET', `/v1/udfs/${enc(name)}/code`, { accept: 'text/plain, */*', what: 'Open' });
  return r.text;
}

export async function listVersions(name) {
  const data = await json('GET', `/v1/udfs/${enc(name)}/versions`, { what: 'Versions' });
  return Array.isArray(data.versions) ? data.versions : [];
}

export function restoreVersion(name, version) {
  return json('POST', `/v1/udfs/${enc(name)}/versions/${enc(version)}/restore`, { body: {}, what: 'Restore' });
}

export function createToken(name, options) {
  return json('POST', `/v1/udfs/${enc(name)}/tokens`, { body: options, what: 'Share' });
}

export async function listTokens(name) {
  const data = await json('GET', `/v1/udfs/${enc(name)}/tokens`, { what: 'Tokens' });
  if (Array.isArray(data)) return data;
  return Array.isArray(data.tokens) ? data.tokens : [];
}

export function revokeToken(name, id) {
  return request('DELETE', `/v1/udfs/${enc(name)}/tokens/${enc(id)}`, { what: 'Revoke' });
}

export async function getUDF(name) {
  return json('GET', `/v1/udfs/${enc(name)}`, { what: 'UDF' });
}
