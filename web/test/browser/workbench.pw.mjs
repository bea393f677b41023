// The Workbench's loop in headless Chromium, driven by Playwright: a new
// UDF typed into the editor and seen on the map, a parameter default edited
// in the code and the map's colour seen to change, the UDF saved and shared,
// and the shared XYZ URL fetched with no token.
//
//   UDFTILES_URL=http://127.0.0.1:8080 UDFTILES_EDITOR_TOKEN=… node web/test/browser/workbench.pw.mjs
//
// UDFTILES_CHROMIUM names the browser (default /usr/bin/chromium). The
// server needs a store and the token the editor role. What was checked is
// written to stdout as JSON; the exit status is 1 if any check failed.
// e2e/workbench_playwright_test.go runs it against the real binary.

import { inflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const base = (process.env.UDFTILES_URL || '').replace(/\/+$/, '');
const token = process.env.UDFTILES_EDITOR_TOKEN || '';
const executablePath = process.env.UDFTILES_CHROMIUM || '/usr/bin/chromium';
const name = process.env.UDFTILES_UDF_NAME || 'flat_pw';

// One flat colour, (red, 40, 90), on every tile.
const udf = `import fused


@fused.udf
def udf(bounds: fused.types.Bounds = None, red: int = 200):
    import numpy as np

    print(f"drawing red={red}")
    a = np.empty((3, 256, 256), dtype=np.uint8)
    a[0], a[1], a[2] = red, 40, 90
    return a
`;
const edited = udf.replace('red: int = 200', 'red: int = 20');

const started = Date.now();
const checks = [];

// check records a result and throws on a failed one, which ends the run.
function check(what, ok, detail = '') {
  checks.push({ check: what, ok: !!ok, ...(detail ? { detail } : {}), ms: Date.now() - started });
  if (!ok) throw new Error(`${what}: ${detail}`);
}

// decodePNG reads a non-interlaced 8-bit PNG (grey, RGB, palette, grey and
// alpha, RGBA) into {width, height, rgb(x, y)}.
function decodePNG(buf) {
  if (buf.readUInt32BE(0) !== 0x89504e47) throw new Error('not a PNG');
  let pos = 8;
  let width = 0, height = 0, type = 0, palette = null;
  const idat = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const kind = buf.toString('latin1', pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (kind === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      type = data[9];
      if (data[8] !== 8 || data[12] !== 0) throw new Error(`PNG depth ${data[8]}, interlace ${data[12]}: not read here`);
    } else if (kind === 'PLTE') {
      palette = data;
    } else if (kind === 'IDAT') {
      idat.push(data);
    } else if (kind === 'IEND') {
      break;
    }
    pos += 12 + len;
  }
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[type];
  if (!channels) throw new Error(`PNG colour type ${type}: not read here`);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const px = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = y * stride;
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? px[out + i - channels] : 0;
      const b = y > 0 ? px[out - stride + i] : 0;
      const c = i >= channels && y > 0 ? px[out - stride + i - channels] : 0;
      let v = line[i];
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      px[out + i] = v & 0xff;
    }
  }
  const rgb = (x, y) => {
    const i = y * stride + x * channels;
    if (type === 3) return [palette[px[i] * 3], palette[px[i] * 3 + 1], palette[px[i] * 3 + 2]];
    if (channels <= 2) return [px[i], px[i], px[i]];
    return [px[i], px[i + 1], px[i + 2]];
  };
  return { width, height, rgb };
}

