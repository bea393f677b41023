// The log panel: what the last run did, its error with the traceback, and
// the UDF's prints (on success from X-UDF-Logs, on failure from "logs").

import { lastLine } from '../format.js';

const info = document.getElementById('run-info');
const busy = document.getElementById('busy');
const headline = document.getElementById('log-headline');
const traceback = document.getElementById('log-traceback');
const printsHead = document.getElementById('log-prints-head');
const prints = document.getElementById('log-prints');
const hint = document.getElementById('log-hint');

function trimEnd(s) {
  return String(s || '').replace(/\s+$/, '');
}

export function setBusy(on) {
  busy.hidden = !on;
}

export function setInfo(text) {
  info.textContent = text;
}

// showHint shows a note in place of a result (no token yet, say).
export function showHint(text) {
  hint.textContent = text;
  hint.hidden = !text;
}

function setPrints(text) {
  const t = trimEnd(text);
  prints.textContent = t;
  prints.hidden = !t;
  printsHead.hidden = !t;
}

// showSuccess clears the error and shows the run's prints.
export function showSuccess(logs) {
  headline.hidden = true;
  headline.textContent = '';
  traceback.hidden = true;
  traceback.textContent = '';
  showHint('');
  setPrints(logs);
}

function statusHint(status) {
  return {
    400: 'bad request', 401: 'a token is needed', 403: 'the token may not do this', 404: 'not found',
    409: 'conflict', 413: 'too large', 429: 'too many requests', 500: 'the UDF raised', 502: 'the worker died',
    503: 'unavailable', 504: 'timed out',
  }[status] || '';
}

// showFailure shows an ApiError (or any Error): a headline, the error text
// (a traceback) and the logs. line is the line marked in the editor, if any.
export function showFailure(err, line) {
  const body = err.body || { error: err.message || String(err), logs: '' };
  const detail = trimEnd(body.error);
  const multiline = detail.includes('\n');
  const status = err.status ? ` (HTTP ${err.status}${statusHint(err.status) ? ', ' + statusHint(err.status) : ''})` : '';
  const at = line ? ` — line ${line}` : '';
  headline.textContent = `${err.what || 'Run'} failed${status}${at}: ${multiline ? lastLine(detail) : detail}`;
  headline.hidden = false;
  traceback.textContent = multiline ? detail : '';
  traceback.hidden = !multiline;
  showHint('');
  setPrints(body.logs);
  return headline.textContent;
}

// showNote shows a line of information where the error goes (Saved v3).
export function showNote(text) {
  showHint(text);
}
