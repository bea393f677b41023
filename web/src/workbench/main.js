// The Workbench: write a UDF, see it on the map as you type, save it, share
// it. Each run sends the code as a draft (POST /v1/drafts), builds the
// parameter form from the draft's schema, asks for one tile of the view
// (with debug=true, for the prints) to learn what the UDF returns, and then
// draws raster or vector tiles, GeoJSON, a table, JSON or HTML.

import { wireCopyButtons } from '../links.js';
import { hideResults, openResults, showResult, wireResultsToggle } from '../results.js';
import { kindFromType } from '../kinds.js';
import { featureCollection } from '../api.js';
import { ApiError, createDraft, hasToken, listVersions, loadCode, request, saveUDF, setToken } from './api.js';
import { clearError, createEditor, getCode, markError, setCode } from './editor.js';
import { STYLE_PARAMS, buildForm, markErrors, readTexts, showStyleParams, updateReset, wireForm } from './form.js';
import { setBusy, setInfo, showFailure, showHint, showNote, showSuccess } from './log.js';
import { clearDrawn, createMap, describeTile, drawnLoaded, drawnSource, probeTile, showGeoJSON, showRaster, showVectorTiles, viewBounds } from './map.js';
import { coerce, formParams, keepTexts, paramPairs } from './params.js';
import { withExtension, withQuery } from './snippets.js';
import { wireShare } from './share.js';
import { DEFAULT_TEMPLATE, TEMPLATES } from './templates.js';
import { errorLine } from './traceback.js';
import { wireVersions } from './versions.js';

const AUTO_RUN_MS = 600;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
// The files the server writes a draft's or a save's code to (a preference
// when a traceback names several of the user's files).
const DRAFT_FILE = /[\\/](?:draft-|_check[\\/])/;

const nameInput = document.getElementById('udf-name');
const runButton = document.getElementById('run');
const autoRun = document.getElementById('auto-run');
const saveButton = document.getElementById('save');
const publicBox = document.getElementById('public');
const saveState = document.getElementById('save-state');
const templateSelect = document.getElementById('new-template');
const tokenInput = document.getElementById('token');

const wb = {
  map: null,
  editor: null,
  gen: 0,            // bumped by every run; stale answers check it
  controller: null,  // AbortController of the run in flight
  timer: 0,          // the pending auto-run
  moveTimer: 0,
  draft: null,       // {id, udf} of the last draft made
  draftCode: null,   // the code of that draft
  params: [],        // the form's parameters (formParams of the draft)
  texts: {},         // the form's typed values: {name: text}
  kind: null,        // raster | vector | geojson | json | table | html | text
  lastKey: '',       // code and query of the last run that settled well
  runningKey: '',    // code and query of the run in flight
  failed: false,     // a tile of the drawn source failed
  pending: 0,        // the gen waiting for its tiles to load, or 0
  saved: null,       // {name, code, version} of the last save or open
  runs: 0,           // settled runs, for the browser tests
};

// ---- page state ---------------------------------------------------------------

function setState(state) {
  document.body.dataset.state = state;
  if (state === 'loaded' || state === 'error') {
    wb.runs++;
    document.body.dataset.runs = String(wb.runs);
    setBusy(false);
  }
}

function updateSaveState() {
  const code = wb.editor ? getCode(wb.editor) : '';
  const name = nameInput.value.trim();
  let text;
  if (!wb.saved) text = 'Not saved';
  else if (wb.saved.name !== name) text = `Not saved as ${name || '…'}`;
  else if (wb.saved.code !== code) text = `Changed since v${wb.saved.version}`;
  else text = `Saved v${wb.saved.version}`;
  saveState.textContent = text;
  saveState.title = text;
  saveState.classList.toggle('is-dirty', text !== `Saved v${wb.saved && wb.saved.version}`);
  document.body.dataset.saved = wb.saved && wb.saved.name === name && wb.saved.code === code ? String(wb.saved.version) : '';
}

// ---- running -----------------------------------------------------------------

// formQuery is the form's [name, value] pairs and errors; colormap and
// rescale only while the result is a raster (or not known yet).
function formQuery() {
  const styled = !wb.kind || wb.kind === 'raster';
  return paramPairs(wb.params.filter((p) => styled || !STYLE_PARAMS.includes(p.name)), wb.texts);
}

function setKind(kind) {
  wb.kind = kind;
  document.body.dataset.kind = kind;
  showStyleParams(kind === 'raster');
}

// formValues are the typed values coerced, for a save's default parameters
// and the Python snippet.
function formValues() {
  const out = {};
  for (const p of wb.params) {
    if (wb.texts[p.name] === undefined) continue;
    const r = coerce(p, wb.texts[p.name]);
    if (!r.error && r.value !== undefined) out[p.name] = r.value;
  }
  return out;
}

