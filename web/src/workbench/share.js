// The Share dialog: makes a share token for the saved UDF (saving the code
// first if it changed) and shows its XYZ URL, its TileJSON, a MapLibre snippet, a QGIS
// connection and a Python call; lists the UDF's tokens, each revocable.

import { createToken, listTokens, revokeToken } from './api.js';
import { shareSnippets } from './snippets.js';

const dialog = document.getElementById('share-dialog');
const button = document.getElementById('share');
const nameEl = document.getElementById('share-name');
const expires = document.getElementById('share-expires');
const cache = document.getElementById('share-cache');
const create = document.getElementById('share-create');
const status = document.getElementById('share-status');
const output = document.getElementById('share-output');
const tokens = document.getElementById('share-tokens');
const out = {
  xyz: document.getElementById('share-xyz'),
  tilejson: document.getElementById('share-tilejson'),
  file: document.getElementById('share-file'),
  maplibre: document.getElementById('share-maplibre'),
  qgis: document.getElementById('share-qgis'),
  fused: document.getElementById('share-fused'),
};

function when(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleString();
}

// wireShare: hooks are name() (the valid name or null), ensureSaved() (the
// save, made if needed, or null), query() ({pairs, values} of the form),
// kind() (what the last run drew) and udf() (the draft's schema).
export function wireShare(hooks) {
  let name = '';

  async function refreshTokens() {
    tokens.replaceChildren();
    let list;
    try {
      list = await listTokens(name);
    } catch (err) {
      if (err.status !== 404) status.textContent = err.message;
      return;
    }
    for (const t of list) {
      const li = document.createElement('li');
      li.className = 'wb-list-row';
      const label = document.createElement('span');
      label.className = 'wb-version';
      label.textContent = `${t.prefix || t.id}…`;
      const meta = document.createElement('span');
      meta.className = 'wb-muted';
      const state = t.revoked_at ? 'revoked' : t.enabled === false ? 'disabled' : 'active';
      meta.textContent = [state, t.created_at ? `made ${when(t.created_at)}` : '', t.expires_at ? `expires ${when(t.expires_at)}` : '',
        t.cache === false ? 'not cached' : ''].filter(Boolean).join(' · ');
      li.append(label, meta);
      if (!t.revoked_at) {
        const revoke = document.createElement('button');
        revoke.type = 'button';
        revoke.className = 'wb-button wb-small';
        revoke.textContent = 'Revoke';
        revoke.addEventListener('click', async () => {
          revoke.disabled = true;
          try {
            await revokeToken(name, t.id);
            status.textContent = `Revoked ${t.prefix || t.id}…`;
          } catch (err) {
            status.textContent = err.message;
          }
          refreshTokens();
        });
        li.append(revoke);
      }
      tokens.append(li);
    }
  }

  button.addEventListener('click', () => {
    const n = hooks.name();
    if (!n) return;
    name = n;
    nameEl.textContent = name;
    status.textContent = '';
    output.hidden = true;
    dialog.showModal();
    refreshTokens();
  });

  create.addEventListener('click', async () => {
    create.disabled = true;
    status.textContent = 'Saving…';
    try {
      const saved = await hooks.ensureSaved();
      if (!saved) {
        status.textContent = 'Could not save the code: see the log.';
        return;
      }
      name = saved.name;
      status.textContent = 'Making a token…';
      const options = { enabled: true, cache: cache.checked, public_read: true };
      if (expires.value) options.expires_in = expires.value;
      const r = await createToken(name, options);
      const udf = hooks.udf();
      const { pairs, values } = hooks.query();
      const s = shareSnippets({
        name, token: r.token, urls: r.urls || {}, pairs, values,
        kind: hooks.kind() === 'vector' ? 'vector' : 'raster', minzoom: udf.minzoom, maxzoom: udf.maxzoom,
      });
      out.xyz.value = s.xyz;
      out.tilejson.value = s.tilejson;
      out.file.value = s.file;
      out.maplibre.value = s.maplibre;
      out.qgis.value = s.qgis;
      out.fused.value = s.fused;
      output.hidden = false;
      dialog.dataset.token = r.token || '';
      status.textContent = `Token ${String(r.token || '').slice(0, 12)}… made for ${name} v${saved.version}. It is shown once: copy what you need.`;
      refreshTokens();
    } catch (err) {
      status.textContent = err.message;
    } finally {
      create.disabled = false;
    }
  });
}
