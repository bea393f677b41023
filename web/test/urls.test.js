import { test } from 'node:test';
import assert from 'node:assert/strict';

// urls.js reads the page's location when called.
globalThis.location = new URL('http://maps.example:8080/map/elevation');

const { absolute, encodeValue, withQuery, tileTemplate, tileUrl, runUrl, qgisUri, requestedName } = await import('../src/urls.js');

const layer = { name: 'cities table', tiles: '/v1/udfs/cities%20table/tiles/{z}/{x}/{y}', tilejson: '/v1/udfs/cities%20table/tilejson.json', minzoom: 0, maxzoom: 14 };

test('absolute keeps the tile placeholders', () => {
  assert.equal(absolute('/v1/udfs/a/tiles/{z}/{x}/{y}'), 'http://maps.example:8080/v1/udfs/a/tiles/{z}/{x}/{y}');
  assert.equal(absolute('v1/x'), 'http://maps.example:8080/v1/x');
  assert.equal(absolute('//cdn.example/t'), 'http://cdn.example/t');
  assert.equal(absolute('https://other.example/t/{z}'), 'https://other.example/t/{z}');
  assert.equal(absolute(''), '');
});

test('values stay readable, braces stay escaped', () => {
  assert.equal(encodeValue('0,100'), '0,100');
  assert.equal(encodeValue('a b/c:d'), 'a%20b/c:d');
  assert.equal(encodeValue('{z}'), '%7Bz%7D');
  assert.equal(withQuery('/t', []), '/t');
  assert.equal(withQuery('/t?x=1', [['rescale', '0,1']]), '/t?x=1&rescale=0,1');
});

test('layer URLs carry the form', () => {
  const q = [['n', '5'], ['label', 'hi there']];
  const t = tileTemplate(layer, q);
  assert.equal(t, 'http://maps.example:8080/v1/udfs/cities%20table/tiles/{z}/{x}/{y}?n=5&label=hi%20there');
  assert.equal(tileUrl(t, { z: 3, x: 4, y: 2 }), 'http://maps.example:8080/v1/udfs/cities%20table/tiles/3/4/2?n=5&label=hi%20there');
  assert.equal(qgisUri(layer, []), `type=xyz&url=${encodeURIComponent('http://maps.example:8080/v1/udfs/cities%20table/tiles/{z}/{x}/{y}')}&zmin=0&zmax=14`);
});

test('runs ask for the view, and GeoJSON of vector-tile layers', () => {
  assert.equal(runUrl(layer, [-10, -5.5, 10, 5.5], [['n', '5']]),
    'http://maps.example:8080/v1/udfs/cities%20table/run?bounds=-10,-5.5,10,5.5&n=5');
  assert.equal(runUrl({ ...layer, name: 'c', default_format: 'MVT' }, [0, 0, 1, 1], []),
    'http://maps.example:8080/v1/udfs/c/run?bounds=0,0,1,1&format=geojson');
  // A layer that takes no bounds is not sent the view's.
  assert.equal(runUrl({ ...layer, name: 'd', takes_bounds: false }, [0, 0, 1, 1], [['n', '5']]),
    'http://maps.example:8080/v1/udfs/d/run?n=5');
});

test('the page URL names the layer', () => {
  assert.equal(requestedName(), 'elevation');
  globalThis.location = new URL('http://maps.example:8080/map/a%20b');
  assert.equal(requestedName(), 'a b');
  globalThis.location = new URL('http://maps.example:8080/#layer=rgb');
  assert.equal(requestedName(), 'rgb');
  globalThis.location = new URL('http://maps.example:8080/');
  assert.equal(requestedName(), null);
});
