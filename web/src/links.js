// The Links group: a layer's XYZ, TileJSON, QGIS and run URLs, with their
// copy buttons.

import { announce } from './status.js';

const tileUrl = document.getElementById('tile-url');
const tilejsonUrl = document.getElementById('tilejson-url');
const qgisRow = document.getElementById('qgis-row');
const qgisUri = document.getElementById('qgis-uri');
const runRow = document.getElementById('run-row');
const runUrl = document.getElementById('run-url');

// showLinks shows the URLs; qgis (raster layers) and run (file mode) are
// null when they do not apply, which hides their rows.
export function showLinks({ tile, tilejson, qgis, run }) {
  tileUrl.value = tile;
  tilejsonUrl.value = tilejson;
  qgisRow.hidden = qgis === null;
  qgisUri.value = qgis === null ? '' : qgis;
  runRow.hidden = run === null;
  if (run !== null) runUrl.value = run;
}

export function showRunUrl(url) {
  runUrl.value = url;
}

async function copyField(button) {
  const input = document.getElementById(button.dataset.copy);
  if (!input) return;
  let ok = false;
  try {
    await navigator.clipboard.writeText(input.value);
    ok = true;
  } catch (_) {
    // Clipboard API is unavailable on plain-http origins other than localhost.
    input.focus();
    input.select();
    try { ok = document.execCommand('copy'); } catch (_) { ok = false; }
  }
  const label = input.labels && input.labels[0] ? input.labels[0].textContent.trim() : 'Text';
  button.textContent = ok ? 'Copied' : 'Select';
  button.classList.toggle('is-done', ok);
  announce(ok ? `${label} copied to the clipboard.` : `${label} is selected; press Ctrl+C to copy.`);
  clearTimeout(button._reset);
  button._reset = setTimeout(() => {
    button.textContent = 'Copy';
    button.classList.remove('is-done');
  }, 1500);
}

export function wireCopyButtons() {
  for (const button of document.querySelectorAll('.copy-button')) {
    button.addEventListener('click', () => copyField(button));
  }
}