const dist2 = (a, b) => (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 + (a[2] - b[2]) ** 2;

async function main(page) {
  const runs = () => page.evaluate(() => document.body.dataset.runs);
  const logPanel = () => page.evaluate(() => ['run-info', 'log-headline', 'log-traceback', 'log-prints']
    .map((id) => `${id}: ${document.getElementById(id).textContent}`).join('\n'));

  // waitRun waits for a run after the count before to settle, as "loaded".
  async function waitRun(before, what) {
    await page.waitForFunction((n) => document.body.dataset.runs !== n &&
      ['loaded', 'error'].includes(document.body.dataset.state), before, { timeout: 30000 });
    const state = await page.evaluate(() => document.body.dataset.state);
    check(`${what} runs`, state === 'loaded', state === 'loaded' ? '' : `settled as ${state}; ${await logPanel()}`);
  }

  // waitColour screenshots the map until 30% of its pixels have the colour.
  async function waitColour(want, what) {
    const map = page.locator('#map');
    const deadline = Date.now() + 15000;
    for (;;) {
      const img = decodePNG(await map.screenshot());
      let total = 0, match = 0;
      for (let y = 0; y < img.height; y += 2) {
        for (let x = 0; x < img.width; x += 2) {
          total++;
          if (dist2(img.rgb(x, y), want) <= 12 * 12) match++;
        }
      }
      const frac = match / Math.max(total, 1);
      if (frac >= 0.3 || Date.now() > deadline) {
        check(`${what}: the map is rgb(${want})`, frac >= 0.3, `${(100 * frac).toFixed(1)}% of its pixels`);
        return;
      }
      await page.waitForTimeout(200);
    }
  }

  await page.goto(`${base}/workbench`);
  await page.waitForFunction(() => !!(window.workbench && window.workbench.editor &&
    window.workbench.map && window.workbench.map.loaded()), null, { timeout: 30000 });
  check('the page idles before a token', await page.evaluate(() => document.body.dataset.state) === 'idle');

  // The token, then Enter: the template in the editor runs.
  let before = await runs();
  await page.locator('#token').fill(token);
  await page.locator('#token').press('Enter');
  await waitRun(before, 'the template');

  // A new UDF, typed over the template.
  before = await runs();
  await page.locator('.cm-content').click();
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(udf);
  const typed = await page.evaluate(() => window.workbench.editor.state.doc.toString());
  check('the editor holds the typed UDF', typed === udf, typed === udf ? '' : JSON.stringify(typed));
  await waitRun(before, 'the typed UDF');
  await waitColour([200, 40, 90], 'the typed UDF');

  // Its default changed in the code: red 200 → 20.
  before = await runs();
  const found = await page.evaluate((old) => {
    const v = window.workbench.editor;
    const i = v.state.doc.toString().indexOf(old);
    if (i >= 0) {
      v.focus();
      v.dispatch({ selection: { anchor: i, head: i + old.length } });
    }
    return i >= 0;
  }, 'red: int = 200');
  check('the editor holds the default', found);
  await page.keyboard.insertText('red: int = 20');
  await waitRun(before, 'the UDF with red = 20');
  await waitColour([20, 40, 90], 'the new default');
  const red = await page.locator('#param-red').inputValue();
  check('the form shows the new default', red === '20', `red = ${red}`);

  // Saved under a new name.
  await page.locator('#udf-name').fill(name);
  await page.locator('#save').click();
  await page.waitForFunction(() => document.body.dataset.saved === '1', null, { timeout: 30000 });
  const saved = await fetch(`${base}/v1/udfs/${name}/code`, { headers: { Authorization: `Bearer ${token}` } });
  const code = await saved.text();
  check(`the catalog holds ${name}`, saved.status === 200 && code === edited, `${saved.status} ${JSON.stringify(code.slice(0, 200))}`);

  // Shared: a token and its XYZ URL.
  await page.locator('#share').click();
  await page.locator('#share-create').click();
  await page.waitForFunction(() => document.getElementById('share-xyz').value.includes('/realtime-shared/fsh_'), null, { timeout: 30000 });
  const xyz = await page.locator('#share-xyz').inputValue();
  check('the shared XYZ URL', xyz.startsWith(`${base}/server/v1/realtime-shared/fsh_`) && xyz.includes('/run/tiles/{z}/{x}/{y}'), xyz);

  // The shared URL, fetched from here with no token, draws the saved colour.
  const tileURL = xyz.replace('{z}', '3').replace('{x}', '4').replace('{y}', '2');
  const resp = await fetch(tileURL);
  const body = Buffer.from(await resp.arrayBuffer());
  check('the shared tile answers with no token', resp.status === 200 && resp.headers.get('content-type') === 'image/png',
    `${resp.status} ${resp.headers.get('content-type')} ${body.toString('utf8', 0, 200)}`);
  const tile = decodePNG(body);
  const px = tile.rgb(128, 128);
  check('the shared tile is rgb(20,40,90)', dist2(px, [20, 40, 90]) <= 4, `pixel rgb(${px})`);

  // The private tile route is closed to the same anonymous request.
  const closed = await fetch(`${base}/v1/udfs/${name}/tiles/3/4/2.png`);
  check('the saved UDF is private without the share token', closed.status === 401 || closed.status === 403, `${closed.status}`);
  return xyz;
}

let browser, ok = false, failure = '', shared = '';
const problems = [];
try {
  if (!base || !token) throw new Error('set UDFTILES_URL and UDFTILES_EDITOR_TOKEN');
  // A launch without a user-data dir runs on a new temporary profile.
  browser = await chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.setDefaultTimeout(30000);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  shared = await main(page);
  check('no script errors on the page', problems.every((p) => !p.startsWith('page error')), problems.join('; '));
  ok = true;
} catch (e) {
  failure = String(e && e.stack || e);
} finally {
  if (browser) await browser.close().catch(() => {});
}
process.stdout.write(JSON.stringify({ ok, ms: Date.now() - started, shared, checks, ...(failure ? { failure, console: problems } : {}) }, null, 2) + '\n');
process.exitCode = ok ? 0 : 1;
