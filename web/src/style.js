// Colours of vector features, by a property of theirs: MapLibre expressions
// and the legend that explains them. Pure.

import { plural } from './format.js';

// viridis at nine even steps, for numeric properties.
export const VIRIDIS = ['#440154', '#472d7b', '#3b528b', '#2c728e', '#21918c', '#28ae80', '#5ec962', '#addc30', '#fde725'];
// Ten distinct colours (Tableau 10) for string properties; the rest are OTHER.
export const CATEGORICAL = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#17becf'];
export const OTHER = '#9aa3ad';
export const SINGLE = '#2f6fde';
export const OUTLINE = '#1f4fa8'; // polygon outlines when not coloured by a property

// propertiesOf lists the features' properties (from the first 1000), each
// numeric when every value present is a finite number.
export function propertiesOf(features) {
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

// colorExpression is the MapLibre colour of the features by the property
// named colorBy (one of props), with the legend entries that explain it.
export function colorExpression(props, features, colorBy) {
  const prop = props.find((p) => p.name === colorBy);
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
