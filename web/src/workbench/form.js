// The parameter form, built from the draft's schema. A field shows the
// text the user typed (texts) or else the parameter's default; only typed
// texts that differ from the default go into requests.

import { defaultText } from './params.js';

const form = document.getElementById('param-form');
const fields = document.getElementById('param-fields');
const reset = document.getElementById('param-reset');
const empty = document.getElementById('param-empty');

// colormap and rescale style raster tiles only: shown for raster results.
export const STYLE_PARAMS = ['colormap', 'rescale'];

const HINT = {
  int: 'integer',
  float: 'number',
  'list[int]': '1,2,3',
  'list[float]': '0.5,1.5',
  list: 'a,b,c or a JSON list',
  dict: 'a JSON object',
  geometry: 'GeoJSON or WKT',
  dataframe: 'JSON records',
  geodataframe: 'GeoJSON',
};

function fieldId(name) {
  return 'param-' + name.replace(/[^A-Za-z0-9_-]/g, '_');
}

// buildForm makes one field per parameter; texts are the typed values kept
// from before.
export function buildForm(params, texts) {
  fields.replaceChildren();
  empty.hidden = params.length > 0;
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
    if (p.description) label.title = p.description;
    const input = control(p, id, texts[p.name]);
    if (STYLE_PARAMS.includes(p.name)) {
      for (const n of [label, input]) {
        n.dataset.style = '';
        n.hidden = !styleShown;
      }
    }
    fields.append(label, input);
  }
  updateReset(texts);
}

let styleShown = false;

// showStyleParams shows colormap and rescale, for raster results only.
export function showStyleParams(on) {
  styleShown = on;
  for (const n of fields.querySelectorAll('[data-style]')) n.hidden = !on;
}

function control(p, id, typed) {
  const def = defaultText(p);
  const text = typed !== undefined ? typed : def;
  let input;
  if (Array.isArray(p.enum) && p.enum.length) {
    input = document.createElement('select');
    if (!p.enum.includes(def)) input.append(new Option('(default)', def));
    for (const v of p.enum) input.append(new Option(v === def ? `${v} (default)` : v, v));
    input.value = text;
  } else if (p.type === 'bool') {
    input = document.createElement('input');
    input.type = 'checkbox';
    input.checked = /^(true|1)$/i.test(text);
  } else {
    input = document.createElement('input');
    input.type = 'text';
    input.spellcheck = false;
    input.autocomplete = 'off';
    if (p.type === 'int') input.inputMode = 'numeric';
    if (p.type === 'float') input.inputMode = 'decimal';
    input.placeholder = def || HINT[p.type] || '';
    input.value = text;
  }
  input.id = id;
  input.name = p.name;
  input.dataset.default = def;
  if (p.required) input.setAttribute('aria-required', 'true');
  return input;
}

// fieldText is what a field holds, as text.
function fieldText(input) {
  return input.type === 'checkbox' ? String(input.checked) : input.value;
}

// readTexts is the typed texts: fields whose text differs from the default.
export function readTexts() {
  const out = {};
  for (const input of fields.querySelectorAll('[name]')) {
    const t = fieldText(input);
    if (t.trim() !== (input.dataset.default || '').trim()) out[input.name] = t;
  }
  return out;
}

export function updateReset(texts) {
  reset.disabled = Object.keys(texts || readTexts()).length === 0;
}

// markErrors marks the fields whose text does not read as their type.
export function markErrors(errors) {
  for (const input of fields.querySelectorAll('[name]')) {
    const e = errors[input.name];
    input.toggleAttribute('aria-invalid', Boolean(e));
    input.title = e ? `${input.name}: ${e}` : '';
  }
}

// wireForm calls onInput(immediate) when a value changes: immediate for a
// committed change (Enter, a checkbox, a select, leaving a field), not for
// typing; and onReset after the Reset button.
export function wireForm({ onInput, onReset }) {
  form.addEventListener('input', (event) => {
    const t = event.target;
    updateReset();
    onInput(t.type === 'checkbox' || t.tagName === 'SELECT');
  });
  form.addEventListener('change', () => onInput(true));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    onInput(true);
  });
  reset.addEventListener('click', (event) => {
    event.preventDefault();
    onReset();
  });
}
