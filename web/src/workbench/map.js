// The Workbench's map (the global maplibregl from /static/vendor/) and what
// a draft draws on it: raster tiles (PNG), vector tiles (MVT, source layer
// "udf"), or GeoJSON from a file-mode run. Tile requests to this server carry
// the bearer token (transformRequest).

import { cellText } from '../format.js';
import { clamp, MAX_LAT, probePoint, roundBounds, sourceBounds, tileAt, zoomRange } from '../geo.js';
import { OUTLINE, SINGLE } from '../style.js';
import { ApiError, authHeaders, fetchRetry, sameOrigin } from './api.js';

const RASTER = 'draft-raster';
const FILL = 'draft-fill';
const LINE = 'draft-line';
const CIRCLE = 'draft-circle';
const FEATURE_LAYERS = [FILL, LINE, CIRCLE];

const IS_POLYGON = ['match', ['geometry-type'], ['Polygon', 'MultiPolygon'], true, false];
const IS_LINE = ['match', ['geometry-type'], ['LineString', 'MultiLineString'], true, false];
const IS_POINT = ['match', ['geometry-type'], ['Point', 'MultiPoint'], true, false];

// Draft tiles are asked for through the "wb" scheme (wb://host/path, this
// server's own URL otherwise): transformRequest gives them the token like
// any request to this server, and this module's loader fetches them, asks
// again after a busy answer (503, 429), and keeps the server's error text.
const SCHEME = 'wb';

export function tileUrl(url) {
  return url.replace(/^https?:/, `${SCHEME}:`);
}

function httpUrl(url) {
  return url.startsWith(`${SCHEME}:`) ? location.protocol + url.slice(SCHEME.length + 1) : url;
}

async function loadTile(params, abortController) {
  const url = httpUrl(params.url);
  const res = await fetchRetry(url, { headers: params.headers || {}, signal: abortController.signal, cache: 'no-store' });
  if (!res.ok) {
    const err = new ApiError(res.status, await res.text(), describeTile(url));
    err.url = url;
    throw err;
  }
  return { data: await res.arrayBuffer() };
}

// describeTile names a tile's request for an error's headline.
export function describeTile(url) {
  const m = String(url || '').match(/\/(\d+)\/(\d+)\/(\d+)(?:\.[a-z0-9]+)?(?:\?|$)/i);
  return m ? `Tile ${m[1]}/${m[2]}/${m[3]}` : 'Tile';
}

let sourceId = null;
let seq = 0;
let popup = null;

let registered = false;

export function createMap(container) {
  if (!registered) {
    maplibregl.addProtocol(SCHEME, loadTile);
    registered = true;
  }
  const background = getComputedStyle(document.documentElement).getPropertyValue('--map-bg').trim() || '#e9edf1';
  const map = new maplibregl.Map({
    container,
    style: {
      version: 8,
      sources: {},
      layers: [{ id: 'background', type: 'background', paint: { 'background-color': background } }],
    },
    center: [0, 20],
    zoom: 1,
    attributionControl: { compact: true },
    dragRotate: false,
    pitchWithRotate: false,
    // Only this server's requests get the token: a style or tile from elsewhere never sees it.
    transformRequest: (url) => (sameOrigin(httpUrl(url)) ? { url, headers: authHeaders() } : { url }),
  });
  map.touchZoomRotate.disableRotation();
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
  map.addControl(new maplibregl.ScaleControl(), 'bottom-right');
  for (const id of FEATURE_LAYERS) {
    map.on('mouseenter', id, () => { map.getCanvas().style.cursor = 'pointer'; });
    map.on('mouseleave', id, () => { map.getCanvas().style.cursor = ''; });
  }
  map.on('click', (event) => featurePopup(map, event));
  return map;
}

// drawnSource is the id of the source drawn, or null; a new one for every
// draw, so that a late error of a replaced source is told apart.
export function drawnSource() {
  return sourceId;
}

export function drawnLoaded(map) {
  return Boolean(sourceId && map.getSource(sourceId) && map.isSourceLoaded(sourceId));
}

export function clearDrawn(map) {
  for (const id of [RASTER, ...FEATURE_LAYERS]) if (map.getLayer(id)) map.removeLayer(id);
  if (sourceId && map.getSource(sourceId)) map.removeSource(sourceId);
  sourceId = null;
  if (popup) { popup.remove(); popup = null; }
}

