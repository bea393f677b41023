// The server's layers and the list of them: each with its handler, the kind
// found for it once shown, or the error that keeps it from working.

import { kindTag } from './kinds.js';
import { lastLine } from './format.js';

const list = document.getElementById('layer-list');

let layers = [];   // from /v1/udfs, set once at start
const kinds = {};  // layer name -> kind found for it, shown in the list

export function setLayers(all) {
  layers = all;
}

export function findLayer(name) {
  return layers.find((l) => l.name === name) || null;
}

export function isBroken(layer) {
  return layer.status === 'error';
}

export function isPython(layer) {
  return layer.handler === 'python';
}

// defaultName prefers a layer that draws on the map without a probe.
export function defaultName() {
  const ok = layers.filter((l) => !isBroken(l));
  const first = ok.find((l) => !isPython(l)) || ok[0] || layers[0];
  return first ? first.name : null;
}

function placeholder(text) {
  const li = document.createElement('li');
  li.className = 'layer-placeholder';
  li.textContent = text;
  list.replaceChildren(li);
}

// showNoLayers replaces the list when the layers could not be listed.
export function showNoLayers() {
  placeholder('No layers available.');
}

// renderList draws the list with current (a name, or null) highlighted.
export function renderList(current) {
  const hadFocus = list.contains(document.activeElement);
  list.replaceChildren();
  if (layers.length === 0) {
    placeholder('No layers configured.');
    return;
  }
  for (const layer of layers) {
    const li = document.createElement('li');
    const name = document.createElement('span');
    name.className = 'layer-name';
    name.textContent = layer.name;

    const button = document.createElement('button');
    button.type = 'button';
    button.dataset.name = layer.name;
    if (layer.name === current) button.setAttribute('aria-current', 'true');
    if (isBroken(layer)) {
      // A broken layer stays selectable: its details show the whole error
      // (a Python traceback); the list shows its last line.
      li.className = 'layer-broken';
      const badge = document.createElement('span');
      badge.className = 'layer-badge';
      badge.textContent = 'error';
      const err = document.createElement('span');
      err.className = 'layer-broken-error';
      err.textContent = lastLine(layer.error) || 'This layer is unavailable.';
      button.append(badge, name, err);
    } else {
      const tags = document.createElement('span');
      tags.className = 'layer-handler';
      const kind = document.createElement('span');
      kind.className = 'layer-kind';
      kind.dataset.handler = layer.handler || '';
      kind.textContent = kindTag(kinds[layer.name], layer.handler);
      tags.append(kind);
      if (layer.handler) tags.append(document.createTextNode(layer.handler));
      button.append(tags, name);
    }
    li.append(button);
    list.append(li);
  }
  if (hadFocus) {
    const button = list.querySelector('button[aria-current="true"]');
    if (button) button.focus();
  }
}

// showKind notes the kind found for a layer and shows it in the list.
export function showKind(name, kind) {
  kinds[name] = kind;
  const label = list.querySelector(`button[data-name="${CSS.escape(name)}"] .layer-kind`);
  if (label) label.textContent = kindTag(kind, label.dataset.handler);
}

// onPick calls pick with the name of a layer clicked in the list.
export function onPick(pick) {
  list.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-name]');
    if (button) pick(button.dataset.name);
  });
}
