// What the Share dialog offers for a share token: the XYZ URL, its TileJSON
// URL, a MapLibre source and layer, a QGIS connection and a Python call. Pure.

import { pyLiteral } from './params.js';

// Query-string escaping that keeps ",", ":" and "/" readable; braces stay
// escaped so that a value never looks like a {z} placeholder.
export function encodeValue(v) {
  return encodeURIComponent(v).replace(/%2C/gi, ',').replace(/%3A/gi, ':').replace(/%2F/gi, '/');
}

export function withQuery(url, pairs) {
  const q = (pairs || []).map(([k, v]) => `${encodeURIComponent(k)}=${encodeValue(v)}`).join('&');
  if (!q) return url;
  return url + (url.includes('?') ? '&' : '?') + q;
}

// withExtension puts .ext after a tile URL's {y}, before its query.
export function withExtension(url, ext) {
  if (!ext) return url;
  const i = url.indexOf('?');
  const path = i < 0 ? url : url.slice(0, i);
  const query = i < 0 ? '' : url.slice(i);
  if (/\{y\}\.[a-z0-9]+$/i.test(path)) return url;
  return `${path}.${ext}${query}`;
}

// originOf is the server part of an absolute URL ("https://host:port").
export function originOf(url) {
  const m = String(url || '').match(/^([a-z][a-z0-9+.-]*:\/\/[^/?#]+)/i);
  return m ? m[1] : '';
}

function sourceId(name) {
  return String(name || 'udf').replace(/[^A-Za-z0-9_-]/g, '_') || 'udf';
}

// shareSnippets builds the texts of the Share dialog.
//   name: the UDF's name; token: "fsh_..."; urls: {tiles, tilejson, file} as the
//   tokens API answers (absolute); pairs: the form's [name, value] query;
//   values: {name: value} the same, coerced, for Python; kind: "raster",
//   "vector" or another (file results); minzoom/maxzoom: the UDF's zooms.
export function shareSnippets({ name, token, urls, pairs = [], values = {}, kind = 'raster', minzoom = 0, maxzoom = 22 }) {
  const vector = kind === 'vector';
  const tiles = urls && urls.tiles ? urls.tiles : '';
  const file = urls && urls.file ? urls.file : '';
  const xyz = withQuery(vector ? withExtension(tiles, 'mvt') : tiles, pairs);
  const tilejson = urls && urls.tilejson ? withQuery(urls.tilejson, pairs) : '';
  const fileUrl = withQuery(file, pairs);
  const id = sourceId(name);
  const zmin = Number.isFinite(minzoom) ? minzoom : 0;
  const zmax = Number.isFinite(maxzoom) ? maxzoom : 22;

  let maplibre;
  if (vector) {
    maplibre = [
      `map.addSource(${JSON.stringify(id)}, {`,
      `  type: 'vector',`,
      `  tiles: [${JSON.stringify(xyz)}],`,
      `  minzoom: ${zmin},`,
      `  maxzoom: ${zmax},`,
      `});`,
      `map.addLayer({ id: ${JSON.stringify(id + '-fill')}, type: 'fill', source: ${JSON.stringify(id)}, 'source-layer': 'udf',`,
      `  filter: ['==', ['geometry-type'], 'Polygon'], paint: { 'fill-color': '#2f6fde', 'fill-opacity': 0.5 } });`,
      `map.addLayer({ id: ${JSON.stringify(id + '-line')}, type: 'line', source: ${JSON.stringify(id)}, 'source-layer': 'udf',`,
      `  paint: { 'line-color': '#1d4ea8' } });`,
      `map.addLayer({ id: ${JSON.stringify(id + '-point')}, type: 'circle', source: ${JSON.stringify(id)}, 'source-layer': 'udf',`,
      `  filter: ['==', ['geometry-type'], 'Point'], paint: { 'circle-color': '#2f6fde', 'circle-radius': 4 } });`,
    ].join('\n');
  } else {
    maplibre = [
      `map.addSource(${JSON.stringify(id)}, {`,
      `  type: 'raster',`,
      `  tiles: [${JSON.stringify(xyz)}],`,
      `  tileSize: 256,`,
      `  minzoom: ${zmin},`,
      `  maxzoom: ${zmax},`,
      `});`,
      `map.addLayer({ id: ${JSON.stringify(id)}, type: 'raster', source: ${JSON.stringify(id)} });`,
    ].join('\n');
  }

  const qgisUri = `type=xyz&url=${encodeURIComponent(xyz)}&zmin=${zmin}&zmax=${zmax}`;
  const qgis = [
    `# QGIS: Layer › Add Layer › Add ${vector ? 'Vector Tile' : 'XYZ'} Layer with the URL above, or in the Python console:`,
    `uri = ${JSON.stringify(qgisUri)}`,
    vector ? `iface.addVectorTileLayer(uri, ${JSON.stringify(String(name || 'udf'))})`
      : `iface.addRasterLayer(uri, ${JSON.stringify(String(name || 'udf'))}, "wms")`,
  ].join('\n');

  const args = Object.entries(values).map(([k, v]) => `, ${k}=${pyLiteral(v)}`).join('');
  const origin = originOf(tiles || file);
  const fused = [
    `import os`,
    `os.environ.setdefault("UDFTILES_URL", ${JSON.stringify(origin)})`,
    `import udftiles as fused`,
    ``,
    `result = fused.run(${JSON.stringify(String(token || ''))}${args})  # the whole result (file mode)`,
    `tile = fused.run(${JSON.stringify(String(token || ''))}, x=0, y=0, z=0${args})  # one tile`,
  ].join('\n');

  return { xyz, tilejson, file: fileUrl, maplibre, qgis, qgisUri, fused };
}