function tileSource(type, url, udf) {
  const source = { type, tiles: [tileUrl(url)] };
  if (type === 'raster') source.tileSize = 256;
  const [minZ, maxZ] = zoomRange(udf || {});
  source.minzoom = minZ;
  source.maxzoom = Math.min(maxZ, 22);
  const bounds = sourceBounds(udf || {});
  if (bounds) source.bounds = bounds;
  return source;
}

export function showRaster(map, url, udf) {
  clearDrawn(map);
  sourceId = `draft-${++seq}`;
  map.addSource(sourceId, tileSource('raster', url, udf));
  map.addLayer({ id: RASTER, type: 'raster', source: sourceId, paint: { 'raster-fade-duration': 0 } });
}

function addFeatureLayers(map, sourceLayer) {
  const common = { source: sourceId };
  if (sourceLayer) common['source-layer'] = sourceLayer;
  map.addLayer({ id: FILL, type: 'fill', ...common, filter: IS_POLYGON,
    paint: { 'fill-color': SINGLE, 'fill-opacity': 0.5 } });
  map.addLayer({ id: LINE, type: 'line', ...common, filter: ['any', IS_POLYGON, IS_LINE],
    layout: { 'line-join': 'round', 'line-cap': 'round' },
    paint: { 'line-color': OUTLINE, 'line-width': ['case', IS_LINE, 2.5, 1] } });
  map.addLayer({ id: CIRCLE, type: 'circle', ...common, filter: IS_POINT,
    paint: { 'circle-color': SINGLE, 'circle-radius': 5, 'circle-stroke-color': '#ffffff', 'circle-stroke-width': 1.25 } });
}

// showVectorTiles draws MVT tiles; the server names their layer "udf".
export function showVectorTiles(map, url, udf) {
  clearDrawn(map);
  sourceId = `draft-${++seq}`;
  map.addSource(sourceId, tileSource('vector', url, udf));
  addFeatureLayers(map, 'udf');
}

export function showGeoJSON(map, data) {
  clearDrawn(map);
  sourceId = `draft-${++seq}`;
  map.addSource(sourceId, { type: 'geojson', data });
  addFeatureLayers(map, null);
}

// viewBounds is the visible extent as file mode is asked for it.
export function viewBounds(map) {
  const b = map.getBounds();
  return roundBounds(b.getWest(), b.getSouth(), b.getEast(), b.getNorth());
}

// probeTile is the tile under the view's centre (or the draft's bounds'
// centre), at the view's zoom kept within the draft's zooms.
export function probeTile(map, udf) {
  const [minZ, maxZ] = zoomRange(udf || {});
  const z = clamp(Math.round(map.getZoom()), minZ, maxZ);
  const { lng, lat } = map.getCenter().wrap();
  const [x, y] = probePoint(udf && udf.bounds, lng, clamp(lat, -MAX_LAT, MAX_LAT));
  return tileAt(x, y, z);
}

function featurePopup(map, event) {
  const layers = FEATURE_LAYERS.filter((id) => map.getLayer(id));
  if (!layers.length) return;
  const hits = map.queryRenderedFeatures(event.point, { layers });
  if (!hits.length) return;
  const order = { [CIRCLE]: 0, [LINE]: 1, [FILL]: 2 };
  hits.sort((a, b) => order[a.layer.id] - order[b.layer.id]);
  const box = document.createElement('div');
  box.className = 'feature-popup';
  const entries = Object.entries(hits[0].properties || {});
  if (!entries.length) {
    const p = document.createElement('p');
    p.textContent = 'No properties.';
    box.append(p);
  } else {
    const dl = document.createElement('dl');
    for (const [k, v] of entries) {
      const dt = document.createElement('dt');
      const dd = document.createElement('dd');
      dt.textContent = k;
      dd.textContent = cellText(v);
      dl.append(dt, dd);
    }
    box.append(dl);
  }
  if (popup) popup.remove();
  popup = new maplibregl.Popup({ maxWidth: '320px', focusAfterOpen: false }).setLngLat(event.lngLat).setDOMContent(box).addTo(map);
}