function scheduleRun(delay, opts) {
  clearTimeout(wb.timer);
  wb.timer = setTimeout(() => run(opts), delay);
}

function cancelRun() {
  clearTimeout(wb.timer);
  if (wb.controller) wb.controller.abort();
  wb.controller = null;
}

// run sends the code (unless the last draft has it) and shows the result.
// auto: started by typing or the form, which skips a run identical to the
// last one that settled, and waits for a token.
async function run({ auto = false } = {}) {
  clearTimeout(wb.timer);
  if (!wb.map) return; // the map did not start: the log says why
  const code = getCode(wb.editor);
  if (auto && !hasToken()) {
    showHint('Enter an editor token to run drafts as you type (or press Run).');
    return;
  }
  const key = keyOf(code);
  if (auto && wb.draftCode === code && wb.lastKey === key && !wb.failed) return;
  if (auto && wb.controller && wb.runningKey === key) return; // already under way
  cancelRun();
  const gen = ++wb.gen;
  const controller = new AbortController();
  wb.controller = controller;
  wb.runningKey = key;
  wb.pending = 0;
  wb.failed = false;
  document.body.dataset.state = 'running';
  setBusy(true);
  setInfo('');
  const started = performance.now();
  try {
    if (!wb.draft || wb.draftCode !== code) {
      const draft = await createDraft(code, controller.signal);
      if (gen !== wb.gen) return;
      const old = wb.params;
      wb.draft = draft;
      wb.draftCode = code;
      wb.params = formParams(draft.udf);
      wb.texts = keepTexts(old, wb.params, wb.texts);
      buildForm(wb.params, wb.texts);
    }
    clearError(wb.editor);
    const { pairs, errors } = formQuery();
    markErrors(errors);
    if (Object.keys(errors).length) {
      const list = Object.entries(errors).map(([k, v]) => `${k}: ${v}`).join('; ');
      throw new ApiError(0, `fix the parameters: ${list}`, 'Parameters');
    }
    await show(gen, controller.signal, code, pairs, started);
  } catch (err) {
    if ((err && err.name === 'AbortError') || gen !== wb.gen) return;
    if (err instanceof ApiError && err.what === 'Draft') {
      wb.draft = null;
      wb.draftCode = null;
    }
    fail(err, code);
  } finally {
    if (wb.controller === controller) wb.controller = null;
  }
}

function keyOf(code, pairs) {
  return JSON.stringify([code, pairs || formQuery().pairs]);
}

// fail shows an error and marks the line of the user's code it points at
// (when the code is still what ran).
function fail(err, code) {
  const line = err instanceof ApiError ? errorLine(err.body, DRAFT_FILE) : null;
  if (err instanceof ApiError && err.status === 401 && !hasToken()) {
    err.body.error += ' — enter an editor token in the Token field';
  }
  showFailure(err, line);
  if (line && getCode(wb.editor) === code) markError(wb.editor, line, lastLineOf(err.body.error));
  wb.lastKey = '';
  setState('error');
  setInfo('failed');
}

function lastLineOf(text) {
  const lines = String(text || '').split('\n').map((s) => s.trim()).filter(Boolean);
  return lines.length ? lines[lines.length - 1] : '';
}

function absolute(u) {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(u)) return u;
  return location.origin + (u.startsWith('/') ? u : '/' + u);
}

function tilePath(template, t) {
  return template.replace('{z}', t.z).replace('{x}', t.x).replace('{y}', t.y);
}

// kindOfTile is how a tile's Content-Type is drawn: raster and vector on
// the map as tiles, anything else from a file-mode run of the view.
function kindOfTile(type) {
  const ct = String(type || '').toLowerCase();
  if (ct.startsWith('image/')) return 'raster';
  if (ct.includes('geo+json') || ct.includes('mapbox-vector-tile')) return 'vector';
  return 'file';
}

async function show(gen, signal, code, pairs, started) {
  const udf = wb.draft.udf || {};
  const modes = Array.isArray(udf.modes) ? udf.modes : ['tile', 'file'];
  let kind = 'file';
  let logs = '';
  if (modes.includes('tile') && udf.tiles) {
    const t = probeTile(wb.map, udf);
    const url = withQuery(absolute(tilePath(udf.tiles, t)), [...pairs, ['debug', 'true']]);
    const r = await request('GET', url, { accept: '*/*', signal, what: `Tile ${t.z}/${t.x}/${t.y}` });
    if (gen !== wb.gen) return;
    kind = kindOfTile(r.type);
    logs = r.logs;
  }
  const ms = () => `${Math.round(performance.now() - started)} ms`;
  const draftName = `draft ${wb.draft.id ? wb.draft.id.slice(0, 8) : ''}`;
  if (kind === 'raster' || kind === 'vector') {
    hideResults();
    const tiles = absolute(withQuery(withExtension(udf.tiles, kind === 'raster' ? 'png' : 'mvt'), pairs));
    if (kind === 'raster') showRaster(wb.map, tiles, udf);
    else showVectorTiles(wb.map, tiles, udf);
    setKind(kind);
    showSuccess(logs);
    setInfo(`${draftName} · ${kind} tiles · ${ms()}`);
    wb.pending = gen;
    wb.lastKey = keyOf(code, pairs);
    wb.map.triggerRepaint();
    return;
  }
  await runFile(gen, signal, code, pairs, started);
}

