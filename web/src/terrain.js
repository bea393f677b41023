// The 3D terrain toggle of DEM layers: a raster-dem source of the layer's
// Terrarium tiles under the map, with an exaggeration slider and a tilted
// camera. Shown for the selected layer once its /info says it is a DEM.

import { layerInfo } from './api.js';
import { DEFAULT_EXAGGERATION, TERRAIN_PITCH, demSource, demTiles, isDem } from './dem.js';

export const DEM_SOURCE_ID = 'udf-terrain';

const field = document.getElementById('terrain-field');
const toggle = document.getElementById('terrain');
const exaggeration = document.getElementById('exaggeration');
const exaggerationValue = document.getElementById('exaggeration-value');

const infos = new Map(); // layer name -> its /info (null: none), asked once
let layer = null;         // the selected layer, while it is a DEM
let pairsOf = () => [];   // the form's pairs of the selected layer
let gen = 0;              // bumped by every selection
let controller = null;    // of the /info request in flight

function exaggerationNow() {
  const v = Number(exaggeration.value);
  return Number.isFinite(v) && v > 0 ? v : DEFAULT_EXAGGERATION;
}

function showExaggeration() {
  exaggerationValue.textContent = `${exaggerationNow().toFixed(1)}×`;
}

export function terrainOn(map) {
  return Boolean(map.getTerrain && map.getTerrain());
}

function enable(map) {
  if (!layer) return;
  if (!map.getSource(DEM_SOURCE_ID)) map.addSource(DEM_SOURCE_ID, demSource(layer, pairsOf(layer)));
  map.setTerrain({ source: DEM_SOURCE_ID, exaggeration: exaggerationNow() });
  map.dragRotate.enable();
  map.easeTo({ pitch: TERRAIN_PITCH, duration: 600 });
  exaggeration.disabled = false;
}

// disable flattens the map; animate eases the camera back, else it jumps
// (when another layer is about to be framed).
function disable(map, animate) {
  const was = terrainOn(map) || map.getSource(DEM_SOURCE_ID);
  if (terrainOn(map)) map.setTerrain(null);
  if (map.getSource(DEM_SOURCE_ID)) map.removeSource(DEM_SOURCE_ID);
  map.dragRotate.disable();
  exaggeration.disabled = true;
  if (!was) return;
  if (animate) map.easeTo({ pitch: 0, bearing: 0, duration: 400 });
  else map.jumpTo({ pitch: 0, bearing: 0 });
}

// selectTerrain follows a newly selected layer: the terrain of the last one
// goes, and the toggle shows once this one's /info says it is a DEM. pairs
// gives the form's query of a layer.
export function selectTerrain(map, selected, pairs) {
  gen++;
  if (controller) controller.abort();
  controller = null;
  layer = null;
  pairsOf = pairs;
  toggle.checked = false;
  field.hidden = true;
  disable(map, false);
  if (!selected || selected.handler !== 'cog' || selected.status === 'error') return;
  const mine = gen;
  const show = (info) => {
    if (mine !== gen || !isDem(selected, info)) return;
    layer = selected;
    field.hidden = false;
  };
  if (infos.has(selected.name)) {
    show(infos.get(selected.name));
    return;
  }
  controller = new AbortController();
  const c = controller;
  layerInfo(selected.name, c.signal).then((info) => {
    if (c.signal.aborted) return;
    infos.set(selected.name, info);
    if (controller === c) controller = null;
    show(info);
  });
}

// refreshTerrain asks the DEM source for tiles with the form's new values.
export function refreshTerrain(map) {
  const source = layer && map.getSource(DEM_SOURCE_ID);
  if (!source) return;
  const url = demTiles(layer, pairsOf(layer));
  if (source.tiles && source.tiles[0] === url) return;
  source.setTiles([url]);
}

export function wireTerrain(map) {
  showExaggeration();
  exaggeration.disabled = true;
  toggle.addEventListener('change', () => {
    if (toggle.checked) enable(map);
    else disable(map, true);
  });
  exaggeration.addEventListener('input', () => {
    showExaggeration();
    if (terrainOn(map)) map.setTerrain({ source: DEM_SOURCE_ID, exaggeration: exaggerationNow() });
  });
}
