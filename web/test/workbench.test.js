import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';

import { errorLine, failingLine, frames, unquoteGo } from '../src/workbench/traceback.js';
import { coerce, defaultText, formParams, keepTexts, paramPairs, pyLiteral, queryValue } from '../src/workbench/params.js';
import { originOf, shareSnippets, withExtension, withQuery } from '../src/workbench/snippets.js';
import { TEMPLATES } from '../src/workbench/templates.js';

// ---- tracebacks -------------------------------------------------------------

const raised = `Traceback (most recent call last):
  File "/var/cache/udftiles/drafts/draft_3f2a.py", line 12, in udf
    return helper(bounds)
  File "/var/cache/udftiles/drafts/draft_3f2a.py", line 7, in helper
    return np.zeros(shape) / missing
  File "/usr/lib/python3/dist-packages/numpy/core/numeric.py", line 204, in zeros
    raise ValueError("bad shape")
ValueError: bad shape`;

test('the failing line is the last frame in the UDF’s file, not the library’s', () => {
  assert.equal(frames(raised).length, 3);
  assert.equal(failingLine(raised), 7);
  assert.equal(failingLine(raised, 'draft_3f2a'), 7);
});

test('a SyntaxError points at the line it could not read', () => {
  const tb = `Traceback (most recent call last):
  File "<frozen importlib._bootstrap_external>", line 936, in exec_module
  File "<frozen importlib._bootstrap_external>", line 1074, in get_code
  File "/tmp/drafts/draft_ab12.py", line 5
    def udf(:
            ^
SyntaxError: invalid syntax`;
  assert.equal(failingLine(tb), 5);
  assert.equal(failingLine(tb, 'draft_ab12'), 5);
});

test('a SyntaxError with no traceback header still has its line', () => {
  assert.equal(failingLine('  File "udf.py", line 3\n    x = (\n        ^\nSyntaxError: \'(\' was never closed'), 3);
});

test('chained tracebacks: the last one into the user’s code wins', () => {
  const tb = `Traceback (most recent call last):
  File "/srv/udf.py", line 4, in udf
    d["k"]
KeyError: 'k'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/srv/udf.py", line 6, in udf
    raise RuntimeError("no k")
RuntimeError: no k`;
  assert.equal(failingLine(tb), 6);
});