// runFile asks file mode for the whole result of the view.
async function runFile(gen, signal, code, pairs, started) {
  const udf = wb.draft.udf || {};
  const run = wb.draft.run || udf.run || `/v1/drafts/${encodeURIComponent(wb.draft.id)}/run`;
  // The view's bounds, to a UDF that takes them (others refuse bounds=).
  const bounds = udf.takes_bounds === false ? [] : [['bounds', viewBounds(wb.map).join(',')]];
  const url = withQuery(absolute(run), [...bounds, ...pairs, ['debug', 'true']]);
  const r = await request('GET', url, { accept: 'application/geo+json, application/json, text/html, */*', signal, what: 'Run' });
  if (gen !== wb.gen) return;
  const draftName = `draft ${wb.draft.id ? wb.draft.id.slice(0, 8) : ''}`;
  const ms = `${Math.round(performance.now() - started)} ms`;
  let kind = kindFromType(r.type);
  showSuccess(r.logs);
  wb.lastKey = keyOf(code, pairs);
  if (kind === 'vector') {
    hideResults();
    showGeoJSON(wb.map, featureCollection(r.text, r.type));
    kind = 'geojson';
    setKind(kind);
    setInfo(`${draftName} · GeoJSON · ${ms}`);
    wb.pending = gen;
    wb.map.triggerRepaint();
    return;
  }
  clearDrawn(wb.map);
  openResults(nameInput.value.trim() || 'Result');
  if (showResult(nameInput.value.trim() || 'Result', r.text, r.type)) kind = 'table';
  setKind(kind);
  setInfo(`${draftName} · ${kind} · ${ms}`);
  setState('loaded');
}

// ---- map events ----------------------------------------------------------------

function onIdle() {
  if (!wb.pending || wb.pending !== wb.gen || wb.failed) return;
  if (drawnLoaded(wb.map)) {
    wb.pending = 0;
    setState('loaded');
  }
}

// onMapError shows the first failed tile of the drawn source with the
// server's answer.
function onMapError(event) {
  if (!event.sourceId) {
    console.warn(event.error);
    return;
  }
  if (event.sourceId !== drawnSource() || wb.failed) return;
  wb.failed = true;
  wb.pending = 0;
  const e = event.error || {};
  // The tile loader's errors carry the server's answer; others (an image
  // that does not decode, say) their message.
  fail(e instanceof ApiError ? e : new ApiError(e.status || 0, e.message || String(e), describeTile(e.url)), wb.draftCode);
}

function onMoveEnd() {
  if (wb.kind !== 'geojson' || !wb.draft) return;
  clearTimeout(wb.moveTimer);
  wb.moveTimer = setTimeout(() => run({ auto: false }), AUTO_RUN_MS);
}

// ---- saving ---------------------------------------------------------------------

function checkName() {
  const name = nameInput.value.trim();
  const ok = NAME.test(name);
  nameInput.toggleAttribute('aria-invalid', !ok);
  return ok ? name : null;
}

// save puts the code into the catalog under the name; it resolves to the
// saved {name, code, version} or null when it failed (the log says why).
async function save() {
  const name = checkName();
  if (!name) {
    showFailure(new Error('the name must be letters, digits, "_", "." or "-", starting with a letter or digit'), null);
    nameInput.focus();
    return null;
  }
  const code = getCode(wb.editor);
  const payload = { code, public: publicBox.checked };
  const values = formValues();
  if (Object.keys(values).length) payload.parameters = values;
  saveButton.disabled = true;
  try {
    const r = await saveUDF(name, payload);
    wb.saved = { name, code, version: r.version };
    updateSaveState();
    showNote(`Saved ${name} as version ${r.version}.`);
    return wb.saved;
  } catch (err) {
    if (err instanceof ApiError && err.status === 409) err.body.error += ' — pick another name';
    fail(err, code);
    return null;
  } finally {
    saveButton.disabled = false;
  }
}

// open loads the saved code of name into the editor (and runs it).
async function open(name, version) {
  const code = await loadCode(name);
  if (!version) {
    try {
      const versions = await listVersions(name);
      if (versions.length) version = versions[0].version;
    } catch (_) { /* the version stays unknown */ }
  }
  nameInput.value = name;
  setCode(wb.editor, code);
  wb.saved = { name, code, version: version || '?' };
  updateSaveState();
  run();
}

