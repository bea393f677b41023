// udftiles map page: lists the server's layers and shows one as a raster source.
(function () {
  'use strict';

  const LAYER_ID = 'udf-raster';
  const MAX_LAT = 85.0511;

  const $ = (id) => document.getElementById(id);
  const el = {
    list: $('layer-list'),
    details: $('details'),
    title: $('details-title'),
    description: $('details-description'),
    error: $('details-error'),
    meta: $('details-meta'),
    urls: $('details-urls'),
    tileUrl: $('tile-url'),
    tilejsonUrl: $('tilejson-url'),
    opacity: $('opacity'),
    opacityValue: $('opacity-value'),
    params: $('params'),
    paramsBody: $('params-body'),
    status: $('status'),
    announce: $('announce'),
    panel: document.querySelector('.panel'),
    panelToggle: $('panel-toggle'),
  };

  const state = {
    layers: [],
    current: null,     // name of the selected layer
    sourceId: null,    // MapLibre source id of the drawn layer; new for every selection
    sourceSeq: 0,
    failed: false,     // a request for the current layer failed
    opacity: 1,
  };

  // ready resolves with the first layer's name once its tiles have loaded,
  // and rejects if the page could not show it.
  let settle = null;
  const ready = new Promise((resolve, reject) => { settle = { resolve, reject }; });
  ready.catch(() => {});

  function setPageState(value, detail) {
    document.body.dataset.state = value;
    if (!settle) return;
    if (value === 'loaded') settle.resolve(detail);
    else if (value === 'error') settle.reject(new Error(detail));
    else return;
    settle = null;
  }

  // ---- helpers -----------------------------------------------------------

  // Absolute URL without percent-encoding the {z}/{x}/{y} placeholders
  // (the URL constructor would turn "{" into "%7B").
  function absolute(u) {
    if (!u) return '';
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(u)) return u;
    if (u.startsWith('//')) return location.protocol + u;
    return location.origin + (u.startsWith('/') ? u : '/' + u);
  }

  function decode(s) {
    try { return decodeURIComponent(s); } catch (_) { return s; }
  }

  function isBroken(layer) {
    return layer.status === 'error';
  }

  function findLayer(name) {
    return state.layers.find((l) => l.name === name) || null;
  }

  function showStatus(text, isError) {
    el.status.textContent = text;
    el.status.classList.toggle('is-error', Boolean(isError));
    el.status.hidden = !text;
  }

  function parseErrorBody(text) {
    if (!text) return '';
    try {
      const body = JSON.parse(text);
      if (body && typeof body.error === 'string') return body.error;
    } catch (_) { /* not JSON */ }
    return text.length > 300 ? text.slice(0, 300) + '…' : text;
  }

  // Turns a MapLibre request error into one readable line, using the
  // server's JSON {"error": "..."} body when there is one.
  async function describeError(err) {
    if (!err) return 'Unknown error';
    const status = typeof err.status === 'number' ? err.status : null;
    const url = typeof err.url === 'string' ? err.url : '';
    let text = '';
    try {
      if (err.body && typeof err.body.text === 'function') {
        text = await err.body.text();
      } else if (url && status) {
        const res = await fetch(url, { headers: { Accept: 'application/json' } });
        if (!res.ok) text = await res.text();
      }
    } catch (_) { /* keep the generic message */ }

    let message = parseErrorBody(text);
    if (!message) message = status === 0 ? 'network error' : (err.statusText || err.message || String(err));

    const tile = url.match(/\/(\d+)\/(\d+)\/(\d+)(?:\.[a-z0-9]+)?(?:\?|$)/i);
    const what = tile ? `Tile ${tile[1]}/${tile[2]}/${tile[3]}` : (/tilejson/i.test(url) ? 'TileJSON' : 'Request');
    return `${what}: ${message}` + (status ? ` (HTTP ${status})` : '');
  }

  // ---- map ----------------------------------------------------------------

  function createMap() {
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

  function removeRaster(map) {
    if (map.getLayer(LAYER_ID)) map.removeLayer(LAYER_ID);
    if (state.sourceId && map.getSource(state.sourceId)) map.removeSource(state.sourceId);
    state.sourceId = null;
  }

  function addRaster(map, layer) {
    removeRaster(map);
    state.sourceId = `udf-${++state.sourceSeq}`;
    map.addSource(state.sourceId, { type: 'raster', url: absolute(layer.tilejson), tileSize: 256 });
    map.addLayer({
      id: LAYER_ID,
      type: 'raster',
      source: state.sourceId,
      paint: { 'raster-opacity': state.opacity, 'raster-fade-duration': 150 },
    });
  }

  function fitPadding(map) {
    const pad = { top: 24, right: 24, bottom: 24, left: 24 };
    if (!el.panel.classList.contains('is-collapsed')) {
      const canvas = map.getContainer().getBoundingClientRect();
      const panel = el.panel.getBoundingClientRect();
      if (panel.width < canvas.width * 0.6) pad.left = panel.right - canvas.left + 24;
      else pad.bottom = canvas.bottom - panel.top + 24;
    }
    const size = map.getContainer().getBoundingClientRect();
    if (size.width - pad.left - pad.right < 80 || size.height - pad.top - pad.bottom < 80) {
      return { top: 10, right: 10, bottom: 10, left: 10 };
    }
    return pad;
  }

  function fitLayer(map, layer, animate) {
    const b = layer.bounds;
    if (Array.isArray(b) && b.length === 4 && b.every(Number.isFinite)) {
      let [west, south, east, north] = b;
      if (east < west) east += 360; // crosses the antimeridian
      south = Math.max(south, -MAX_LAT);
      north = Math.min(north, MAX_LAT);
      map.fitBounds([[west, south], [east, north]], {
        padding: fitPadding(map),
        maxZoom: Number.isFinite(layer.maxzoom) ? layer.maxzoom : 18,
        animate,
      });
      return;
    }
    const c = layer.center;
    if (Array.isArray(c) && c.length >= 2) {
      map.jumpTo({ center: [c[0], c[1]], zoom: Number.isFinite(c[2]) ? c[2] : map.getZoom() });
    }
  }

  // ---- sidebar -----------------------------------------------------------

  function renderList() {
    const hadFocus = el.list.contains(document.activeElement);
    el.list.replaceChildren();
    if (state.layers.length === 0) {
      const li = document.createElement('li');
      li.className = 'layer-placeholder';
      li.textContent = 'No layers configured.';
      el.list.append(li);
      return;
    }
    for (const layer of state.layers) {
      const li = document.createElement('li');
      const name = document.createElement('span');
      name.className = 'layer-name';
      name.textContent = layer.name;

      if (isBroken(layer)) {
        li.className = 'layer-broken';
        li.classList.toggle('is-current', layer.name === state.current);
        const badge = document.createElement('span');
        badge.className = 'layer-badge';
        badge.textContent = 'error';
        const err = document.createElement('span');
        err.className = 'layer-broken-error';
        err.textContent = layer.error || 'This layer is unavailable.';
        li.append(badge, name, err);
      } else {
        const button = document.createElement('button');
        button.type = 'button';
        button.dataset.name = layer.name;
        if (layer.name === state.current) button.setAttribute('aria-current', 'true');
        if (layer.handler) {
          const handler = document.createElement('span');
          handler.className = 'layer-handler';
          handler.textContent = layer.handler;
          button.append(handler);
        }
        button.append(name);
        li.append(button);
      }
      el.list.append(li);
    }
    if (hadFocus) {
      const current = el.list.querySelector('button[aria-current="true"]');
      if (current) current.focus();
    }
  }

  function addMeta(term, value) {
    if (value === undefined || value === null || value === '') return;
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = term;
    dd.textContent = value;
    el.meta.append(dt, dd);
  }

  function formatDefault(p) {
    const parts = [];
    if (p.default !== undefined && p.default !== null) {
      parts.push(typeof p.default === 'string' ? p.default : JSON.stringify(p.default));
    }
    if (Array.isArray(p.enum) && p.enum.length) parts.push(`one of ${p.enum.join(', ')}`);
    return parts.join('; ');
  }

  function renderParams(params) {
    el.paramsBody.replaceChildren();
    const list = Array.isArray(params) ? params : [];
    el.params.hidden = list.length === 0;
    for (const p of list) {
      const tr = document.createElement('tr');
      const name = document.createElement('td');
      const code = document.createElement('code');
      code.textContent = p.name;
      name.append(code);
      const type = document.createElement('td');
      type.textContent = p.type || '';
      const def = document.createElement('td');
      def.textContent = formatDefault(p);
      tr.append(name, type, def);
      el.paramsBody.append(tr);
    }
  }

  function renderDetails(name, layer, problem) {
    el.details.hidden = false;
    el.title.textContent = name;
    el.description.textContent = (layer && layer.description) || '';
    el.error.textContent = problem || '';
    el.error.hidden = !problem;
    el.meta.replaceChildren();
    el.urls.hidden = Boolean(problem);
    if (!layer || problem) return;

    addMeta('Handler', layer.handler);
    if (Number.isFinite(layer.minzoom) && Number.isFinite(layer.maxzoom)) {
      addMeta('Zoom', `${layer.minzoom}–${layer.maxzoom}`);
    }
    if (Array.isArray(layer.formats) && layer.formats.length) {
      addMeta('Formats', layer.formats.join(', ') + (layer.default_format ? ` (default ${layer.default_format})` : ''));
    }
    if (Array.isArray(layer.modes) && layer.modes.length) addMeta('Modes', layer.modes.join(', '));

    el.tileUrl.value = absolute(layer.tiles);
    el.tilejsonUrl.value = absolute(layer.tilejson);
    renderParams(layer.parameters);
  }

  async function copyField(button) {
    const input = $(button.dataset.copy);
    if (!input) return;
    let ok = false;
    try {
      await navigator.clipboard.writeText(input.value);
      ok = true;
    } catch (_) {
      // Clipboard API is unavailable on plain-http origins other than localhost.
      input.focus();
      input.select();
      try { ok = document.execCommand('copy'); } catch (_) { ok = false; }
    }
    const label = input.labels && input.labels[0] ? input.labels[0].textContent.trim() : 'Text';
    button.textContent = ok ? 'Copied' : 'Select';
    button.classList.toggle('is-done', ok);
    el.announce.textContent = ok ? `${label} copied to the clipboard.` : `${label} is selected; press Ctrl+C to copy.`;
    clearTimeout(button._reset);
    button._reset = setTimeout(() => {
      button.textContent = 'Copy';
      button.classList.remove('is-done');
    }, 1500);
  }

  // ---- URL <-> selection --------------------------------------------------

  function onMapPath() {
    return /^\/map\/[^/]+\/?$/.test(location.pathname);
  }

  function requestedName() {
    const m = location.pathname.match(/^\/map\/([^/]+)\/?$/);
    if (m) return decode(m[1]);
    return new URLSearchParams(location.hash.slice(1)).get('layer');
  }

  function writeUrl(name, push) {
    const url = onMapPath()
      ? `/map/${encodeURIComponent(name)}${location.search}`
      : `${location.pathname}${location.search}#layer=${encodeURIComponent(name)}`;
    if (url === location.pathname + location.search + location.hash) return;
    history[push ? 'pushState' : 'replaceState'](null, '', url);
  }

  function defaultName() {
    const first = state.layers.find((l) => !isBroken(l)) || state.layers[0];
    return first ? first.name : null;
  }

  // ---- selection ----------------------------------------------------------

  function select(map, name, opts) {
    const { push = false, animate = true } = opts || {};
    const layer = findLayer(name);
    state.current = name;
    state.failed = false;
    showStatus('');
    renderList();
    document.title = `${name} · udftiles`;
    writeUrl(name, push);

    if (!layer || isBroken(layer)) {
      removeRaster(map);
      const problem = layer ? (layer.error || 'This layer is unavailable.') : `There is no layer named “${name}”.`;
      renderDetails(name, layer, problem);
      setPageState('error', problem);
      return;
    }

    renderDetails(name, layer, '');
    setPageState('loading');
    addRaster(map, layer);
    fitLayer(map, layer, animate);
  }

  // ---- start ---------------------------------------------------------------

  async function loadLayers() {
    const res = await fetch('/v1/udfs', { headers: { Accept: 'application/json' } });
    const text = await res.text();
    if (!res.ok) throw new Error(`Could not list layers: ${parseErrorBody(text) || res.statusText} (HTTP ${res.status})`);
    const data = JSON.parse(text);
    return Array.isArray(data.udfs) ? data.udfs : [];
  }

  function fail(message) {
    el.list.replaceChildren();
    const li = document.createElement('li');
    li.className = 'layer-placeholder';
    li.textContent = 'No layers available.';
    el.list.append(li);
    showStatus(message, true);
    setPageState('error', message);
  }

  function wireControls(map) {
    el.list.addEventListener('click', (event) => {
      const button = event.target.closest('button[data-name]');
      if (button && button.dataset.name !== state.current) select(map, button.dataset.name, { push: true });
    });

    el.opacity.addEventListener('input', () => {
      state.opacity = Number(el.opacity.value) / 100;
      el.opacityValue.textContent = `${el.opacity.value}%`;
      if (map.getLayer(LAYER_ID)) map.setPaintProperty(LAYER_ID, 'raster-opacity', state.opacity);
    });

    for (const button of document.querySelectorAll('.copy-button')) {
      button.addEventListener('click', () => copyField(button));
    }

    const followUrl = () => {
      const name = requestedName() || defaultName();
      if (name && name !== state.current) select(map, name);
    };
    window.addEventListener('popstate', followUrl);
    window.addEventListener('hashchange', followUrl);

    map.on('error', (event) => {
      const sourceId = event.sourceId;
      if (sourceId && sourceId !== state.sourceId) return; // a layer we already left
      if (!sourceId) {
        console.error(event.error);
        showStatus((event.error && event.error.message) || 'Map error', true);
        return;
      }
      state.failed = true;
      describeError(event.error).then((message) => {
        if (sourceId !== state.sourceId) return;
        showStatus(message, true);
        setPageState('error', message);
      });
    });

    map.on('idle', () => {
      const id = state.sourceId;
      if (!id || state.failed || !map.getSource(id)) return;
      if (map.isSourceLoaded(id) && document.body.dataset.state !== 'loaded') setPageState('loaded', state.current);
    });
  }

  function wirePanel(map) {
    el.panelToggle.addEventListener('click', () => {
      const collapsed = el.panel.classList.toggle('is-collapsed');
      el.panelToggle.setAttribute('aria-expanded', String(!collapsed));
      el.panelToggle.title = collapsed ? 'Show panel' : 'Hide panel';
      if (map) map.resize();
    });
  }

  function start() {
    if (typeof maplibregl === 'undefined') {
      wirePanel(null);
      fail('The map library did not load (/static/vendor/maplibre-gl.js).');
      return;
    }

    let map;
    try {
      map = createMap();
    } catch (err) {
      wirePanel(null);
      fail(`The map could not start: ${err.message || err}. WebGL may be unavailable.`);
      return;
    }
    window.udftiles.map = map;
    wirePanel(map);

    const mapLoaded = new Promise((resolve) => map.once('load', resolve));
    Promise.all([loadLayers(), mapLoaded])
      .then(([layers]) => {
        state.layers = layers;
        wireControls(map);
        const name = requestedName() || defaultName();
        if (!name) {
          renderList();
          showStatus('The server has no layers configured.');
          setPageState('loaded', null);
          return;
        }
        select(map, name, { animate: false });
      })
      .catch((err) => fail(err.message || String(err)));
  }

  window.udftiles = {
    map: null,
    ready,
    select: (name) => window.udftiles.map && select(window.udftiles.map, name, { push: true }),
  };
  start();
})();
