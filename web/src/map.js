// The MapLibre map (the global maplibregl from /static/vendor/) and what the
// page draws on it: a raster tile source or GeoJSON features of the selected
// layer, their opacity and colours, the view, and feature popups.

import { clamp, isWorld, MAX_LAT, probePoint, roundBounds, sourceBounds, tileAt, zoomRange } from './geo.js';
import { cellText } from './format.js';
import { OUTLINE, SINGLE } from './style.js';

const RASTER_ID = 'udf-raster';
const FILL_ID = 'udf-fill';
const LINE_ID = 'udf-line';
const CIRCLE_ID = 'udf-circle';
const VECTOR_LAYERS = [FILL_ID, LINE_ID, CIRCLE_ID];

const IS_POLYGON = ['match', ['geometry-type'], ['Polygon', 'MultiPolygon'], true, false];
const IS_LINE = ['match', ['geometry-type'], ['LineString', 'MultiLineString'], true, false];
const IS_POINT = ['match', ['geometry-type'], ['Point', 'MultiPoint'], true, false];

const panel = document.querySelector('.panel');

let sourceId = null; // of the drawn layer; new for every layer drawn, so a late error of a left one is told apart
let sourceSeq = 0;
let tilesUrl = '';   // the tile URL the raster source requests
let opacity = 1;
let popup = null;

export function createMap() {
  const background = getComputedStyle(document.documentElement).getPropertyValue('--map-bg').trim() || '#e9edf1';
  const map = new maplibregl.Map({
    container: 'map',
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
  });
  map.touchZoomRotate.disableRotation();
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
  map.addControl(new maplibregl.ScaleControl(), 'bottom-right');
  return map;
}

// drawnSource is the id of the source drawn, or null.
export function drawnSource() {
  return sourceId;
}

export function hasDrawnSource(map) {
  return Boolean(sourceId && map.getSource(sourceId));
}

// drawnLoaded is true once the drawn source's tiles in view are loaded.
export function drawnLoaded(map) {
  return hasDrawnSource(map) && map.isSourceLoaded(sourceId);
}

export function removeDrawn(map) {
  for (const id of [RASTER_ID, ...VECTOR_LAYERS]) if (map.getLayer(id)) map.removeLayer(id);
  if (sourceId && map.getSource(sourceId)) map.removeSource(sourceId);
  sourceId = null;
  if (popup) { popup.remove(); popup = null; }
}

export function addRaster(map, layer, url) {
  removeDrawn(map);
  sourceId = `udf-${++sourceSeq}`;
  tilesUrl = url;
  const source = { type: 'raster', tiles: [url], tileSize: 256 };
  if (Number.isFinite(layer.minzoom)) source.minzoom = layer.minzoom;
  if (Number.isFinite(layer.maxzoom)) source.maxzoom = layer.maxzoom;
  const bounds = sourceBounds(layer);
  if (bounds) source.bounds = bounds;
  map.addSource(sourceId, source);
  map.addLayer({
    id: RASTER_ID,
    type: 'raster',
    source: sourceId,
    paint: { 'raster-opacity': opacity, 'raster-fade-duration': 150 },
  });
}

// rasterTiles is the tile URL the raster source requests.
export function rasterTiles() {
  return tilesUrl;
}

export function setRasterTiles(map, url) {
  tilesUrl = url;
  map.getSource(sourceId).setTiles([url]);
}

