import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cellText, clipText, isRecords, lastLine, prettyJSON, MAX_TEXT } from '../src/format.js';
import { kindFromFormat, kindFromType, kindTag } from '../src/kinds.js';

test('prettyJSON keeps short lists on one line', () => {
  assert.equal(prettyJSON({ label: 'hello', answer: 42, bounds: [1, 2, 3, 4] }),
    '{\n  "label": "hello",\n  "answer": 42,\n  "bounds": [1, 2, 3, 4]\n}');
  assert.equal(prettyJSON([]), '[]');
  assert.equal(prettyJSON(7), '7');
});

test('results helpers', () => {
  assert.ok(isRecords([{ a: 1 }, { b: 2 }]));
  assert.ok(!isRecords([]) && !isRecords([[1]]) && !isRecords([{ a: 1 }, null]));
  assert.equal(cellText(null), '');
  assert.equal(cellText({ a: 1 }), '{"a":1}');
  assert.equal(clipText('x'.repeat(MAX_TEXT + 5)).length, MAX_TEXT + 2);
  assert.equal(lastLine('Traceback:\n  line\nValueError: no\n\n'), 'ValueError: no');
});

test('kinds', () => {
  assert.equal(kindFromFormat({ default_format: 'MVT' }), 'vector');
  assert.equal(kindFromFormat({ default_format: 'png' }), 'raster');
  assert.equal(kindFromFormat({}), null);
  assert.equal(kindFromType('application/geo+json'), 'vector');
  assert.equal(kindFromType('application/json; charset=utf-8'), 'json');
  assert.equal(kindFromType('text/html; charset=utf-8'), 'html');
  assert.equal(kindFromType('image/png'), 'raster');
  assert.equal(kindFromType(''), 'text');
  assert.equal(kindTag('vector', 'vector'), '');
  assert.equal(kindTag('json', 'python'), 'JSON');
});