// ---- start ----------------------------------------------------------------------

function wireToolbar() {
  runButton.addEventListener('click', () => run());
  autoRun.addEventListener('change', () => { if (autoRun.checked) scheduleRun(0, { auto: true }); });
  saveButton.addEventListener('click', () => save());
  nameInput.addEventListener('input', () => { checkName(); updateSaveState(); });

  for (const [key, t] of Object.entries(TEMPLATES)) templateSelect.append(new Option(t.label, key));
  templateSelect.addEventListener('change', () => {
    const t = TEMPLATES[templateSelect.value];
    templateSelect.value = '';
    if (!t) return;
    nameInput.value = t.name;
    wb.texts = {};
    setCode(wb.editor, t.code);
    updateSaveState();
    if (!autoRun.checked) return;
    scheduleRun(0, { auto: true });
  });

  tokenInput.addEventListener('input', () => setToken(tokenInput.value));
  const tokenEntered = () => {
    setToken(tokenInput.value);
    if (!hasToken()) return;
    if (pendingOpen) {
      const name = pendingOpen;
      pendingOpen = '';
      open(name).catch((err) => fail(err, ''));
      return;
    }
    if (autoRun.checked) run({ auto: true });
  };
  tokenInput.addEventListener('change', tokenEntered);
  tokenInput.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') { event.preventDefault(); tokenEntered(); }
  });

  // Ctrl/Cmd-Enter runs and Ctrl/Cmd-S saves from anywhere on the page; the
  // editor has its own keys (which prevent these).
  document.addEventListener('keydown', (event) => {
    if (!(event.ctrlKey || event.metaKey) || event.defaultPrevented) return;
    if (event.key === 'Enter') {
      event.preventDefault();
      run();
    } else if (event.key === 's' || event.key === 'S') {
      event.preventDefault();
      save();
    }
  });
}

let pendingOpen = '';

function requestedUDF() {
  const v = new URLSearchParams(location.hash.slice(1)).get('udf');
  return v && NAME.test(v) ? v : '';
}

function start() {
  wb.editor = createEditor(document.getElementById('editor'), {
    doc: TEMPLATES[DEFAULT_TEMPLATE].code,
    onChange: () => {
      updateSaveState();
      if (autoRun.checked) scheduleRun(AUTO_RUN_MS, { auto: true });
    },
    onRun: () => run(),
    onSave: () => save(),
  });
  nameInput.value = TEMPLATES[DEFAULT_TEMPLATE].name;
  wireToolbar();
  wireForm({
    onInput: (immediate) => {
      wb.texts = readTexts();
      if (immediate) scheduleRun(0, { auto: true });
      else if (autoRun.checked) scheduleRun(AUTO_RUN_MS, { auto: true });
    },
    onReset: () => {
      wb.texts = {};
      buildForm(wb.params, wb.texts);
      markErrors({});
      updateReset(wb.texts);
      scheduleRun(0, { auto: true });
    },
  });
  wireResultsToggle();
  wireCopyButtons();
  for (const d of document.querySelectorAll('dialog')) {
    for (const b of d.querySelectorAll('[data-close]')) b.addEventListener('click', () => d.close());
  }
  wireVersions({
    name: () => checkName(),
    current: () => wb.saved,
    open: (name, version) => open(name, version),
    fail: (err) => fail(err, ''),
  });
  wireShare({
    name: () => checkName(),
    ensureSaved: async () => {
      const name = checkName();
      const code = getCode(wb.editor);
      if (wb.saved && wb.saved.name === name && wb.saved.code === code) return wb.saved;
      return save();
    },
    query: () => ({ pairs: formQuery().pairs, values: formValues() }),
    kind: () => wb.kind,
    udf: () => (wb.draft && wb.draft.udf) || {},
  });
  updateSaveState();

  if (typeof maplibregl === 'undefined') {
    showFailure(new Error('the map library did not load (/static/vendor/maplibre-gl.js)'), null);
    return;
  }
  try {
    wb.map = createMap('map');
  } catch (err) {
    showFailure(new Error(`the map could not start: ${err.message || err}; WebGL may be unavailable`), null);
    return;
  }
  wb.map.on('idle', onIdle);
  wb.map.on('error', onMapError);
  wb.map.on('moveend', onMoveEnd);

  const name = requestedUDF();
  if (name) {
    pendingOpen = name;
    nameInput.value = name;
    showHint(`Enter a token to open ${name}.`);
  }
}

// window.workbench is for scripts and the browser tests.
window.workbench = {
  get map() { return wb.map; },
  get editor() { return wb.editor; },
  get kind() { return wb.kind; },
  get draft() { return wb.draft; },
  run: () => run(),
};

start();
