// How values and results are written out for people. Pure: no DOM, so that
// `node --test` can check it.

export const MAX_TEXT = 200000; // characters of a JSON or text result shown

export function lastLine(text) {
  const lines = String(text || '').split('\n').map((s) => s.trim()).filter(Boolean);
  return lines.length ? lines[lines.length - 1] : '';
}

export function plural(n, one, many) {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

export function formatNumber(v) {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e4) return v.toLocaleString(undefined, { notation: 'compact', maximumFractionDigits: 1 });
  if (a > 0 && a < 1e-3) return v.toExponential(1);
  return v.toLocaleString(undefined, { maximumFractionDigits: a >= 100 ? 0 : 3 });
}

export function clipText(text) {
  return text.length > MAX_TEXT ? text.slice(0, MAX_TEXT) + '\n…' : text;
}

// prettyJSON indents objects and lists, but keeps those that fit on a line
// (coordinates, bounds, small records) on one.
export function prettyJSON(value) {
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

// isRecords is true for a list of objects: a table's rows.
export function isRecords(data) {
  return Array.isArray(data) && data.length > 0 &&
    data.every((r) => r !== null && typeof r === 'object' && !Array.isArray(r));
}

export function cellText(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
