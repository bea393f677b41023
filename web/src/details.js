// The selected layer's details: name, kind, description, the error that
// keeps it from working, its metadata, and the opacity slider.

import { KIND_LABEL } from './kinds.js';

const details = document.getElementById('details');
const title = document.getElementById('details-title');
const kindBadge = document.getElementById('details-kind');
const description = document.getElementById('details-description');
const error = document.getElementById('details-error');
const meta = document.getElementById('details-meta');
const body = document.getElementById('details-body');
const opacityField = document.getElementById('opacity-field');
const opacity = document.getElementById('opacity');
const opacityValue = document.getElementById('opacity-value');

function addMeta(term, value, hint) {
  if (value === undefined || value === null || value === '') return;
  const dt = document.createElement('dt');
  const dd = document.createElement('dd');
  dt.textContent = term;
  dd.textContent = value;
  if (hint) dd.title = hint;
  meta.append(dt, dd);
}

// showDetails shows the layer named name (layer is null when there is no
// such layer); problem, when set, is shown instead of the layer's controls.
export function showDetails(name, layer, problem) {
  details.hidden = false;
  title.textContent = name;
  description.textContent = (layer && layer.description) || '';
  error.textContent = problem || '';
  error.hidden = !problem;
  // A traceback keeps its lines (and a SyntaxError's caret) as they are.
  error.classList.toggle('is-traceback', String(problem || '').trim().includes('\n'));
  meta.replaceChildren();
  body.hidden = Boolean(problem);
  kindBadge.hidden = true;
  kindBadge.textContent = '';
  if (!layer || problem) return;

  addMeta('Handler', layer.handler);
  if (Number.isFinite(layer.minzoom) && Number.isFinite(layer.maxzoom)) {
    addMeta('Zoom', `${layer.minzoom}–${layer.maxzoom}`);
  }
  if (layer.default_format) addMeta('Format', layer.default_format);
  else if (layer.handler === 'python') addMeta('Format', 'auto', 'The result picks it: PNG for arrays, GeoJSON for GeoDataFrames, JSON for tables and dicts, HTML for text');
  if (Array.isArray(layer.modes) && layer.modes.length) addMeta('Modes', layer.modes.join(', '));
}

// showKindBadge shows the kind found for the layer (null: not known yet).
export function showKindBadge(kind) {
  kindBadge.hidden = !kind;
  kindBadge.textContent = kind ? KIND_LABEL[kind] : '';
  kindBadge.dataset.kind = kind || '';
}

// A JSON result that is a list of records is shown, and labelled, as a table.
export function labelAsTable() {
  kindBadge.textContent = KIND_LABEL.table;
}

export function showOpacity(on) {
  opacityField.hidden = !on;
}

// onOpacity calls change with the slider's value as a fraction.
export function onOpacity(change) {
  opacity.addEventListener('input', () => {
    opacityValue.textContent = `${opacity.value}%`;
    change(Number(opacity.value) / 100);
  });
}
