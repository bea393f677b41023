// The parameter form, built from a layer's schema. Its values differing from
// the defaults are the query every URL of the layer carries (formPairs).

// colormap and rescale style raster tiles only; other kinds leave them out.
const STYLE_PARAMS = ['colormap', 'rescale'];
const CUSTOM = '__custom__';

const TYPE_HINT = {
  list: 'a,b,c or a JSON list',
  'list[int]': 'comma-separated integers',
  'list[float]': 'comma-separated numbers',
  dict: 'a JSON object',
  geometry: 'GeoJSON or WKT',
};

const form = document.getElementById('param-form');
const fields = document.getElementById('param-fields');
const reset = document.getElementById('param-reset');

// The server's colormap names, offered by the colormap field (set once at start).
let colormaps = [];

export function setColormaps(names) {
  colormaps = names;
}

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

// buildForm makes one field per parameter. Each field's default value is
// its defaultValue/defaultChecked/defaultSelected, so the form's native
// reset restores the defaults.
export function buildForm(layer) {
  fields.replaceChildren();
  const params = paramList(layer);
  form.hidden = params.length === 0;
  reset.disabled = true;
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
    fields.append(...row);
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
  const known = colormaps.includes(def);
  select.append(new Option(def && known ? `${def} (default)` : '(default)', ''));
  for (const name of colormaps) select.append(new Option(name, name));
  select.append(new Option('Custom…', CUSTOM));
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
  select.value = def && !known ? CUSTOM : '';
  custom.value = custom.defaultValue;
  custom.hidden = select.value !== CUSTOM;
  select.addEventListener('change', () => {
    custom.hidden = select.value !== CUSTOM;
    if (!custom.hidden) custom.focus();
  });
  wrap.append(select, custom);
  return wrap;
}

// formPairs lists the parameters of layer whose value differs from the
// default, in the schema's order: the query string the layer is requested
// with. kind is the layer's kind, or null while it is not known.
export function formPairs(layer, kind) {
  const pairs = [];
  for (const p of paramList(layer)) {
    if (STYLE_PARAMS.includes(p.name) && kind && kind !== 'raster') continue;
    const input = fields.querySelector(`[name="${CSS.escape(p.name)}"]`);
    if (!input) continue;
    const def = input.dataset.default || '';
    let value;
    if (input.type === 'checkbox') {
      const was = p.default === true || p.default === 'true';
      if (input.checked === was) continue;
      value = String(input.checked);
    } else if (p.name === 'colormap') {
      const custom = input.parentElement.querySelector('[data-role="custom"]');
      value = input.value === CUSTOM ? custom.value.trim() : input.value;
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

// The Reset button is enabled while some value differs from its default.
export function updateReset(layer, kind) {
  reset.disabled = formPairs(layer, kind).length === 0;
}

// A field the browser considers invalid (such as "1.5" in an int field)
// is marked and left out until it is fixed.
export function markInvalid() {
  let ok = true;
  for (const input of fields.querySelectorAll('input')) {
    const bad = input.validity && !input.validity.valid;
    input.toggleAttribute('aria-invalid', bad);
    if (bad) ok = false;
  }
  return ok;
}

// showStyleParams shows colormap and rescale, for raster layers only.
export function showStyleParams(on) {
  for (const n of fields.querySelectorAll('[data-style]')) n.hidden = !on;
}

// wireForm calls apply when a value changes, on Enter and after a reset.
export function wireForm(apply) {
  form.addEventListener('change', () => apply());
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    apply();
  });
  form.addEventListener('reset', () => {
    // The native reset restores the defaults after this event.
    setTimeout(() => {
      for (const c of fields.querySelectorAll('[data-role="custom"]')) {
        c.hidden = c.previousElementSibling.value !== CUSTOM;
      }
      apply();
    });
  });
}
