// URLs: those of a layer (tiles, TileJSON, file-mode runs, QGIS) and the
// page's own, which names the selected layer (/map/{name} or #layer={name}).
// No DOM; reads location when called.

// Absolute URL without percent-encoding the {z}/{x}/{y} placeholders
// (the URL constructor would turn "{" into "%7B").
export function absolute(u) {
  if (!u) return '';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(u)) return u;
  if (u.startsWith('//')) return location.protocol + u;
  return location.origin + (u.startsWith('/') ? u : '/' + u);
}

// Query-string escaping that leaves ",", ":" and "/" readable; braces stay
// escaped so that a value can never look like a {z} placeholder.
export function encodeValue(v) {
  return encodeURIComponent(v).replace(/%2C/gi, ',').replace(/%3A/gi, ':').replace(/%2F/gi, '/');
}

function queryString(pairs) {
  return pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeValue(v)}`).join('&');
}

export function withQuery(url, pairs) {
  const q = queryString(pairs);
  if (!q) return url;
  return url + (url.includes('?') ? '&' : '?') + q;
}

// pairs, in the functions below, are the form's [name, value] parameters.

export function tileTemplate(layer, pairs) {
  return withQuery(absolute(layer.tiles), pairs);
}

export function tilejsonUrl(layer, pairs) {
  return withQuery(absolute(layer.tilejson), pairs);
}

export function tileUrl(template, t) {
  return template.replace('{z}', t.z).replace('{x}', t.x).replace('{y}', t.y);
}

// runUrl is the layer's file-mode run over the view's bounds, which a layer
// that takes no bounds (takes_bounds false in /v1/udfs) is not sent.
export function runUrl(layer, bounds, pairs) {
  const base = absolute(`/v1/udfs/${encodeURIComponent(layer.name)}/run`);
  const all = layer.takes_bounds === false ? [...pairs] : [['bounds', bounds.join(',')], ...pairs];
  if (/^(mvt|pbf)$/i.test(layer.default_format || '')) all.push(['format', 'geojson']);
  return withQuery(base, all);
}

export function qgisUri(layer, pairs) {
  return `type=xyz&url=${encodeURIComponent(tileTemplate(layer, pairs))}&zmin=${layer.minzoom}&zmax=${layer.maxzoom}`;
}

function decode(s) {
  try { return decodeURIComponent(s); } catch (_) { return s; }
}

function onMapPath() {
  return /^\/map\/[^/]+\/?$/.test(location.pathname);
}

// requestedName is the layer the page's URL names, or null.
export function requestedName() {
  const m = location.pathname.match(/^\/map\/([^/]+)\/?$/);
  if (m) return decode(m[1]);
  return new URLSearchParams(location.hash.slice(1)).get('layer');
}

// writeUrl names the layer in the page's URL, in the form it already has.
export function writeUrl(name, push) {
  const url = onMapPath()
    ? `/map/${encodeURIComponent(name)}${location.search}`
    : `${location.pathname}${location.search}#layer=${encodeURIComponent(name)}`;
  if (url === location.pathname + location.search + location.hash) return;
  history[push ? 'pushState' : 'replaceState'](null, '', url);
}
