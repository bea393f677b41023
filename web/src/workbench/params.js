// A draft's parameters as the form shows them and as requests carry them:
// which parameters get a field, the text a field starts with, and the
// coercion of a field's text to the value its type takes. Pure.

// The tile's numbers come from the tile's path; bounds from the tile or the view.
const FILLED = new Set(['x', 'y', 'z', 'bounds', 'bbox']);

// formParams are the parameters that get a field.
export function formParams(udf) {
  const list = Array.isArray(udf && udf.parameters) ? udf.parameters : [];
  return list.filter((p) => p && typeof p.name === 'string' && !FILLED.has(p.name));
}

// defaultText is the text a field starts with for the parameter's default.
export function defaultText(p) {
  const d = p.default;
  if (d === undefined || d === null) return '';
  if (typeof d === 'string') return d;
  if (Array.isArray(d) && /^list\[/.test(p.type || '')) return d.join(',');
  if (typeof d === 'object') return JSON.stringify(d);
  return String(d);
}

function parseJSON(text) {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false };
  }
}

function numberList(text, integer) {
  const t = text.trim();
  let items;
  if (t.startsWith('[')) {
    const j = parseJSON(t);
    if (!j.ok || !Array.isArray(j.value)) return null;
    items = j.value;
  } else {
    items = t.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  }
  if (!items.every((v) => typeof v === 'number' && Number.isFinite(v) && (!integer || Number.isInteger(v)))) return null;
  return items;
}

// coerce reads a field's text as the parameter's type: {value} (undefined
// for an empty field: the default applies) or {error}.
export function coerce(p, text) {
  const t = String(text === undefined || text === null ? '' : text).trim();
  const type = p.type || 'str';
  if (t === '') {
    if (p.required) return { error: 'required' };
    return { value: undefined };
  }
  if (Array.isArray(p.enum) && p.enum.length && !p.enum.includes(t)) {
    return { error: `one of ${p.enum.join(', ')}` };
  }
  switch (type) {
    case 'int':
      if (!/^[+-]?\d+$/.test(t)) return { error: 'an integer' };
      return { value: Number(t) };
    case 'float': {
      const v = Number(t);
      if (!Number.isFinite(v) || !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return { error: 'a number' };
      return { value: v };
    }
    case 'bool':
      if (/^(true|1|yes|on)$/i.test(t)) return { value: true };
      if (/^(false|0|no|off)$/i.test(t)) return { value: false };
      return { error: 'true or false' };
    case 'list[int]': {
      const v = numberList(t, true);
      return v ? { value: v } : { error: 'comma-separated integers' };
    }
    case 'list[float]': {
      const v = numberList(t, false);
      return v ? { value: v } : { error: 'comma-separated numbers' };
    }
    case 'list': {
      if (t.startsWith('[')) {
        const j = parseJSON(t);
        return j.ok && Array.isArray(j.value) ? { value: j.value } : { error: 'a JSON list or a,b,c' };
      }
      return { value: t.split(',').map((s) => s.trim()) };
    }
    case 'dict': {
      const j = parseJSON(t);
      return j.ok && j.value && typeof j.value === 'object' && !Array.isArray(j.value) ? { value: j.value } : { error: 'a JSON object' };
    }
    case 'dataframe':
    case 'geodataframe': {
      const j = parseJSON(t);
      return j.ok && j.value && typeof j.value === 'object' ? { value: j.value } : { error: 'JSON records or GeoJSON' };
    }
    case 'geometry':
      if (t.startsWith('{')) {
        const j = parseJSON(t);
        return j.ok ? { value: j.value } : { error: 'GeoJSON or WKT' };
      }
      return { value: t };
    default:
      return { value: t };
  }
}

// queryValue writes a coerced value as a query string value.
export function queryValue(p, value) {
  if (Array.isArray(value)) {
    if (/^list\[/.test(p.type || '') || value.every((v) => typeof v === 'string' && !v.includes(','))) return value.join(',');
    return JSON.stringify(value);
  }
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

// paramPairs is the query of the form: [name, value] for each field whose
// text differs from its default, in the schema's order, and the errors of
// fields that do not read as their type ({name: what it should be}).
export function paramPairs(params, texts) {
  const pairs = [];
  const errors = {};
  for (const p of params) {
    const text = texts[p.name];
    if (text === undefined) {
      if (p.required && defaultText(p) === '') errors[p.name] = 'required';
      continue;
    }
    if (String(text).trim() === defaultText(p).trim()) {
      if (p.required && defaultText(p) === '') errors[p.name] = 'required';
      continue;
    }
    const r = coerce(p, text);
    if (r.error) {
      errors[p.name] = r.error;
      continue;
    }
    if (r.value === undefined) continue;
    pairs.push([p.name, queryValue(p, r.value)]);
  }
  return { pairs, errors };
}

// keepTexts carries the form's edited texts over to a new schema: a value
// is kept while its parameter keeps its name and type.
export function keepTexts(oldParams, newParams, texts) {
  const before = new Map(oldParams.map((p) => [p.name, p]));
  const out = {};
  for (const p of newParams) {
    const o = before.get(p.name);
    if (o && (o.type || 'str') === (p.type || 'str') && texts[p.name] !== undefined) out[p.name] = texts[p.name];
  }
  return out;
}

// pyLiteral writes a JSON value as Python source.
export function pyLiteral(v) {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : `float(${JSON.stringify(String(v))})`;
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(pyLiteral).join(', ')}]`;
  return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${pyLiteral(x)}`).join(', ')}}`;
}
