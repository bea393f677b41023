// The selected layer: choosing it, learning its kind, showing it (tiles,
// features or a result), and re-requesting it when the form or the view
// changes. The selection's state is private to this module.

import { featureCollection, fromMapError, runFile, tileType } from './api.js';
import { showDetails, showKindBadge, labelAsTable, showOpacity } from './details.js';
import { buildForm, formPairs, markInvalid, showStyleParams, updateReset } from './form.js';
import { lastLine, plural } from './format.js';
import { kindFromFormat, kindFromType } from './kinds.js';
import { findLayer, isBroken, renderList, showKind } from './layers.js';
import { clearStyle, colors, forgetFeatures, renderLegend, setFeatures, showStyleGroup } from './legend.js';
import { showLinks, showRunUrl } from './links.js';
import {
  addRaster, addVector, drawnLoaded, drawnSource, featurePopup, hasDrawnSource, hasVector, paintVector,
  placeView, probeTile, rasterTiles, removeDrawn, setFeatureData, setRasterTiles, viewBounds,
} from './map.js';
import { hideResults, openResults, showResult } from './results.js';
import { announce, pageState, setBusy, setPageState, showError, showStatus } from './status.js';
import { refreshTerrain, selectTerrain } from './terrain.js';
import { qgisUri, runUrl, tilejsonUrl, tileTemplate, tileUrl, writeUrl } from './urls.js';

const RUN_DEBOUNCE_MS = 350;

const sel = {
  name: null,     // of the selected layer
  kind: null,     // raster | vector | json | table | html | text, once known
  gen: 0,         // bumped by every selection; stale async work checks it
  failed: false,  // a request for the current view failed
  probe: null,    // AbortController of the kind probe
  run: null,      // {controller, url} of the file-mode request in flight
  runTimer: 0,
  lastRunUrl: '', // the last file-mode URL shown
};

export function selectedName() {
  return sel.name;
}

function currentLayer() {
  return sel.name ? findLayer(sel.name) : null;
}

// pairs is the form's query for the selected layer.
function pairs(layer) {
  return formPairs(layer, sel.kind);
}

function updateLinks(map) {
  const layer = currentLayer();
  if (!layer || isBroken(layer)) return;
  const q = pairs(layer);
  const raster = sel.kind === 'raster';
  const fileMode = Boolean(sel.kind) && !raster;
  showLinks({
    tile: tileTemplate(layer, q),
    tilejson: tilejsonUrl(layer, q),
    qgis: raster ? qgisUri(layer, q) : null,
    run: fileMode ? runUrl(layer, viewBounds(map), q) : null,
  });
}

function renderDetails(map, name, layer, problem) {
  showDetails(name, layer, problem);
  if (!layer || problem) return;
  buildForm(layer);
  clearStyle();
  showOpacity(true);
  updateLinks(map);
}

// select shows the layer name: push adds a history entry, animate eases to
// its bounds, first is the page's first selection.
export function select(map, name, opts) {
  const { push = false, animate = true, first = false } = opts || {};
  const layer = findLayer(name);
  sel.gen++;
  cancelRun();
  if (sel.probe) sel.probe.abort();
  sel.probe = null;
  sel.name = name;
  sel.kind = null;
  sel.failed = false;
  sel.lastRunUrl = '';
  forgetFeatures();
  setBusy(false);
  showStatus('');
  renderList(name);
  document.title = `${name} · udftiles`;
  writeUrl(name, push);

  // The terrain of the last layer goes; this one's shows its toggle once
  // its /info says it is a DEM. Heights take the form's values (dem.js).
  selectTerrain(map, layer, (l) => formPairs(l, 'raster'));

  if (!layer || isBroken(layer)) {
    removeDrawn(map);
    hideResults();
    const problem = layer ? (layer.error || 'This layer is unavailable.') : `There is no layer named “${name}”.`;
    renderDetails(map, name, layer, problem);
    setPageState('error', lastLine(problem));
    return;
  }

  renderDetails(map, name, layer, '');
  setPageState('loading');
  placeView(map, layer, animate, first);

  const known = kindFromFormat(layer);
  if (known) {
    show(map, layer, known);
    return;
  }
  detect(map, layer);
}

// detect learns the kind of a layer whose result picks its own format by
// asking for one tile (its Content-Type), then shows the layer.
function detect(map, layer) {
  removeDrawn(map);
  hideResults();
  if (sel.probe) sel.probe.abort();
  const controller = new AbortController();
  sel.probe = controller;
  const gen = sel.gen;
  setBusy(true);
  setPageState('loading');
  const start = () => probeKind(map, layer, controller.signal)
    .then((kind) => {
      if (gen !== sel.gen || sel.probe !== controller) return;
      show(map, layer, kind);
    })
    .catch((err) => {
      if (err.name === 'AbortError' || gen !== sel.gen || sel.probe !== controller) return;
      fail(err);
    })
    .finally(() => {
      if (sel.probe === controller) {
        sel.probe = null;
        if (!sel.run) setBusy(false);
      }
    });
  // Probe where the view ends up, not where an animation starts.
  if (map.isMoving()) map.once('moveend', start);
  else start();
}

async function probeKind(map, layer, signal) {
  const t = probeTile(map, layer);
  const url = tileUrl(tileTemplate(layer, pairs(layer)), t);
  return kindFromType(await tileType(url, `Tile ${t.z}/${t.x}/${t.y}`, signal));
}

function setKind(map, name, kind) {
  sel.kind = kind;
  showKindBadge(kind);
  showStyleParams(kind === 'raster');
  showOpacity(kind === 'raster' || kind === 'vector');
  showStyleGroup(kind === 'vector');
  showKind(name, kind);
  updateLinks(map);
}

