// udftiles map page: lists the server's layers and shows one of them, as a
// raster tile source, as vector features from file mode, or as a result panel.
(function () {
  'use strict';

  const RASTER_ID = 'udf-raster';
  const FILL_ID = 'udf-fill';
  const LINE_ID = 'udf-line';
  const CIRCLE_ID = 'udf-circle';
  const VECTOR_LAYERS = [FILL_ID, LINE_ID, CIRCLE_ID];
  const MAX_LAT = 85.0511;
  const RUN_DEBOUNCE_MS = 350;
  const MAX_ROWS = 200;
  const MAX_TEXT = 200000; // characters of a JSON or text result shown
  const STYLE_PARAMS = ['colormap', 'rescale'];

  // viridis at nine even steps, for numeric properties.
  const VIRIDIS = ['#440154', '#472d7b', '#3b528b', '#2c728e', '#21918c', '#28ae80', '#5ec962', '#addc30', '#fde725'];
  // Ten distinct colours (Tableau 10) for string properties; the rest are OTHER.
  const CATEGORICAL = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#17becf'];
  const OTHER = '#9aa3ad';
  const SINGLE = '#2f6fde';

  const KIND_LABEL = { raster: 'raster', vector: 'vector', json: 'JSON', table: 'table', html: 'HTML', text: 'text' };

  // kindTag is the list's label of a layer's kind, left out when the handler's
  // name says it already (a vector layer of the vector handler).
  function kindTag(kind, handler) {
    const label = KIND_LABEL[kind] || '';
    return label === handler ? '' : label;
  }

  const $ = (id) => document.getElementById(id);
  const el = {
    list: $('layer-list'),
    details: $('details'),
    title: $('details-title'),
    kind: $('details-kind'),
    busy: $('busy'),
    description: $('details-description'),
    error: $('details-error'),
    meta: $('details-meta'),
    body: $('details-body'),
    form: $('param-form'),
    fields: $('param-fields'),
    reset: $('param-reset'),
    vectorStyle: $('vector-style'),
    colorBy: $('color-by'),
    legend: $('legend'),
    summary: $('vector-summary'),
    opacityField: $('opacity-field'),
    opacity: $('opacity'),
    opacityValue: $('opacity-value'),
    tileUrl: $('tile-url'),
    tilejsonUrl: $('tilejson-url'),
    qgisRow: $('qgis-row'),
    qgisUri: $('qgis-uri'),
    runRow: $('run-row'),
    runUrl: $('run-url'),
    results: $('results'),
    resultsTitle: $('results-title'),
    resultsMeta: $('results-meta'),
    resultsBody: $('results-body'),
    resultsToggle: $('results-toggle'),
    status: $('status'),
    announce: $('announce'),
    panel: document.querySelector('.panel'),
    panelToggle: $('panel-toggle'),
  };

  const state = {
    map: null,
    layers: [],
    colormaps: [],
    kinds: {},         // layer name -> kind found for it, shown in the list
    current: null,     // name of the selected layer
    kind: null,        // raster | vector | json | table | html | text, once known
    gen: 0,            // bumped by every selection; stale async work checks it
    sourceId: null,    // MapLibre source id of the drawn layer; new for every selection
    sourceSeq: 0,
    failed: false,     // a request for the current view failed
    opacity: 1,
    probe: null,       // AbortController of the kind probe
    tilesUrl: '',      // the tile URL the raster source requests
    run: null,         // {controller, url} of the file-mode request in flight
    lastRunUrl: '',    // the last file-mode URL shown
    runTimer: 0,
    features: null,    // the FeatureCollection drawn
    props: [],         // [{name, numeric}] of the features
    colorBy: '',
    popup: null,
  };

  // ready resolves with the first layer's name once it has been shown,
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

  // Query-string escaping that leaves ",", ":" and "/" readable; braces stay
  // escaped so that a value can never look like a {z} placeholder.
  function encodeValue(v) {
    return encodeURIComponent(v).replace(/%2C/gi, ',').replace(/%3A/gi, ':').replace(/%2F/gi, '/');
  }

  function queryString(pairs) {
    return pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeValue(v)}`).join('&');
  }

  function withQuery(url, pairs) {
    const q = queryString(pairs);
    if (!q) return url;
    return url + (url.includes('?') ? '&' : '?') + q;
  }

  function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }

  function isBroken(layer) {
    return layer.status === 'error';
  }

  function isPython(layer) {
    return layer.handler === 'python';
  }

  function findLayer(name) {
    return state.layers.find((l) => l.name === name) || null;
  }

  function currentLayer() {
    return state.current ? findLayer(state.current) : null;
  }

  function lastLine(text) {
    const lines = String(text || '').split('\n').map((s) => s.trim()).filter(Boolean);
    return lines.length ? lines[lines.length - 1] : '';
  }

  function plural(n, one, many) {
    return `${n.toLocaleString()} ${n === 1 ? one : many}`;
  }

  function setBusy(on) {
    el.busy.hidden = !on;
  }

  // ---- status and errors ----------------------------------------------------

  function showStatus(text, isError) {
    el.status.replaceChildren();
    el.status.textContent = text;
    el.status.classList.toggle('is-error', Boolean(isError));
    el.status.hidden = !text;
  }

  function collapsible(summary, text, open) {
    const details = document.createElement('details');
    details.open = open;
    const s = document.createElement('summary');
    s.textContent = summary;
    const pre = document.createElement('pre');
    pre.textContent = text;
    details.append(s, pre);
    return details;
  }

  // showError shows a failure: a headline, the server's error text (a Python
  // traceback for a UDF that raised) and the UDF's printed logs, both in
  // collapsible <pre> blocks.
  function showError(err) {
    const what = err.what || 'Request';
    const detail = String(err.detail || err.message || 'Unknown error');
    const multiline = detail.trim().includes('\n');
    const head = document.createElement('p');
    head.className = 'status-head';
    head.textContent = `${what} failed${err.status ? ` (HTTP ${err.status}${statusHint(err.status)})` : ''}: ${multiline ? lastLine(detail) : detail}`;
    el.status.replaceChildren(head);
    if (multiline) el.status.append(collapsible('Traceback', detail.replace(/\s+$/, ''), true));
    if (err.logs && err.logs.trim()) {
      const n = err.logs.replace(/\s+$/, '').split('\n').length;
      el.status.append(collapsible(`Logs (${plural(n, 'line', 'lines')})`, err.logs.replace(/\s+$/, ''), true));
    }
    el.status.classList.add('is-error');
    el.status.hidden = false;
    return head.textContent;
  }

  function statusHint(status) {
    return { 400: ', bad parameter', 500: ', the UDF raised', 502: ', worker died', 503: ', unavailable', 504: ', timed out' }[status] || '';
  }

  // A failed HTTP response as an Error carrying the server's {"error", "logs"}.
  function httpError(status, text, what) {
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

  function describeUrl(url) {
    const tile = url.match(/\/(\d+)\/(\d+)\/(\d+)(?:\.[a-z0-9]+)?(?:\?|$)/i);
    if (tile) return `Tile ${tile[1]}/${tile[2]}/${tile[3]}`;
    if (/tilejson/i.test(url)) return 'TileJSON';
    if (/\/run(?:\?|$)/.test(url)) return 'Run';
    return 'Request';
  }

  // Turns a MapLibre request error into an Error like httpError's, using the
  // server's JSON body when there is one.
  async function fromMapError(err) {
    const status = err && typeof err.status === 'number' ? err.status : 0;
    const url = err && typeof err.url === 'string' ? err.url : '';
    let text = '';
    try {
      if (err && err.body && typeof err.body.text === 'function') {
        text = await err.body.text();
      } else if (url && status) {
        const res = await fetch(url, { headers: { Accept: 'application/json' } });
        if (!res.ok) text = await res.text();
      }
    } catch (_) { /* keep the generic message */ }
    const e = httpError(status, text, describeUrl(url));
    if (!text && err) e.detail = err.statusText || err.message || String(err);
    return e;
  }

  // ---- parameters ---------------------------------------------------------

  function paramList(layer) {
    return Array.isArray(layer && layer.parameters) ? layer.parameters : [];
  }

  // The text a form field starts with for a default value.
  function defaultText(p) {
    const d = p.default;
    if (d === undefined || d === null) return '';
    if (typeof d === 'string') return d;
    if (Array.isArray(d) && /^list\[/.test(p.type || '')) return d.join(',');
    if (typeof d === 'object') return JSON.stringify(d);
    return String(d);
  }

  function fieldId(name) {
    return 'param-' + name.replace(/[^A-Za-z0-9_-]/g, '_');
  }

  const TYPE_HINT = {
    list: 'a,b,c or a JSON list',
    'list[int]': 'comma-separated integers',
    'list[float]': 'comma-separated numbers',
    dict: 'a JSON object',
    geometry: 'GeoJSON or WKT',
  };

  // buildForm makes one field per parameter. Each field's default value is
  // its defaultValue/defaultChecked/defaultSelected, so the form's native
  // reset restores the defaults.
  function buildForm(layer) {
    el.fields.replaceChildren();
    const params = paramList(layer);
    el.form.hidden = params.length === 0;
    el.reset.disabled = true;
    for (const p of params) {
      const id = fieldId(p.name);
      const label = document.createElement('label');
      label.htmlFor = id;
      label.className = 'param-label';
      const name = document.createElement('span');
      name.textContent = p.name;
      label.append(name);
      if (p.required) {
        const req = document.createElement('span');
        req.className = 'required';
        req.textContent = '*';
        req.title = 'required';
        label.append(req);
      }
      const type = document.createElement('span');
      type.className = 'param-type';
      type.textContent = p.type || 'str';
      label.append(type);
      label.title = [p.description, p.required ? 'required' : ''].filter(Boolean).join(' · ');

      const control = p.name === 'colormap' ? colormapControl(p, id) : inputFor(p, id);
      const row = [label, control];
      if (STYLE_PARAMS.includes(p.name)) for (const n of row) n.dataset.style = '';
      el.fields.append(...row);
    }
  }

  function inputFor(p, id) {
    const def = defaultText(p);
    let input;
    if (Array.isArray(p.enum) && p.enum.length) {
      input = document.createElement('select');
      // Without a default among the choices, a blank choice leaves it to the server.
      if (!p.enum.includes(def)) input.append(new Option('(default)', ''));
      for (const v of p.enum) {
        const o = new Option(v === def ? `${v} (default)` : v, v);
        if (v === def) { o.defaultSelected = true; o.selected = true; }
        input.append(o);
      }
    } else if (p.type === 'bool') {
      input = document.createElement('input');
      input.type = 'checkbox';
      input.defaultChecked = p.default === true || p.default === 'true';
      input.checked = input.defaultChecked;
    } else {
      input = document.createElement('input');
      if (p.type === 'int' || p.type === 'float') {
        input.type = 'number';
        input.step = p.type === 'int' ? '1' : 'any';
        input.inputMode = p.type === 'int' ? 'numeric' : 'decimal';
      } else {
        input.type = 'text';
        input.spellcheck = false;
        input.autocomplete = 'off';
        if (p.name === 'rescale') input.placeholder = 'min,max';
        else if (TYPE_HINT[p.type]) input.placeholder = TYPE_HINT[p.type];
      }
      input.defaultValue = def;
      input.value = def;
    }
    input.id = id;
    input.name = p.name;
    input.dataset.default = def;
    if (p.required) input.setAttribute('aria-required', 'true');
    return input;
  }

  // colormapControl is a select of the server's colormaps plus "Custom…",
  // which shows a text field for another name or custom JSON.
  function colormapControl(p, id) {
    const def = defaultText(p);
    const wrap = document.createElement('div');
    wrap.className = 'colormap-control';
    const select = document.createElement('select');
    select.id = id;
    select.name = p.name;
    select.dataset.default = def;
    const known = state.colormaps.includes(def);
    select.append(new Option(def && known ? `${def} (default)` : '(default)', ''));
    for (const name of state.colormaps) select.append(new Option(name, name));
    select.append(new Option('Custom…', '__custom__'));
    const custom = document.createElement('input');
    custom.type = 'text';
    custom.className = 'colormap-custom';
    custom.spellcheck = false;
    custom.autocomplete = 'off';
    custom.placeholder = 'name or JSON';
    custom.setAttribute('aria-label', `${p.name}: custom value`);
    custom.dataset.role = 'custom';
    if (def && !known) {
      select.options[select.options.length - 1].defaultSelected = true;
      custom.defaultValue = def;
    } else {
      select.options[0].defaultSelected = true;
    }
    select.value = def && !known ? '__custom__' : '';
    custom.value = custom.defaultValue;
    custom.hidden = select.value !== '__custom__';
    select.addEventListener('change', () => {
      custom.hidden = select.value !== '__custom__';
      if (!custom.hidden) custom.focus();
    });
    wrap.append(select, custom);
    return wrap;
  }

  // formPairs lists the parameters whose value differs from the default, in
  // the schema's order: the query string the layer is requested with.
  function formPairs() {
    const layer = currentLayer();
    const pairs = [];
    for (const p of paramList(layer)) {
      if (STYLE_PARAMS.includes(p.name) && state.kind && state.kind !== 'raster') continue;
      const input = el.fields.querySelector(`[name="${CSS.escape(p.name)}"]`);
      if (!input) continue;
      const def = input.dataset.default || '';
      let value;
      if (input.type === 'checkbox') {
        const was = p.default === true || p.default === 'true';
        if (input.checked === was) continue;
        value = String(input.checked);
      } else if (p.name === 'colormap') {
        const custom = input.parentElement.querySelector('[data-role="custom"]');
        value = input.value === '__custom__' ? custom.value.trim() : input.value;
        if (!value) continue;
      } else {
        value = input.value.trim();
        if (value === '') continue;
      }
      if (value === def) continue;
      pairs.push([p.name, value]);
    }
    return pairs;
  }

  // A field the browser considers invalid (such as "1.5" in an int field)
  // is marked and left out until it is fixed.
  function markInvalid() {
    let ok = true;
    for (const input of el.fields.querySelectorAll('input')) {
      const bad = input.validity && !input.validity.valid;
      input.toggleAttribute('aria-invalid', bad);
      if (bad) ok = false;
    }
    return ok;
  }

  // ---- URLs ------------------------------------------------------------------

  function tileTemplate(layer) {
    return withQuery(absolute(layer.tiles), formPairs());
  }

  function tilejsonUrl(layer) {
    return withQuery(absolute(layer.tilejson), formPairs());
  }

  function runUrl(layer, bounds) {
    const base = absolute(`/v1/udfs/${encodeURIComponent(layer.name)}/run`);
    const pairs = [['bounds', bounds.join(',')], ...formPairs()];
    if (/^(mvt|pbf)$/i.test(layer.default_format || '')) pairs.push(['format', 'geojson']);
    return withQuery(base, pairs);
  }

  function qgisUri(layer) {
    return `type=xyz&url=${encodeURIComponent(tileTemplate(layer))}&zmin=${layer.minzoom}&zmax=${layer.maxzoom}`;
  }

  function updateLinks() {
    const layer = currentLayer();
    if (!layer || isBroken(layer)) return;
    el.tileUrl.value = tileTemplate(layer);
    el.tilejsonUrl.value = tilejsonUrl(layer);
    const raster = state.kind === 'raster';
    el.qgisRow.hidden = !raster;
    el.qgisUri.value = raster ? qgisUri(layer) : '';
    const fileMode = state.kind && !raster;
    el.runRow.hidden = !fileMode;
    if (fileMode && state.map) el.runUrl.value = runUrl(layer, viewBounds(state.map));
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

  function removeDrawn(map) {
    for (const id of [RASTER_ID, ...VECTOR_LAYERS]) if (map.getLayer(id)) map.removeLayer(id);
    if (state.sourceId && map.getSource(state.sourceId)) map.removeSource(state.sourceId);
    state.sourceId = null;
    if (state.popup) { state.popup.remove(); state.popup = null; }
  }

  function sourceBounds(layer) {
    const b = layer.bounds;
    if (!Array.isArray(b) || b.length !== 4 || !b.every(Number.isFinite) || b[0] >= b[2] || b[1] >= b[3]) return undefined;
    return [clamp(b[0], -180, 180), clamp(b[1], -90, 90), clamp(b[2], -180, 180), clamp(b[3], -90, 90)];
  }

  function addRaster(map, layer) {
    removeDrawn(map);
    state.sourceId = `udf-${++state.sourceSeq}`;
    state.tilesUrl = tileTemplate(layer);
    const source = { type: 'raster', tiles: [state.tilesUrl], tileSize: 256 };
    if (Number.isFinite(layer.minzoom)) source.minzoom = layer.minzoom;
    if (Number.isFinite(layer.maxzoom)) source.maxzoom = layer.maxzoom;
    const bounds = sourceBounds(layer);
    if (bounds) source.bounds = bounds;
    map.addSource(state.sourceId, source);
    map.addLayer({
      id: RASTER_ID,
      type: 'raster',
      source: state.sourceId,
      paint: { 'raster-opacity': state.opacity, 'raster-fade-duration': 150 },
    });
  }

  const IS_POLYGON = ['match', ['geometry-type'], ['Polygon', 'MultiPolygon'], true, false];
  const IS_LINE = ['match', ['geometry-type'], ['LineString', 'MultiLineString'], true, false];
  const IS_POINT = ['match', ['geometry-type'], ['Point', 'MultiPoint'], true, false];

  function addVector(map) {
    removeDrawn(map);
    state.sourceId = `udf-${++state.sourceSeq}`;
    map.addSource(state.sourceId, { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
    map.addLayer({ id: FILL_ID, type: 'fill', source: state.sourceId, filter: IS_POLYGON,
      paint: { 'fill-color': SINGLE, 'fill-opacity': 0.5 * state.opacity } });
    map.addLayer({ id: LINE_ID, type: 'line', source: state.sourceId, filter: ['any', IS_POLYGON, IS_LINE],
      layout: { 'line-join': 'round', 'line-cap': 'round' },
      paint: { 'line-color': SINGLE, 'line-opacity': state.opacity, 'line-width': ['case', IS_LINE, 2.5, 1] } });
    map.addLayer({ id: CIRCLE_ID, type: 'circle', source: state.sourceId, filter: IS_POINT,
      paint: { 'circle-color': SINGLE, 'circle-radius': 5, 'circle-opacity': state.opacity,
        'circle-stroke-color': '#ffffff', 'circle-stroke-width': 1.25, 'circle-stroke-opacity': state.opacity } });
  }

  function applyOpacity(map) {
    const o = state.opacity;
    if (map.getLayer(RASTER_ID)) map.setPaintProperty(RASTER_ID, 'raster-opacity', o);
    if (map.getLayer(FILL_ID)) map.setPaintProperty(FILL_ID, 'fill-opacity', 0.5 * o);
    if (map.getLayer(LINE_ID)) map.setPaintProperty(LINE_ID, 'line-opacity', o);
    if (map.getLayer(CIRCLE_ID)) {
      map.setPaintProperty(CIRCLE_ID, 'circle-opacity', o);
      map.setPaintProperty(CIRCLE_ID, 'circle-stroke-opacity', o);
    }
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

  function isWorld(b) {
    return Array.isArray(b) && b.length === 4 && b[2] - b[0] >= 359 && b[3] - b[1] >= 160;
  }

  // placeView frames the layer: its bounds, except that a layer covering the
  // whole world (a Python UDF) keeps the current view after the first
  // selection. The zoom is kept within the layer's zooms so that it shows.
  function placeView(map, layer, animate, first) {
    const b = layer.bounds;
    const minZ = Number.isFinite(layer.minzoom) ? layer.minzoom : 0;
    const maxZ = Number.isFinite(layer.maxzoom) ? layer.maxzoom : 22;
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

  // viewBounds is the visible extent as xmin,ymin,xmax,ymax within the valid
  // lon/lat range, rounded outward to ~1% of the view so that small moves
  // ask for the same bounds (and hit the server's cache).
  function viewBounds(map) {
    const b = map.getBounds();
    let w = b.getWest();
    let e = b.getEast();
    let s = Math.max(b.getSouth(), -MAX_LAT);
    let n = Math.min(b.getNorth(), MAX_LAT);
    if (e - w >= 360) {
      w = -180; e = 180;
    } else {
      const shift = Math.floor((w + 180) / 360) * 360;
      w -= shift; e -= shift;
      if (e > 180) { w = -180; e = 180; } // across the antimeridian: the whole band
    }
    const span = Math.max(e - w, n - s, 1e-6);
    const exp = Math.floor(Math.log10(span / 100));
    const step = Math.pow(10, exp);
    const digits = Math.max(0, -exp);
    const round = (v, f) => Number((f(v / step) * step).toFixed(digits));
    w = Math.max(-180, round(w, Math.floor));
    s = Math.max(-MAX_LAT, round(s, Math.floor));
    e = Math.min(180, round(e, Math.ceil));
    n = Math.min(MAX_LAT, round(n, Math.ceil));
    if (e <= w) e = Math.min(180, w + step);
    if (n <= s) n = Math.min(MAX_LAT, s + step);
    return [w, s, e, n];
  }

  // The tile at lon/lat, as the server counts tiles (web mercator, XYZ).
  function tileAt(lon, lat, z) {
    const n = 2 ** z;
    const rad = clamp(lat, -MAX_LAT, MAX_LAT) * Math.PI / 180;
    const x = Math.floor(((lon + 180) / 360) * n);
    const y = Math.floor(((1 - Math.log(Math.tan(rad) + 1 / Math.cos(rad)) / Math.PI) / 2) * n);
    return { z, x: clamp(x, 0, n - 1), y: clamp(y, 0, n - 1) };
  }

  // ---- kinds of output ----------------------------------------------------

  // kindFromFormat is the kind a layer's fixed default format gives, or null
  // when the result picks its own format and a probe must tell.
  function kindFromFormat(layer) {
    const f = String(layer.default_format || '').toLowerCase();
    if (!f) return null;
    // Vector tiles are drawn from file mode's GeoJSON of the view, so that styling
    // by a property and clicking a feature work the same for every vector layer.
    if (f === 'geojson' || f === 'mvt' || f === 'pbf') return 'vector';
    if (f === 'json') return 'json';
    if (f === 'html') return 'html';
    return 'raster';
  }

  function kindFromType(contentType) {
    const ct = String(contentType || '').toLowerCase();
    if (ct.startsWith('image/')) return 'raster';
    if (ct.includes('geo+json')) return 'vector';
    if (ct.includes('json')) return 'json';
    if (ct.startsWith('text/html')) return 'html';
    return 'text';
  }

  // probeKind fetches the tile under the view's centre (or the layer's
  // bounds' centre) and reads its Content-Type.
  async function probeKind(map, layer, signal) {
    const minZ = Number.isFinite(layer.minzoom) ? layer.minzoom : 0;
    const maxZ = Number.isFinite(layer.maxzoom) ? layer.maxzoom : 22;
    const z = clamp(Math.round(map.getZoom()), minZ, maxZ);
    let { lng, lat } = map.getCenter().wrap();
    const b = layer.bounds;
    if (Array.isArray(b) && b.length === 4 && b.every(Number.isFinite) && b[0] < b[2] &&
        !(lng >= b[0] && lng <= b[2] && lat >= b[1] && lat <= b[3])) {
      lng = (b[0] + b[2]) / 2;
      lat = (b[1] + b[3]) / 2;
    }
    const t = tileAt(lng, lat, z);
    const url = tileTemplate(layer).replace('{z}', t.z).replace('{x}', t.x).replace('{y}', t.y);
    const res = await fetch(url, { signal });
    if (!res.ok) throw httpError(res.status, await res.text(), `Tile ${t.z}/${t.x}/${t.y}`);
    const type = res.headers.get('Content-Type');
    if (res.body) res.body.cancel().catch(() => {});
    return kindFromType(type);
  }

  function setKind(name, kind) {
    state.kind = kind;
    state.kinds[name] = kind;
    el.kind.hidden = !kind;
    el.kind.textContent = kind ? KIND_LABEL[kind] : '';
    el.kind.dataset.kind = kind || '';
    for (const n of el.fields.querySelectorAll('[data-style]')) n.hidden = kind !== 'raster';
    el.opacityField.hidden = !(kind === 'raster' || kind === 'vector');
    el.vectorStyle.hidden = kind !== 'vector';
    const label = el.list.querySelector(`button[data-name="${CSS.escape(name)}"] .layer-kind`);
    if (label) label.textContent = kindTag(kind, label.dataset.handler);
    updateLinks();
  }

  // show draws the selected layer once its kind is known.
  function show(map, layer, kind) {
    setKind(layer.name, kind);
    if (kind === 'raster') {
      hideResults();
      addRaster(map, layer);
    } else if (kind === 'vector') {
      hideResults();
      addVector(map);
      scheduleRun(map, 0);
    } else {
      removeDrawn(map);
      showResultsPanel(layer);
      scheduleRun(map, 0);
    }
  }

  // ---- file mode: vector features and results ------------------------------

  function scheduleRun(map, delay) {
    clearTimeout(state.runTimer);
    state.runTimer = setTimeout(() => runView(map, false), delay);
  }

  function cancelRun() {
    clearTimeout(state.runTimer);
    if (state.run) state.run.controller.abort();
    state.run = null;
  }

  // runView asks file mode for the current view and shows what comes back;
  // a newer request aborts an older one. force re-runs an unchanged URL.
  async function runView(map, force) {
    const layer = currentLayer();
    const kind = state.kind;
    if (!layer || !kind || kind === 'raster') return;
    if (!markInvalid()) return;
    const url = runUrl(layer, viewBounds(map));
    el.runUrl.value = url;
    if (!force && (url === state.lastRunUrl || (state.run && state.run.url === url))) return;
    if (state.run) state.run.controller.abort();
    const controller = new AbortController();
    const run = { controller, url };
    state.run = run;
    const gen = state.gen;
    setBusy(true);
    setPageState('loading');
    try {
      const res = await fetch(url, { signal: controller.signal, headers: { Accept: 'application/geo+json, application/json, */*' } });
      const text = await res.text();
      if (!res.ok) throw httpError(res.status, text, 'Run');
      if (gen !== state.gen || state.run !== run) return;
      const type = res.headers.get('Content-Type') || '';
      state.lastRunUrl = url;
      if (kind === 'vector') drawFeatures(map, text, type, gen);
      else showResult(text, type);
    } catch (err) {
      if (err.name === 'AbortError' || gen !== state.gen || state.run !== run) return;
      state.lastRunUrl = '';
      fail(err);
    } finally {
      if (state.run === run) {
        state.run = null;
        setBusy(false);
      }
    }
  }

  function fail(err) {
    state.failed = true;
    const message = showError(err);
    setPageState('error', message);
  }

  function drawFeatures(map, text, type, gen) {
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
    const source = map.getSource(state.sourceId);
    if (!source) return;
    state.features = data;
    state.props = propertiesOf(data.features);
    fillColorBy();
    styleVector(map);
    source.setData(data);
    const n = data.features.length;
    el.summary.textContent = plural(n, 'feature', 'features');
    state.failed = false;
    showStatus('');
    map.once('idle', () => {
      if (gen !== state.gen || state.failed) return;
      setPageState('loaded', state.current);
      el.announce.textContent = `${state.current}: ${plural(n, 'feature', 'features')} drawn.`;
    });
    map.triggerRepaint();
  }

  // propertiesOf lists the features' properties (from the first 1000), each
  // numeric when every value present is a finite number.
  function propertiesOf(features) {
    const seen = new Map();
    for (const f of features.slice(0, 1000)) {
      const props = f && f.properties;
      if (!props || typeof props !== 'object') continue;
      for (const [k, v] of Object.entries(props)) {
        if (v === null || v === undefined || typeof v === 'object') {
          if (!seen.has(k)) seen.set(k, { name: k, numeric: true, count: 0 });
          if (v !== null && v !== undefined) seen.get(k).numeric = false;
          continue;
        }
        const e = seen.get(k) || { name: k, numeric: true, count: 0 };
        if (!(typeof v === 'number' && Number.isFinite(v))) e.numeric = false;
        e.count++;
        seen.set(k, e);
      }
    }
    return [...seen.values()].filter((p) => p.count > 0);
  }

  function fillColorBy() {
    const keep = state.colorBy;
    el.colorBy.replaceChildren(new Option('None', ''));
    for (const p of state.props) {
      el.colorBy.append(new Option(`${p.name} (${p.numeric ? 'number' : 'category'})`, p.name));
    }
    state.colorBy = state.props.some((p) => p.name === keep) ? keep : '';
    el.colorBy.value = state.colorBy;
    el.colorBy.disabled = state.props.length === 0;
  }

  // colorExpression is the MapLibre colour for the chosen property, with the
  // legend entries that explain it.
  function colorExpression() {
    const prop = state.props.find((p) => p.name === state.colorBy);
    const features = (state.features && state.features.features) || [];
    if (!prop) return { expr: SINGLE, legend: null };
    const get = ['get', prop.name];
    if (prop.numeric) {
      const values = features.map((f) => f.properties && f.properties[prop.name])
        .filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
      if (values.length === 0) return { expr: OTHER, legend: null };
      const lo = values[0];
      const hi = values[values.length - 1];
      if (lo === hi) {
        return { expr: ['case', ['==', ['typeof', get], 'number'], VIRIDIS[4], OTHER], legend: { kind: 'ramp', lo, hi } };
      }
      // Stops at quantiles, so that skewed values (populations) spread over
      // the whole ramp; duplicates are dropped to keep the stops increasing.
      const stops = [];
      let last = -Infinity;
      VIRIDIS.forEach((c, i) => {
        const q = values[Math.round((i / (VIRIDIS.length - 1)) * (values.length - 1))];
        if (q > last) { stops.push(q, c); last = q; }
      });
      const ramp = stops.length >= 4
        ? ['interpolate', ['linear'], ['to-number', get], ...stops]
        : ['interpolate', ['linear'], ['to-number', get], lo, VIRIDIS[0], hi, VIRIDIS[VIRIDIS.length - 1]];
      return { expr: ['case', ['==', ['typeof', get], 'number'], ramp, OTHER], legend: { kind: 'ramp', lo, hi, mid: values[Math.floor(values.length / 2)] } };
    }
    const counts = new Map();
    for (const f of features) {
      const v = f.properties ? f.properties[prop.name] : undefined;
      if (v === null || v === undefined) continue;
      const s = String(v);
      counts.set(s, (counts.get(s) || 0) + 1);
    }
    const top = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, CATEGORICAL.length);
    if (top.length === 0) return { expr: OTHER, legend: null };
    const match = ['match', ['to-string', get]];
    top.forEach(([v], i) => match.push(v, CATEGORICAL[i]));
    match.push(OTHER);
    const items = top.map(([v, n], i) => ({ label: v, color: CATEGORICAL[i], n }));
    const rest = counts.size - top.length;
    if (rest > 0) items.push({ label: `${plural(rest, 'other value', 'other values')}`, color: OTHER });
    return { expr: match, legend: { kind: 'categories', items } };
  }

  function styleVector(map) {
    if (!map.getLayer(FILL_ID)) return;
    const { expr, legend } = colorExpression();
    map.setPaintProperty(FILL_ID, 'fill-color', expr);
    map.setPaintProperty(LINE_ID, 'line-color', state.colorBy ? expr : '#1f4fa8');
    map.setPaintProperty(CIRCLE_ID, 'circle-color', expr);
    renderLegend(legend);
  }

  function formatNumber(v) {
    if (!Number.isFinite(v)) return String(v);
    const a = Math.abs(v);
    if (a >= 1e4) return v.toLocaleString(undefined, { notation: 'compact', maximumFractionDigits: 1 });
    if (a > 0 && a < 1e-3) return v.toExponential(1);
    return v.toLocaleString(undefined, { maximumFractionDigits: a >= 100 ? 0 : 3 });
  }

  function renderLegend(legend) {
    el.legend.replaceChildren();
    el.legend.hidden = !legend;
    if (!legend) return;
    if (legend.kind === 'ramp') {
      const bar = document.createElement('div');
      bar.className = 'legend-ramp';
      bar.style.background = `linear-gradient(to right, ${VIRIDIS.join(', ')})`;
      bar.setAttribute('role', 'img');
      bar.setAttribute('aria-label', `viridis ramp from ${formatNumber(legend.lo)} to ${formatNumber(legend.hi)}, by quantile`);
      bar.title = 'viridis, spread over the values\' quantiles: the middle is the median';
      const labels = document.createElement('div');
      labels.className = 'legend-labels';
      for (const v of [legend.lo, legend.mid, legend.hi]) {
        if (v === undefined) continue;
        const s = document.createElement('span');
        s.textContent = formatNumber(v);
        labels.append(s);
      }
      el.legend.append(bar, labels);
      return;
    }
    const ul = document.createElement('ul');
    ul.className = 'legend-items';
    for (const item of legend.items) {
      const li = document.createElement('li');
      const sw = document.createElement('span');
      sw.className = 'swatch';
      sw.style.background = item.color;
      const label = document.createElement('span');
      label.className = 'legend-label';
      label.textContent = item.label;
      label.title = item.label;
      li.append(sw, label);
      ul.append(li);
    }
    el.legend.append(ul);
  }

  // ---- results panel ---------------------------------------------------------

  function showResultsPanel(layer) {
    el.results.hidden = false;
    el.resultsTitle.textContent = layer.name;
    el.resultsMeta.textContent = 'Running…';
    el.resultsBody.replaceChildren();
    document.body.classList.add('has-results');
  }

  function hideResults() {
    el.results.hidden = true;
    el.resultsBody.replaceChildren();
    document.body.classList.remove('has-results');
  }

  function showResult(text, type) {
    const kind = kindFromType(type);
    const body = el.resultsBody;
    body.replaceChildren();
    let meta = type.split(';')[0] || 'unknown type';
    if (kind === 'html') {
      // A sandbox without scripts or same-origin access: the UDF's HTML is shown, never run.
      const frame = document.createElement('iframe');
      frame.setAttribute('sandbox', '');
      frame.setAttribute('referrerpolicy', 'no-referrer');
      frame.title = `HTML result of ${state.current}`;
      frame.srcdoc = text;
      body.append(frame);
    } else if (kind === 'json' || kind === 'vector') {
      let data;
      let parsed = true;
      try { data = JSON.parse(text); } catch (_) { parsed = false; }
      if (parsed && isRecords(data)) {
        body.append(recordsTable(data));
        el.kind.textContent = KIND_LABEL.table;
        meta += ` · ${plural(data.length, 'row', 'rows')}${data.length > MAX_ROWS ? `, first ${MAX_ROWS} shown` : ''}`;
      } else {
        body.append(preBlock(parsed ? prettyJSON(data) : text));
      }
    } else {
      body.append(preBlock(text));
    }
    el.resultsMeta.textContent = meta;
    el.results.dataset.kind = kind;
    state.failed = false;
    showStatus('');
    setPageState('loaded', state.current);
    el.announce.textContent = `${state.current}: result updated.`;
  }

  // prettyJSON indents objects and lists, but keeps those that fit on a line
  // (coordinates, bounds, small records) on one.
  function prettyJSON(value) {
    if (JSON.stringify(value).length > MAX_TEXT / 2) return JSON.stringify(value, null, 2);
    const inline = (v) => {
      if (v === null || typeof v !== 'object') return JSON.stringify(v);
      if (Array.isArray(v)) return `[${v.map(inline).join(', ')}]`;
      return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${inline(x)}`).join(', ')}}`;
    };
    const walk = (v, indent) => {
      const flat = inline(v);
      if (v === null || typeof v !== 'object' || (indent && flat.length + indent.length <= 78)) return flat;
      const entries = Array.isArray(v) ? v.map((x) => [null, x]) : Object.entries(v);
      if (entries.length === 0) return flat;
      const next = indent + '  ';
      const lines = entries.map(([k, x]) => next + (k === null ? '' : `${JSON.stringify(k)}: `) + walk(x, next));
      const [open, close] = Array.isArray(v) ? ['[', ']'] : ['{', '}'];
      return `${open}\n${lines.join(',\n')}\n${indent}${close}`;
    };
    return walk(value, '');
  }

  function preBlock(text) {
    const pre = document.createElement('pre');
    pre.className = 'result-text';
    pre.textContent = text.length > MAX_TEXT ? text.slice(0, MAX_TEXT) + '\n…' : text;
    return pre;
  }

  function isRecords(data) {
    return Array.isArray(data) && data.length > 0 &&
      data.every((r) => r !== null && typeof r === 'object' && !Array.isArray(r));
  }

  function cellText(v) {
    if (v === null || v === undefined) return '';
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  }

  function recordsTable(rows) {
    const shown = rows.slice(0, MAX_ROWS);
    const columns = [];
    const seen = new Set();
    for (const r of shown) for (const k of Object.keys(r)) if (!seen.has(k)) { seen.add(k); columns.push(k); }
    const numeric = new Set(columns.filter((c) => shown.every((r) => r[c] === null || r[c] === undefined || typeof r[c] === 'number')));
    const table = document.createElement('table');
    table.className = 'records';
    const thead = table.createTHead().insertRow();
    for (const c of columns) {
      const th = document.createElement('th');
      th.scope = 'col';
      th.textContent = c;
      if (numeric.has(c)) th.className = 'num';
      thead.append(th);
    }
    const tbody = table.createTBody();
    for (const r of shown) {
      const tr = tbody.insertRow();
      for (const c of columns) {
        const td = tr.insertCell();
        const v = r[c];
        td.textContent = cellText(v);
        if (numeric.has(c)) td.className = 'num';
      }
    }
    return table;
  }

  // ---- popups ----------------------------------------------------------------

  function featurePopup(map, event) {
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
    if (state.popup) state.popup.remove();
    state.popup = new maplibregl.Popup({ maxWidth: '320px', focusAfterOpen: false })
      .setLngLat(event.lngLat)
      .setDOMContent(box)
      .addTo(map);
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

      const button = document.createElement('button');
      button.type = 'button';
      button.dataset.name = layer.name;
      if (layer.name === state.current) button.setAttribute('aria-current', 'true');
      if (isBroken(layer)) {
        // A broken layer stays selectable: its details show the whole error
        // (a Python traceback); the list shows its last line.
        li.className = 'layer-broken';
        const badge = document.createElement('span');
        badge.className = 'layer-badge';
        badge.textContent = 'error';
        const err = document.createElement('span');
        err.className = 'layer-broken-error';
        err.textContent = lastLine(layer.error) || 'This layer is unavailable.';
        button.append(badge, name, err);
      } else {
        const tags = document.createElement('span');
        tags.className = 'layer-handler';
        const kind = document.createElement('span');
        kind.className = 'layer-kind';
        kind.dataset.handler = layer.handler || '';
        kind.textContent = kindTag(state.kinds[layer.name], layer.handler);
        tags.append(kind);
        if (layer.handler) tags.append(document.createTextNode(layer.handler));
        button.append(tags, name);
      }
      li.append(button);
      el.list.append(li);
    }
    if (hadFocus) {
      const current = el.list.querySelector('button[aria-current="true"]');
      if (current) current.focus();
    }
  }

  function addMeta(term, value, title) {
    if (value === undefined || value === null || value === '') return;
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = term;
    dd.textContent = value;
    if (title) dd.title = title;
    el.meta.append(dt, dd);
  }

  function renderDetails(name, layer, problem) {
    el.details.hidden = false;
    el.title.textContent = name;
    el.description.textContent = (layer && layer.description) || '';
    el.error.textContent = problem || '';
    el.error.hidden = !problem;
    // A traceback keeps its lines (and a SyntaxError's caret) as they are.
    el.error.classList.toggle('is-traceback', String(problem || '').trim().includes('\n'));
    el.meta.replaceChildren();
    el.body.hidden = Boolean(problem);
    el.kind.hidden = true;
    el.kind.textContent = '';
    if (!layer || problem) return;

    addMeta('Handler', layer.handler);
    if (Number.isFinite(layer.minzoom) && Number.isFinite(layer.maxzoom)) {
      addMeta('Zoom', `${layer.minzoom}–${layer.maxzoom}`);
    }
    if (layer.default_format) addMeta('Format', layer.default_format);
    else if (isPython(layer)) addMeta('Format', 'auto', 'The result picks it: PNG for arrays, GeoJSON for GeoDataFrames, JSON for tables and dicts, HTML for text');
    if (Array.isArray(layer.modes) && layer.modes.length) addMeta('Modes', layer.modes.join(', '));

    buildForm(layer);
    el.vectorStyle.hidden = true;
    el.summary.textContent = '';
    el.legend.hidden = true;
    el.qgisRow.hidden = true;
    el.runRow.hidden = true;
    el.opacityField.hidden = false;
    el.tileUrl.value = tileTemplate(layer);
    el.tilejsonUrl.value = tilejsonUrl(layer);
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

  // defaultName prefers a layer that draws on the map without a probe.
  function defaultName() {
    const ok = state.layers.filter((l) => !isBroken(l));
    const first = ok.find((l) => !isPython(l)) || ok[0] || state.layers[0];
    return first ? first.name : null;
  }

  // ---- selection ----------------------------------------------------------

  function select(map, name, opts) {
    const { push = false, animate = true, first = false } = opts || {};
    const layer = findLayer(name);
    state.gen++;
    cancelRun();
    if (state.probe) state.probe.abort();
    state.probe = null;
    state.current = name;
    state.kind = null;
    state.failed = false;
    state.lastRunUrl = '';
    state.features = null;
    state.props = [];
    state.colorBy = '';
    setBusy(false);
    showStatus('');
    renderList();
    document.title = `${name} · udftiles`;
    writeUrl(name, push);

    if (!layer || isBroken(layer)) {
      removeDrawn(map);
      hideResults();
      const problem = layer ? (layer.error || 'This layer is unavailable.') : `There is no layer named “${name}”.`;
      renderDetails(name, layer, problem);
      setPageState('error', lastLine(problem));
      return;
    }

    renderDetails(name, layer, '');
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
  // asking for one tile, then shows the layer.
  function detect(map, layer) {
    removeDrawn(map);
    hideResults();
    if (state.probe) state.probe.abort();
    const controller = new AbortController();
    state.probe = controller;
    const gen = state.gen;
    setBusy(true);
    setPageState('loading');
    const start = () => probeKind(map, layer, controller.signal)
      .then((kind) => {
        if (gen !== state.gen || state.probe !== controller) return;
        show(map, layer, kind);
      })
      .catch((err) => {
        if (err.name === 'AbortError' || gen !== state.gen || state.probe !== controller) return;
        fail(err);
      })
      .finally(() => {
        if (state.probe === controller) {
          state.probe = null;
          if (!state.run) setBusy(false);
        }
      });
    // Probe where the view ends up, not where an animation starts.
    if (map.isMoving()) map.once('moveend', start);
    else start();
  }

  // reapply re-requests the current layer with the form's parameters.
  function reapply(map) {
    const layer = currentLayer();
    if (!layer || isBroken(layer)) return;
    el.reset.disabled = formPairs().length === 0;
    if (!markInvalid()) {
      showStatus('Fix the highlighted parameter to update the layer.', true);
      return;
    }
    updateLinks();
    if (!state.kind) {
      // Not known yet (the probe failed, or is under way): ask again with the new values.
      state.failed = false;
      showStatus('');
      detect(map, layer);
      return;
    }
    if (state.kind === 'raster') {
      const source = state.sourceId && map.getSource(state.sourceId);
      const url = tileTemplate(layer);
      if (!source || (url === state.tilesUrl && !state.failed)) return;
      state.failed = false;
      showStatus('');
      setPageState('loading');
      state.tilesUrl = url;
      source.setTiles([url]);
    } else {
      runView(map, state.failed);
    }
  }

  // ---- start ---------------------------------------------------------------

  async function loadLayers() {
    const res = await fetch('/v1/udfs', { headers: { Accept: 'application/json' } });
    const text = await res.text();
    if (!res.ok) throw new Error(`Could not list layers: ${httpError(res.status, text, 'List').detail} (HTTP ${res.status})`);
    const data = JSON.parse(text);
    return Array.isArray(data.udfs) ? data.udfs : [];
  }

  // The colormap names are a convenience: without them the field is free text.
  async function loadColormaps() {
    try {
      const res = await fetch('/v1/colormaps', { headers: { Accept: 'application/json' } });
      if (!res.ok) return [];
      const data = await res.json();
      return Array.isArray(data.colormaps) ? data.colormaps.filter((n) => typeof n === 'string') : [];
    } catch (_) {
      return [];
    }
  }

  function failPage(message) {
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
      applyOpacity(map);
    });

    el.form.addEventListener('change', () => reapply(map));
    el.form.addEventListener('submit', (event) => {
      event.preventDefault();
      reapply(map);
    });
    el.form.addEventListener('reset', () => {
      // The native reset restores the defaults after this event.
      setTimeout(() => {
        for (const c of el.fields.querySelectorAll('[data-role="custom"]')) {
          c.hidden = c.previousElementSibling.value !== '__custom__';
        }
        reapply(map);
      });
    });

    el.colorBy.addEventListener('change', () => {
      state.colorBy = el.colorBy.value;
      styleVector(map);
    });

    el.resultsToggle.addEventListener('click', () => {
      const collapsed = el.results.classList.toggle('is-collapsed');
      document.body.classList.toggle('results-collapsed', collapsed);
      el.resultsToggle.setAttribute('aria-expanded', String(!collapsed));
      el.resultsToggle.title = collapsed ? 'Expand results' : 'Collapse results';
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

    map.on('moveend', () => {
      if (state.kind && state.kind !== 'raster') {
        el.runUrl.value = runUrl(currentLayer(), viewBounds(map));
        scheduleRun(map, RUN_DEBOUNCE_MS);
      }
    });

    for (const id of VECTOR_LAYERS) {
      map.on('mouseenter', id, () => { map.getCanvas().style.cursor = 'pointer'; });
      map.on('mouseleave', id, () => { map.getCanvas().style.cursor = ''; });
    }
    map.on('click', (event) => {
      if (state.kind === 'vector') featurePopup(map, event);
    });

    map.on('error', (event) => {
      const sourceId = event.sourceId;
      if (sourceId && sourceId !== state.sourceId) return; // a layer we already left
      if (!sourceId) {
        console.error(event.error);
        showStatus((event.error && event.error.message) || 'Map error', true);
        return;
      }
      if (state.failed) return; // one error at a time: the first explains the rest
      state.failed = true;
      const gen = state.gen;
      fromMapError(event.error).then((err) => {
        if (sourceId !== state.sourceId || gen !== state.gen) return;
        setPageState('error', showError(err));
      });
    });

    map.on('idle', () => {
      const id = state.sourceId;
      if (state.kind !== 'raster' || !id || state.failed || !map.getSource(id)) return;
      if (map.isSourceLoaded(id) && document.body.dataset.state !== 'loaded') setPageState('loaded', state.current);
    });
  }

  function wirePanel(map) {
    el.panelToggle.addEventListener('click', () => {
      const collapsed = el.panel.classList.toggle('is-collapsed');
      el.panelToggle.setAttribute('aria-expanded', String(!collapsed));
      el.panelToggle.title = collapsed ? 'Show panel' : 'Hide panel';
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
    state.map = map;
    wirePanel(map);

    const mapLoaded = new Promise((resolve) => map.once('load', resolve));
    Promise.all([loadLayers(), loadColormaps(), mapLoaded])
      .then(([layers, colormaps]) => {
        state.layers = layers;
        state.colormaps = colormaps;
        wireControls(map);
        const name = requestedName() || defaultName();
        if (!name) {
          renderList();
          showStatus('The server has no layers configured.');
          setPageState('loaded', null);
          return;
        }
        select(map, name, { animate: false, first: true });
      })
      .catch((err) => failPage(err.message || String(err)));
  }

  window.udftiles = {
    map: null,
    ready,
    select: (name) => window.udftiles.map && select(window.udftiles.map, name, { push: true }),
  };
  start();
})();
