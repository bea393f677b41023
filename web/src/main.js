// udftiles map page: lists the server's layers and shows one of them, as a
// raster tile source, as vector features from file mode, or as a result
// panel. This module starts the map and wires the page's controls; the
// others each own one part of the page.

import { listColormaps, listLayers } from './api.js';
import { onOpacity } from './details.js';
import { setColormaps, wireForm } from './form.js';
import { defaultName, onPick, renderList, setLayers, showNoLayers } from './layers.js';
import { onColorBy } from './legend.js';
import { wireCopyButtons } from './links.js';
import { createMap, setOpacity, wireFeatures } from './map.js';
import { wireResultsToggle } from './results.js';
import { onIdle, onMapClick, onMapError, onMoveEnd, reapply, restyle, select, selectedName } from './selection.js';
import { ready, setPageState, showStatus } from './status.js';
import { wireTerrain } from './terrain.js';
import { requestedName } from './urls.js';

const panel = document.querySelector('.panel');
const panelToggle = document.getElementById('panel-toggle');

function failPage(message) {
  showNoLayers();
  showStatus(message, true);
  setPageState('error', message);
}

function wireControls(map) {
  onPick((name) => {
    if (name !== selectedName()) select(map, name, { push: true });
  });
  onOpacity((o) => setOpacity(map, o));
  wireForm(() => reapply(map));
  onColorBy(() => restyle(map));
  wireResultsToggle();
  wireCopyButtons();
  wireTerrain(map);

  const followUrl = () => {
    const name = requestedName() || defaultName();
    if (name && name !== selectedName()) select(map, name);
  };
  window.addEventListener('popstate', followUrl);
  window.addEventListener('hashchange', followUrl);

  map.on('moveend', () => onMoveEnd(map));
  wireFeatures(map, (event) => onMapClick(map, event));
  map.on('error', (event) => onMapError(map, event));
  map.on('idle', () => onIdle(map));
}

function wirePanel(map) {
  panelToggle.addEventListener('click', () => {
    const collapsed = panel.classList.toggle('is-collapsed');
    panelToggle.setAttribute('aria-expanded', String(!collapsed));
    panelToggle.title = collapsed ? 'Show panel' : 'Hide panel';
    document.body.classList.toggle('panel-collapsed', collapsed);
    if (map) map.resize();
  });
}

function start() {
  if (typeof maplibregl === 'undefined') {
    wirePanel(null);
    failPage('The map library did not load (/static/vendor/maplibre-gl.js).');
    return;
  }

  let map;
  try {
    map = createMap();
  } catch (err) {
    wirePanel(null);
    failPage(`The map could not start: ${err.message || err}. WebGL may be unavailable.`);
    return;
  }
  window.udftiles.map = map;
  wirePanel(map);

  const mapLoaded = new Promise((resolve) => map.once('load', resolve));
  Promise.all([listLayers(), listColormaps(), mapLoaded])
    .then(([layers, colormaps]) => {
      setLayers(layers);
      setColormaps(colormaps);
      wireControls(map);
      const name = requestedName() || defaultName();
      if (!name) {
        renderList(null);
        showStatus('The server has no layers configured.');
        setPageState('loaded', null);
        return;
      }
      select(map, name, { animate: false, first: true });
    })
    .catch((err) => failPage(err.message || String(err)));
}

// window.udftiles is for scripts and the browser tests: the map, a promise
// of the first layer shown, and a way to select a layer.
window.udftiles = {
  map: null,
  ready,
  select: (name) => window.udftiles.map && select(window.udftiles.map, name, { push: true }),
};
start();
