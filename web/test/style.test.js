import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CATEGORICAL, OTHER, SINGLE, VIRIDIS, colorExpression, propertiesOf } from '../src/style.js';

const f = (properties) => ({ type: 'Feature', geometry: null, properties });

test('propertiesOf tells numbers from categories', () => {
  const props = propertiesOf([f({ pop: 10, name: 'a', tags: null }), f({ pop: 20, name: 'b', extra: { x: 1 } }), f({ pop: 'n/a' })]);
  assert.deepEqual(props.map((p) => [p.name, p.numeric]), [['pop', false], ['name', false]]);
  assert.deepEqual(propertiesOf([f({ pop: 1 }), f({ pop: null })]).map((p) => p.numeric), [true]);
});

test('no property: one colour', () => {
  assert.deepEqual(colorExpression([], [], ''), { expr: SINGLE, legend: null });
});

test('numbers: viridis at quantiles', () => {
  const features = [1, 2, 3, 4, 5, 6, 7, 8, 100].map((v) => f({ v }));
  const { expr, legend } = colorExpression(propertiesOf(features), features, 'v');
  assert.equal(expr[0], 'case');
  assert.equal(expr[3], OTHER);
  const ramp = expr[2];
  assert.equal(ramp[0], 'interpolate');
  assert.deepEqual(ramp.slice(3, 7), [1, VIRIDIS[0], 2, VIRIDIS[1]]);
  assert.deepEqual(ramp.slice(-2), [100, VIRIDIS[8]]);
  assert.deepEqual(legend, { kind: 'ramp', lo: 1, hi: 100, mid: 5 });
});

test('categories: the ten most common, the rest OTHER', () => {
  const features = [];
  for (let i = 0; i < 12; i++) for (let n = 0; n <= i; n++) features.push(f({ k: `c${i}` }));
  const { expr, legend } = colorExpression(propertiesOf(features), features, 'k');
  assert.deepEqual(expr.slice(0, 4), ['match', ['to-string', ['get', 'k']], 'c11', CATEGORICAL[0]]);
  assert.equal(expr[expr.length - 1], OTHER);
  assert.equal(legend.items.length, 11);
  assert.deepEqual(legend.items[10], { label: '2 other values', color: OTHER });
});