test('a hint picks the UDF’s file among the user’s', () => {
  const tb = `Traceback (most recent call last):
  File "/srv/utils.py", line 2, in run
    return f()
  File "/srv/draft_99.py", line 9, in f
    1/0
ZeroDivisionError: division by zero`;
  assert.equal(failingLine(tb), 2);
  assert.equal(failingLine(tb, 'draft_99'), 9);
  assert.equal(failingLine(tb, /\/draft_|\/_check\//), 9);
  assert.equal(failingLine(tb, 'no-such-file'), 2);
});

test('no frame, no line', () => {
  assert.equal(failingLine('ValueError: nope'), null);
  assert.equal(failingLine(''), null);
  assert.equal(failingLine(undefined), null);
  assert.equal(failingLine('  File "/usr/lib/python3.11/json/__init__.py", line 3, in loads\n'), null);
});

test('errorLine prefers the server’s line, then the error, then the logs', () => {
  assert.equal(errorLine({ error: raised, line: 2 }), 2);
  assert.equal(errorLine({ error: raised }), 7);
  assert.equal(errorLine({ error: 'the UDF raised', logs: raised }), 7);
  assert.equal(errorLine({ error: 'timeout' }), null);
  assert.equal(errorLine(null), null);
});

test('X-UDF-Logs is unquoted as Go quoted it', () => {
  assert.equal(unquoteGo('"hello\\nworld"'), 'hello\nworld');
  assert.equal(unquoteGo('"tab\\tq\\"uote\\\\ back"'), 'tab\tq"uote\\ back');
  assert.equal(unquoteGo('"\\u2026 caf\\u00e9 \\U0001f600"'), '… café 😀');
  assert.equal(unquoteGo('"bell\\a\\x01\\xff"'), 'bell\x07\x01\uFFFD');
  assert.equal(unquoteGo('not quoted'), 'not quoted');
  assert.equal(unquoteGo(''), '');
  assert.equal(unquoteGo(null), '');
});

// ---- parameters -------------------------------------------------------------

const schema = {
  parameters: [
    { name: 'bounds', type: 'str' },
    { name: 'x', type: 'int', description: 'the tile\'s x' },
    { name: 'scale', type: 'float', default: 1 },
    { name: 'n', type: 'int', default: 3 },
    { name: 'on', type: 'bool', default: false },
    { name: 'bands', type: 'list[int]', default: [1, 2] },
    { name: 'tags', type: 'list' },
    { name: 'opts', type: 'dict', default: { a: 1 } },
    { name: 'mode', type: 'str', default: 'a', enum: ['a', 'b'] },
    { name: 'label', type: 'str', required: true },
  ],
};

test('the form leaves out what the tile fills', () => {
  assert.deepEqual(formParams(schema).map((p) => p.name), ['scale', 'n', 'on', 'bands', 'tags', 'opts', 'mode', 'label']);
  assert.deepEqual(formParams(null), []);
});

test('default texts', () => {
  const p = Object.fromEntries(schema.parameters.map((q) => [q.name, q]));
  assert.equal(defaultText(p.scale), '1');
  assert.equal(defaultText(p.bands), '1,2');
  assert.equal(defaultText(p.opts), '{"a":1}');
  assert.equal(defaultText(p.tags), '');
  assert.equal(defaultText(p.on), 'false');
});

test('values are coerced to their types', () => {
  assert.deepEqual(coerce({ type: 'int' }, ' 42 '), { value: 42 });
  assert.deepEqual(coerce({ type: 'int' }, '4.2'), { error: 'an integer' });
  assert.deepEqual(coerce({ type: 'float' }, '2.5e-1'), { value: 0.25 });
  assert.deepEqual(coerce({ type: 'float' }, '.5'), { value: 0.5 });
  assert.deepEqual(coerce({ type: 'float' }, 'abc'), { error: 'a number' });
  assert.deepEqual(coerce({ type: 'float' }, 'Infinity'), { error: 'a number' });
  assert.deepEqual(coerce({ type: 'bool' }, 'True'), { value: true });
  assert.deepEqual(coerce({ type: 'bool' }, 'off'), { value: false });
  assert.deepEqual(coerce({ type: 'bool' }, 'maybe'), { error: 'true or false' });
  assert.deepEqual(coerce({ type: 'list[int]' }, '1, 2,3'), { value: [1, 2, 3] });
  assert.deepEqual(coerce({ type: 'list[int]' }, '[4,5]'), { value: [4, 5] });
  assert.deepEqual(coerce({ type: 'list[int]' }, '1,2.5'), { error: 'comma-separated integers' });
  assert.deepEqual(coerce({ type: 'list[float]' }, '1,2.5'), { value: [1, 2.5] });
  assert.deepEqual(coerce({ type: 'list' }, 'a, b'), { value: ['a', 'b'] });
  assert.deepEqual(coerce({ type: 'list' }, '["a,b", 1]'), { value: ['a,b', 1] });
  assert.deepEqual(coerce({ type: 'list' }, '[oops'), { error: 'a JSON list or a,b,c' });
  assert.deepEqual(coerce({ type: 'dict' }, '{"k": [1]}'), { value: { k: [1] } });
  assert.deepEqual(coerce({ type: 'dict' }, '[1]'), { error: 'a JSON object' });
  assert.deepEqual(coerce({ type: 'geometry' }, 'POINT (1 2)'), { value: 'POINT (1 2)' });
  assert.deepEqual(coerce({ type: 'geometry' }, '{"type": "Point", "coordinates": [1, 2]}'), { value: { type: 'Point', coordinates: [1, 2] } });
  assert.deepEqual(coerce({ type: 'str' }, ' hi '), { value: 'hi' });
  assert.deepEqual(coerce({ type: 'str', enum: ['a', 'b'] }, 'c'), { error: 'one of a, b' });
  assert.deepEqual(coerce({ type: 'int' }, ''), { value: undefined });
  assert.deepEqual(coerce({ type: 'str', required: true }, ' '), { error: 'required' });
});

test('query values', () => {
  assert.equal(queryValue({ type: 'list[int]' }, [1, 2]), '1,2');
  assert.equal(queryValue({ type: 'list' }, ['a', 'b']), 'a,b');
  assert.equal(queryValue({ type: 'list' }, ['a,b', 1]), '["a,b",1]');
  assert.equal(queryValue({ type: 'dict' }, { a: 1 }), '{"a":1}');
  assert.equal(queryValue({ type: 'bool' }, true), 'true');
  assert.equal(queryValue({ type: 'float' }, 0.25), '0.25');
});

test('the form’s query has the values that differ from the defaults', () => {
  const params = formParams(schema);
  const { pairs, errors } = paramPairs(params, { scale: '2', n: '3', on: 'true', bands: '3,2,1', mode: 'b', label: 'hi', opts: '{"a":1}' });
  assert.deepEqual(pairs, [['scale', '2'], ['on', 'true'], ['bands', '3,2,1'], ['mode', 'b'], ['label', 'hi']]);
  assert.deepEqual(errors, {});
  const bad = paramPairs(params, { n: 'x', scale: '' });
  assert.deepEqual(bad.pairs, []);
  assert.deepEqual(bad.errors, { n: 'an integer', label: 'required' });
});

test('edited values survive a new schema of the same names and types', () => {
  const before = [{ name: 'a', type: 'int' }, { name: 'b', type: 'str' }, { name: 'c', type: 'str' }];
  const after = [{ name: 'a', type: 'int' }, { name: 'b', type: 'float' }, { name: 'd', type: 'str' }];
  assert.deepEqual(keepTexts(before, after, { a: '5', b: 'x', c: 'y' }), { a: '5' });
});

test('Python literals', () => {
  assert.equal(pyLiteral(true), 'True');
  assert.equal(pyLiteral(null), 'None');
  assert.equal(pyLiteral(2.5), '2.5');
  assert.equal(pyLiteral('a"b'), '"a\\"b"');
  assert.equal(pyLiteral([1, false, 'x']), '[1, False, "x"]');
  assert.equal(pyLiteral({ k: [null] }), '{"k": [None]}');
});

// ---- share snippets ---------------------------------------------------------

const urls = {
  tiles: 'https://tiles.example:8443/server/v1/realtime-shared/fsh_abc/run/tiles/{z}/{x}/{y}',
  tilejson: 'https://tiles.example:8443/server/v1/realtime-shared/fsh_abc/run/tilejson.json',
  file: 'https://tiles.example:8443/server/v1/realtime-shared/fsh_abc/run/file',
};

test('URL helpers', () => {
  assert.equal(withQuery('/t', [['a', '1,2'], ['b', 'x y']]), '/t?a=1,2&b=x%20y');
  assert.equal(withQuery('/t?f=1', [['a', '{z}']]), '/t?f=1&a=%7Bz%7D');
  assert.equal(withExtension('/t/{z}/{x}/{y}?a=1', 'mvt'), '/t/{z}/{x}/{y}.mvt?a=1');
  assert.equal(withExtension('/t/{z}/{x}/{y}.png', 'mvt'), '/t/{z}/{x}/{y}.png');
  assert.equal(originOf(urls.tiles), 'https://tiles.example:8443');
  assert.equal(originOf('/relative'), '');
});

test('raster snippets', () => {
  const s = shareSnippets({ name: 'my udf', token: 'fsh_abc', urls, pairs: [['scale', '2']], values: { scale: 2 }, kind: 'raster', minzoom: 0, maxzoom: 18 });
  assert.equal(s.xyz, urls.tiles + '?scale=2');
  assert.equal(s.file, urls.file + '?scale=2');
  assert.equal(s.tilejson, urls.tilejson + '?scale=2');
  assert.match(s.maplibre, /type: 'raster'/);
  assert.ok(s.maplibre.includes(JSON.stringify(s.xyz)));
  assert.ok(s.maplibre.includes('"my_udf"'));
  assert.equal(s.qgisUri, `type=xyz&url=${encodeURIComponent(s.xyz)}&zmin=0&zmax=18`);
  assert.ok(s.qgis.includes('iface.addRasterLayer(uri, "my udf", "wms")'));
  assert.ok(s.fused.includes('fused.run("fsh_abc", scale=2)'));
  assert.ok(s.fused.includes('os.environ.setdefault("UDFTILES_URL", "https://tiles.example:8443")'));
});

test('vector snippets ask for MVT', () => {
  const s = shareSnippets({ name: 'countries', token: 'fsh_abc', urls, kind: 'vector' });
  assert.equal(s.xyz, urls.tiles + '.mvt');
  assert.equal(s.tilejson, urls.tilejson);
  assert.match(s.maplibre, /type: 'vector'/);
  assert.match(s.maplibre, /'source-layer': 'udf'/);
  assert.ok(s.qgis.includes('iface.addVectorTileLayer'));
  assert.ok(s.fused.includes('fused.run("fsh_abc")'));
});

test('without a TileJSON URL there is no TileJSON snippet', () => {
  assert.equal(shareSnippets({ name: 'x', token: 'fsh_abc', urls: { tiles: urls.tiles } }).tilejson, '');
});

test('the map page links the Workbench, and the Workbench page has a TileJSON field', () => {
  const index = readFileSync(new URL('../static/index.html', import.meta.url), 'utf8');
  assert.match(index, /<a [^>]*href="\/workbench"/);
  const workbench = readFileSync(new URL('../static/workbench.html', import.meta.url), 'utf8');
  assert.match(workbench, /<textarea id="share-tilejson"/);
});

test('every template is a @fused.udf', () => {
  for (const [kind, t] of Object.entries(TEMPLATES)) {
    assert.match(t.code, /@fused\.udf\ndef udf\(/, kind);
    assert.match(t.name, /^[a-z_]+$/, kind);
  }
});