// show draws the selected layer once its kind is known.
function show(map, layer, kind) {
  setKind(map, layer.name, kind);
  if (kind === 'raster') {
    hideResults();
    addRaster(map, layer, tileTemplate(layer, pairs(layer)));
  } else if (kind === 'vector') {
    hideResults();
    addVector(map);
    scheduleRun(map, 0);
  } else {
    removeDrawn(map);
    openResults(layer.name);
    scheduleRun(map, 0);
  }
}

// reapply re-requests the current layer with the form's parameters.
export function reapply(map) {
  const layer = currentLayer();
  if (!layer || isBroken(layer)) return;
  updateReset(layer, sel.kind);
  if (!markInvalid()) {
    showStatus('Fix the highlighted parameter to update the layer.', true);
    return;
  }
  updateLinks(map);
  refreshTerrain(map);
  if (!sel.kind) {
    // Not known yet (the probe failed, or is under way): ask again with the new values.
    sel.failed = false;
    showStatus('');
    detect(map, layer);
    return;
  }
  if (sel.kind === 'raster') {
    const url = tileTemplate(layer, pairs(layer));
    if (!hasDrawnSource(map) || (url === rasterTiles() && !sel.failed)) return;
    sel.failed = false;
    showStatus('');
    setPageState('loading');
    setRasterTiles(map, url);
  } else {
    runView(map, sel.failed);
  }
}

// restyle colours the drawn features by the chosen property.
export function restyle(map) {
  if (!hasVector(map)) return;
  const { expr, legend, byProperty } = colors();
  paintVector(map, expr, byProperty);
  renderLegend(legend);
}

// ---- file mode: vector features and results ------------------------------

function scheduleRun(map, delay) {
  clearTimeout(sel.runTimer);
  sel.runTimer = setTimeout(() => runView(map, false), delay);
}

function cancelRun() {
  clearTimeout(sel.runTimer);
  if (sel.run) sel.run.controller.abort();
  sel.run = null;
}

// runView asks file mode for the current view and shows what comes back;
// a newer request aborts an older one. force re-runs an unchanged URL.
async function runView(map, force) {
  const layer = currentLayer();
  const kind = sel.kind;
  if (!layer || !kind || kind === 'raster') return;
  if (!markInvalid()) return;
  const url = runUrl(layer, viewBounds(map), pairs(layer));
  showRunUrl(url);
  if (!force && (url === sel.lastRunUrl || (sel.run && sel.run.url === url))) return;
  if (sel.run) sel.run.controller.abort();
  const controller = new AbortController();
  const run = { controller, url };
  sel.run = run;
  const gen = sel.gen;
  setBusy(true);
  setPageState('loading');
  try {
    const { text, type } = await runFile(url, controller.signal);
    if (gen !== sel.gen || sel.run !== run) return;
    sel.lastRunUrl = url;
    if (kind === 'vector') drawFeatures(map, text, type, gen);
    else showFileResult(text, type);
  } catch (err) {
    if (err.name === 'AbortError' || gen !== sel.gen || sel.run !== run) return;
    sel.lastRunUrl = '';
    fail(err);
  } finally {
    if (sel.run === run) {
      sel.run = null;
      setBusy(false);
    }
  }
}

function fail(err) {
  sel.failed = true;
  setPageState('error', showError(err));
}

function drawFeatures(map, text, type, gen) {
  const data = featureCollection(text, type);
  if (!hasDrawnSource(map)) return;
  setFeatures(data.features);
  restyle(map);
  setFeatureData(map, data);
  sel.failed = false;
  showStatus('');
  const n = data.features.length;
  map.once('idle', () => {
    if (gen !== sel.gen || sel.failed) return;
    setPageState('loaded', sel.name);
    announce(`${sel.name}: ${plural(n, 'feature', 'features')} drawn.`);
  });
  map.triggerRepaint();
}

function showFileResult(text, type) {
  if (showResult(sel.name, text, type)) labelAsTable();
  sel.failed = false;
  showStatus('');
  setPageState('loaded', sel.name);
  announce(`${sel.name}: result updated.`);
}

// ---- map events -------------------------------------------------------------

// onMoveEnd runs file mode again for the moved view (after a pause).
export function onMoveEnd(map) {
  if (sel.kind && sel.kind !== 'raster') {
    const layer = currentLayer();
    showRunUrl(runUrl(layer, viewBounds(map), pairs(layer)));
    scheduleRun(map, RUN_DEBOUNCE_MS);
  }
}

export function onMapClick(map, event) {
  if (sel.kind === 'vector') featurePopup(map, event);
}

// onMapError shows the first failed request of the drawn source with the
// server's error; errors of a source already left are ignored.
export function onMapError(map, event) {
  const sourceId = event.sourceId;
  if (sourceId && sourceId !== drawnSource()) return; // a layer we already left
  if (!sourceId) {
    console.error(event.error);
    showStatus((event.error && event.error.message) || 'Map error', true);
    return;
  }
  if (sel.failed) return; // one error at a time: the first explains the rest
  sel.failed = true;
  const gen = sel.gen;
  fromMapError(event.error).then((err) => {
    if (sourceId !== drawnSource() || gen !== sel.gen) return;
    setPageState('error', showError(err));
  });
}

// onIdle marks a raster layer loaded once its tiles in view are.
export function onIdle(map) {
  if (sel.kind !== 'raster' || sel.failed) return;
  if (drawnLoaded(map) && pageState() !== 'loaded') setPageState('loaded', sel.name);
}
