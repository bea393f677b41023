// The Versions dialog: every save of the named UDF, newest first, each with
// a Restore button, and a button that opens the saved code.

import { listVersions, restoreVersion } from './api.js';

const dialog = document.getElementById('versions-dialog');
const button = document.getElementById('versions');
const nameEl = document.getElementById('versions-name');
const list = document.getElementById('versions-list');
const status = document.getElementById('versions-status');
const openSaved = document.getElementById('open-saved');

function when(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso || '') : d.toLocaleString();
}

// wireVersions: hooks are name() (the valid name or null), current() (the
// last save or open), open(name, version) and fail(err).
export function wireVersions(hooks) {
  let name = '';

  async function refresh() {
    list.replaceChildren();
    status.textContent = 'Loading…';
    let versions;
    try {
      versions = await listVersions(name);
    } catch (err) {
      status.textContent = err.status === 404 ? `${name} is not saved yet.` : err.message;
      return;
    }
    status.textContent = versions.length ? '' : 'No versions.';
    versions.forEach((v, i) => {
      const li = document.createElement('li');
      li.className = 'wb-list-row';
      const label = document.createElement('span');
      label.className = 'wb-version';
      label.textContent = `v${v.version}`;
      const meta = document.createElement('span');
      meta.className = 'wb-muted';
      const hash = v.code_hash ? ` · ${String(v.code_hash).slice(0, 10)}` : '';
      meta.textContent = `${when(v.created_at)}${v.author ? ` · ${v.author}` : ''}${hash}`;
      const restore = document.createElement('button');
      restore.type = 'button';
      restore.className = 'wb-button wb-small';
      restore.dataset.version = String(v.version);
      if (i === 0) {
        restore.textContent = 'Open';
        restore.title = 'The newest version: open it in the editor';
        restore.addEventListener('click', () => {
          dialog.close();
          hooks.open(name, v.version).catch(hooks.fail);
        });
      } else {
        restore.textContent = 'Restore';
        restore.title = `Make v${v.version}'s code the newest version and open it`;
        restore.addEventListener('click', async () => {
          restore.disabled = true;
          try {
            const r = await restoreVersion(name, v.version);
            dialog.close();
            await hooks.open(name, r && r.version ? r.version : undefined);
          } catch (err) {
            status.textContent = err.message;
            restore.disabled = false;
          }
        });
      }
      li.append(label, meta, restore);
      list.append(li);
    });
  }

  button.addEventListener('click', () => {
    const n = hooks.name();
    if (!n) return;
    name = n;
    nameEl.textContent = name;
    dialog.showModal();
    refresh();
  });
  openSaved.addEventListener('click', () => {
    dialog.close();
    const cur = hooks.current();
    hooks.open(name, cur && cur.name === name ? cur.version : undefined).catch(hooks.fail);
  });
}