export function addVector(map) {
  removeDrawn(map);
  sourceId = `udf-${++sourceSeq}`;
  map.addSource(sourceId, { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
  map.addLayer({ id: FILL_ID, type: 'fill', source: sourceId, filter: IS_POLYGON,
    paint: { 'fill-color': SINGLE, 'fill-opacity': 0.5 * opacity } });
  map.addLayer({ id: LINE_ID, type: 'line', source: sourceId, filter: ['any', IS_POLYGON, IS_LINE],
    layout: { 'line-join': 'round', 'line-cap': 'round' },
    paint: { 'line-color': SINGLE, 'line-opacity': opacity, 'line-width': ['case', IS_LINE, 2.5, 1] } });
  map.addLayer({ id: CIRCLE_ID, type: 'circle', source: sourceId, filter: IS_POINT,
    paint: { 'circle-color': SINGLE, 'circle-radius': 5, 'circle-opacity': opacity,
      'circle-stroke-color': '#ffffff', 'circle-stroke-width': 1.25, 'circle-stroke-opacity': opacity } });
}

export function setFeatureData(map, data) {
  map.getSource(sourceId).setData(data);
}

export function hasVector(map) {
  return Boolean(map.getLayer(FILL_ID));
}

// paintVector colours the features with the expression expr; outlines keep
// their own colour unless the colour goes by a property.
export function paintVector(map, expr, byProperty) {
  map.setPaintProperty(FILL_ID, 'fill-color', expr);
  map.setPaintProperty(LINE_ID, 'line-color', byProperty ? expr : OUTLINE);
  map.setPaintProperty(CIRCLE_ID, 'circle-color', expr);
}

export function setOpacity(map, o) {
  opacity = o;
  if (map.getLayer(RASTER_ID)) map.setPaintProperty(RASTER_ID, 'raster-opacity', o);
  if (map.getLayer(FILL_ID)) map.setPaintProperty(FILL_ID, 'fill-opacity', 0.5 * o);
  if (map.getLayer(LINE_ID)) map.setPaintProperty(LINE_ID, 'line-opacity', o);
  if (map.getLayer(CIRCLE_ID)) {
    map.setPaintProperty(CIRCLE_ID, 'circle-opacity', o);
    map.setPaintProperty(CIRCLE_ID, 'circle-stroke-opacity', o);
  }
}

// fitPadding keeps a framed layer clear of the panel: beside it on a wide
// screen, above it on a narrow one.
function fitPadding(map) {
  const pad = { top: 24, right: 24, bottom: 24, left: 24 };
  if (!panel.classList.contains('is-collapsed')) {
    const canvas = map.getContainer().getBoundingClientRect();
    const box = panel.getBoundingClientRect();
    if (box.width < canvas.width * 0.6) pad.left = box.right - canvas.left + 24;
    else pad.bottom = canvas.bottom - box.top + 24;
  }
  const size = map.getContainer().getBoundingClientRect();
  if (size.width - pad.left - pad.right < 80 || size.height - pad.top - pad.bottom < 80) {
    return { top: 10, right: 10, bottom: 10, left: 10 };
  }
  return pad;
}

// placeView frames the layer: its bounds, except that a layer covering the
// whole world (a Python UDF) keeps the current view after the first
// selection. The zoom is kept within the layer's zooms so that it shows.
export function placeView(map, layer, animate, first) {
  const b = layer.bounds;
  const [minZ, maxZ] = zoomRange(layer);
  let camera = null;
  if (Array.isArray(b) && b.length === 4 && b.every(Number.isFinite) && (first || !isWorld(b))) {
    let [west, south, east, north] = b;
    if (east < west) east += 360; // crosses the antimeridian
    south = Math.max(south, -MAX_LAT);
    north = Math.min(north, MAX_LAT);
    camera = map.cameraForBounds([[west, south], [east, north]], { padding: fitPadding(map), maxZoom: maxZ }) || null;
  } else if (first && Array.isArray(layer.center) && layer.center.length >= 2) {
    camera = { center: [layer.center[0], layer.center[1]], zoom: Number.isFinite(layer.center[2]) ? layer.center[2] : map.getZoom() };
  }
  if (!camera) camera = { center: map.getCenter(), zoom: map.getZoom() };
  camera.zoom = clamp(camera.zoom, minZ, maxZ);
  if (animate) map.easeTo({ ...camera, bearing: 0, duration: 600 });
  else map.jumpTo(camera);
}

// viewBounds is the visible extent as file mode is asked for it.
export function viewBounds(map) {
  const b = map.getBounds();
  return roundBounds(b.getWest(), b.getSouth(), b.getEast(), b.getNorth());
}

// probeTile is the tile under the view's centre (or the layer's bounds'
// centre) at the view's zoom, within the layer's zooms.
export function probeTile(map, layer) {
  const [minZ, maxZ] = zoomRange(layer);
  const z = clamp(Math.round(map.getZoom()), minZ, maxZ);
  const { lng, lat } = map.getCenter().wrap();
  const [x, y] = probePoint(layer.bounds, lng, lat);
  return tileAt(x, y, z);
}

// wireFeatures shows a pointer over features and calls click for a click
// anywhere on the map.
export function wireFeatures(map, click) {
  for (const id of VECTOR_LAYERS) {
    map.on('mouseenter', id, () => { map.getCanvas().style.cursor = 'pointer'; });
    map.on('mouseleave', id, () => { map.getCanvas().style.cursor = ''; });
  }
  map.on('click', click);
}

// featurePopup shows the properties of the feature clicked, if any.
export function featurePopup(map, event) {
  const hits = map.queryRenderedFeatures(event.point, { layers: VECTOR_LAYERS.filter((id) => map.getLayer(id)) });
  if (!hits.length) return;
  // Points and lines sit on top of polygons: prefer them.
  const order = { [CIRCLE_ID]: 0, [LINE_ID]: 1, [FILL_ID]: 2 };
  hits.sort((a, b) => order[a.layer.id] - order[b.layer.id]);
  const f = hits[0];
  const box = document.createElement('div');
  box.className = 'feature-popup';
  const entries = Object.entries(f.properties || {});
  if (entries.length === 0) {
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
  popup = new maplibregl.Popup({ maxWidth: '320px', focusAfterOpen: false })
    .setLngLat(event.lngLat)
    .setDOMContent(box)
    .addTo(map);
}
