// Every request the page makes to the server, and the one place where a
// failed answer becomes an Error: the server's {"error", "logs"} (a Python
// traceback and a UDF's prints) carried as err.detail and err.logs.

import { lastLine } from './format.js';

const JSON_ACCEPT = { Accept: 'application/json' };

// httpError is a failed HTTP response as an Error with status, what (the
// request, for the headline), detail and logs.
export function httpError(status, text, what) {
  const err = new Error('');
  err.status = status;
  err.what = what;
  err.detail = '';
  err.logs = '';
  if (text) {
    try {
      const body = JSON.parse(text);
      if (body && typeof body.error === 'string') {
        err.detail = body.error;
        err.logs = typeof body.logs === 'string' ? body.logs : '';
      }
    } catch (_) { /* not JSON */ }
    if (!err.detail) err.detail = text.length > 2000 ? text.slice(0, 2000) + '…' : text;
  }
  if (!err.detail) err.detail = status === 0 ? 'network error' : `HTTP ${status}`;
  err.message = `${what}: ${lastLine(err.detail)}`;
  return err;
}

// describeUrl names a request for an error's headline.
export function describeUrl(url) {
  const tile = url.match(/\/(\d+)\/(\d+)\/(\d+)(?:\.[a-z0-9]+)?(?:\?|$)/i);
  if (tile) return `Tile ${tile[1]}/${tile[2]}/${tile[3]}`;
  if (/tilejson/i.test(url)) return 'TileJSON';
  if (/\/run(?:\?|$)/.test(url)) return 'Run';
  return 'Request';
}

// fromMapError turns a MapLibre request error into an Error like
// httpError's. MapLibre keeps no body, so the failed URL is asked again for
// the server's JSON error.
export async function fromMapError(err) {
  const status = err && typeof err.status === 'number' ? err.status : 0;
  const url = err && typeof err.url === 'string' ? err.url : '';
  let text = '';
  try {
    if (err && err.body && typeof err.body.text === 'function') {
      text = await err.body.text();
    } else if (url && status) {
      const res = await fetch(url, { headers: JSON_ACCEPT });
      if (!res.ok) text = await res.text();
    }
  } catch (_) { /* keep the generic message */ }
  const e = httpError(status, text, describeUrl(url));
  if (!text && err) e.detail = err.statusText || err.message || String(err);
  return e;
}

// listLayers is /v1/udfs: every layer with its schema and status.
export async function listLayers() {
  const res = await fetch('/v1/udfs', { headers: JSON_ACCEPT });
  const text = await res.text();
  if (!res.ok) throw new Error(`Could not list layers: ${httpError(res.status, text, 'List').detail} (HTTP ${res.status})`);
  const data = JSON.parse(text);
  return Array.isArray(data.udfs) ? data.udfs : [];
}

// listColormaps is the colormap names, a convenience: without them the
// colormap field is free text, so a failure gives none.
export async function listColormaps() {
  try {
    const res = await fetch('/v1/colormaps', { headers: JSON_ACCEPT });
    if (!res.ok) return [];
    const data = await res.json();
    return Array.isArray(data.colormaps) ? data.colormaps.filter((n) => typeof n === 'string') : [];
  } catch (_) {
    return [];
  }
}

// tileType fetches one tile for its Content-Type alone (the probe of a
// layer whose result picks its format); what names it in an error.
export async function tileType(url, what, signal) {
  const res = await fetch(url, { signal });
  if (!res.ok) throw httpError(res.status, await res.text(), what);
  const type = res.headers.get('Content-Type');
  if (res.body) res.body.cancel().catch(() => {});
  return type;
}

// runFile asks file mode for a result: {text, type}.
export async function runFile(url, signal) {
  const res = await fetch(url, { signal, headers: { Accept: 'application/geo+json, application/json, */*' } });
  const text = await res.text();
  if (!res.ok) throw httpError(res.status, text, 'Run');
  return { text, type: res.headers.get('Content-Type') || '' };
}

// featureCollection reads a run's GeoJSON; a single Feature is taken as a
// collection of one.
export function featureCollection(text, type) {
  let data;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw httpError(200, `The result is not JSON (${type}): ${e.message}`, 'Run');
  }
  if (!data || !Array.isArray(data.features)) {
    if (data && data.type === 'Feature') data = { type: 'FeatureCollection', features: [data] };
    else throw httpError(200, `The result is not a GeoJSON FeatureCollection (${type})`, 'Run');
  }
  return data;
}

// layerInfo is a COG layer's /info (band count and type), or null when it
// cannot be had: the 3D terrain toggle is an extra that a failure leaves out.
export async function layerInfo(name, signal) {
  try {
    const res = await fetch(`/v1/udfs/${encodeURIComponent(name)}/info`, { signal, headers: JSON_ACCEPT });
    if (!res.ok) return null;
    return await res.json();
  } catch (_) {
    return null;
  }
}
