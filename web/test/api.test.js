import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeUrl, featureCollection, httpError } from '../src/api.js';

test('httpError reads the server\'s error and the UDF\'s prints', () => {
  const err = httpError(500, JSON.stringify({ error: 'Traceback\nValueError: the UDF gave up', logs: 'printed\n' }), 'Run');
  assert.equal(err.status, 500);
  assert.equal(err.detail, 'Traceback\nValueError: the UDF gave up');
  assert.equal(err.logs, 'printed\n');
  assert.equal(err.message, 'Run: ValueError: the UDF gave up');
  assert.equal(httpError(502, 'bad gateway', 'Tile 1/2/3').detail, 'bad gateway');
  assert.equal(httpError(0, '', 'Run').detail, 'network error');
  assert.equal(httpError(404, '', 'Run').detail, 'HTTP 404');
});

test('describeUrl names requests', () => {
  assert.equal(describeUrl('http://h/v1/udfs/a/tiles/3/4/2.png?x=1'), 'Tile 3/4/2');
  assert.equal(describeUrl('http://h/v1/udfs/a/tilejson.json'), 'TileJSON');
  assert.equal(describeUrl('http://h/v1/udfs/a/run?bounds=1,2,3,4'), 'Run');
});

test('featureCollection takes a Feature as a collection', () => {
  const one = { type: 'Feature', geometry: null, properties: {} };
  assert.deepEqual(featureCollection(JSON.stringify(one), 'application/geo+json').features, [one]);
  assert.throws(() => featureCollection('{', 'text/plain'), /not JSON/);
  assert.throws(() => featureCollection('[1]', 'application/json'), (e) => e.detail.includes('not a GeoJSON FeatureCollection'));
});
