// The results panel: a JSON, table, text or HTML result of file mode for the
// current view.

import { kindFromType } from './kinds.js';
import { cellText, clipText, isRecords, plural, prettyJSON } from './format.js';

const MAX_ROWS = 200;

const panel = document.getElementById('results');
const title = document.getElementById('results-title');
const meta = document.getElementById('results-meta');
const body = document.getElementById('results-body');
const toggle = document.getElementById('results-toggle');

export function openResults(name) {
  panel.hidden = false;
  title.textContent = name;
  meta.textContent = 'Running…';
  body.replaceChildren();
  document.body.classList.add('has-results');
}

export function hideResults() {
  panel.hidden = true;
  body.replaceChildren();
  document.body.classList.remove('has-results');
}

// showResult shows the result of the layer name; it returns true when the
// result was a table (a list of records).
export function showResult(name, text, type) {
  const kind = kindFromType(type);
  let table = false;
  body.replaceChildren();
  let line = type.split(';')[0] || 'unknown type';
  if (kind === 'html') {
    // A sandbox without scripts or same-origin access: the UDF's HTML is shown, never run.
    const frame = document.createElement('iframe');
    frame.setAttribute('sandbox', '');
    frame.setAttribute('referrerpolicy', 'no-referrer');
    frame.title = `HTML result of ${name}`;
    frame.srcdoc = text;
    body.append(frame);
  } else if (kind === 'json' || kind === 'vector') {
    let data;
    let parsed = true;
    try { data = JSON.parse(text); } catch (_) { parsed = false; }
    if (parsed && isRecords(data)) {
      body.append(recordsTable(data));
      table = true;
      line += ` · ${plural(data.length, 'row', 'rows')}${data.length > MAX_ROWS ? `, first ${MAX_ROWS} shown` : ''}`;
    } else {
      body.append(preBlock(parsed ? prettyJSON(data) : text));
    }
  } else {
    body.append(preBlock(text));
  }
  meta.textContent = line;
  panel.dataset.kind = kind;
  return table;
}

export function wireResultsToggle() {
  toggle.addEventListener('click', () => {
    const collapsed = panel.classList.toggle('is-collapsed');
    document.body.classList.toggle('results-collapsed', collapsed);
    toggle.setAttribute('aria-expanded', String(!collapsed));
    toggle.title = collapsed ? 'Expand results' : 'Collapse results';
  });
}

function preBlock(text) {
  const pre = document.createElement('pre');
  pre.className = 'result-text';
  pre.textContent = clipText(text);
  return pre;
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
      td.textContent = cellText(r[c]);
      if (numeric.has(c)) td.className = 'num';
    }
  }
  return table;
}
