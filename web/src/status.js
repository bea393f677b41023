// What the page tells: the status line (errors with their traceback and the
// UDF's prints), the busy spinner, screen-reader announcements, and
// body[data-state], which the browser tests (and window.udftiles.ready) wait on.

import { lastLine, plural } from './format.js';

const statusEl = document.getElementById('status');
const announceEl = document.getElementById('announce');
const busyEl = document.getElementById('busy');

// ready resolves with the first layer's name once it has been shown,
// and rejects if the page could not show it.
let settle = null;
export const ready = new Promise((resolve, reject) => { settle = { resolve, reject }; });
ready.catch(() => {});

export function setPageState(value, detail) {
  document.body.dataset.state = value;
  if (!settle) return;
  if (value === 'loaded') settle.resolve(detail);
  else if (value === 'error') settle.reject(new Error(detail));
  else return;
  settle = null;
}

export function pageState() {
  return document.body.dataset.state;
}

export function setBusy(on) {
  busyEl.hidden = !on;
}

export function announce(text) {
  announceEl.textContent = text;
}

export function showStatus(text, isError) {
  statusEl.replaceChildren();
  statusEl.textContent = text;
  statusEl.classList.toggle('is-error', Boolean(isError));
  statusEl.hidden = !text;
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

function statusHint(status) {
  return { 400: ', bad parameter', 500: ', the UDF raised', 502: ', worker died', 503: ', unavailable', 504: ', timed out' }[status] || '';
}

// showError shows a failure (an Error from api.js): a headline, the
// server's error text (a Python traceback for a UDF that raised) and the
// UDF's printed logs, both in collapsible <pre> blocks. It returns the headline.
export function showError(err) {
  const what = err.what || 'Request';
  const detail = String(err.detail || err.message || 'Unknown error');
  const multiline = detail.trim().includes('\n');
  const head = document.createElement('p');
  head.className = 'status-head';
  head.textContent = `${what} failed${err.status ? ` (HTTP ${err.status}${statusHint(err.status)})` : ''}: ${multiline ? lastLine(detail) : detail}`;
  statusEl.replaceChildren(head);
  if (multiline) statusEl.append(collapsible('Traceback', detail.replace(/\s+$/, ''), true));
  if (err.logs && err.logs.trim()) {
    const n = err.logs.replace(/\s+$/, '').split('\n').length;
    statusEl.append(collapsible(`Logs (${plural(n, 'line', 'lines')})`, err.logs.replace(/\s+$/, ''), true));
  }
  statusEl.classList.add('is-error');
  statusEl.hidden = false;
  return head.textContent;
}
