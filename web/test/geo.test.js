import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_LAT, probePoint, roundBounds, sourceBounds, tileAt } from '../src/geo.js';

test('tileAt counts XYZ tiles', () => {
  assert.deepEqual(tileAt(0, 0, 0), { z: 0, x: 0, y: 0 });
  assert.deepEqual(tileAt(13.4, 52.5, 3), { z: 3, x: 4, y: 2 }); // Berlin
  assert.deepEqual(tileAt(180, -90, 2), { z: 2, x: 3, y: 3 }); // clamped to the last tile
});

test('roundBounds rounds outward to ~1% of the view', () => {
  assert.deepEqual(roundBounds(-5.03, 40.07, 5.16, 50.14), [-5.1, 40, 5.2, 50.2]);
  // Small moves give the same bounds.
  assert.deepEqual(roundBounds(-5.031, 40.071, 5.161, 50.141), roundBounds(-5.039, 40.079, 5.169, 50.149));
});

test('roundBounds stays within lon/lat', () => {
  assert.deepEqual(roundBounds(-400, -89, 400, 89), [-180, -MAX_LAT, 180, MAX_LAT]);
  // A view across the antimeridian asks for the whole band.
  const [w, , e] = roundBounds(170, 0, 190, 10);
  assert.deepEqual([w, e], [-180, 180]);
  // A view one world to the east is shifted back.
  assert.deepEqual(roundBounds(362, 1, 364, 3), [2, 1, 4, 3]);
});

test('sourceBounds refuses unusable bounds', () => {
  assert.equal(sourceBounds({ bounds: [10, 0, 5, 1] }), undefined);
  assert.equal(sourceBounds({}), undefined);
  assert.deepEqual(sourceBounds({ bounds: [-200, -95, 200, 95] }), [-180, -90, 180, 90]);
});

test('probePoint moves into the layer', () => {
  assert.deepEqual(probePoint([10, 40, 20, 50], 15, 45), [15, 45]);
  assert.deepEqual(probePoint([10, 40, 20, 50], 0, 0), [15, 45]);
  assert.deepEqual(probePoint(undefined, 1, 2), [1, 2]);
});
