import { test } from 'node:test';
import assert from 'node:assert/strict';

// urls.js reads the page's location when called.
globalThis.location = new URL('http://maps.example:8080/map/elevation');

const { isDem, demPairs, demTiles, demSource, terrariumHeight, DEM_ENCODING } = await import('../src/dem.js');

const cog = { name: 'elevation', handler: 'cog', tiles: '/v1/udfs/elevation/tiles/{z}/{x}/{y}', minzoom: 5, maxzoom: 14,
  bounds: [13.41, 46.84, 14.23, 47.4] };

test('a single-band, non-uint8 COG is a DEM', () => {
  assert.equal(isDem(cog, { count: 1, dtype: 'float32' }), true);
  assert.equal(isDem(cog, { count: 1, dtype: 'int16' }), true);
  assert.equal(isDem(cog, { count: 1, dtype: 'uint8' }), false, 'a byte band is an image');
  assert.equal(isDem(cog, { count: 3, dtype: 'uint8' }), false);
  assert.equal(isDem(cog, { count: 2, dtype: 'float32' }), false);
  assert.equal(isDem(cog, { band_metadata: [{ name: 'b1', dtype: 'float64' }] }), true, 'from the band list alone');
  assert.equal(isDem(cog, null), false, 'no info: not known to be one');
  assert.equal(isDem(cog, { count: 1 }), false, 'no dtype: not known');
  assert.equal(isDem({ ...cog, handler: 'python' }, { count: 1, dtype: 'float32' }), false);
  assert.equal(isDem({ ...cog, status: 'error' }, { count: 1, dtype: 'float32' }), false);
  assert.equal(isDem(null, { count: 1, dtype: 'float32' }), false);
});

test('the DEM source keeps the parameters of heights and asks for Terrarium', () => {
  assert.deepEqual(demPairs([]), [['algorithm', 'terrarium']]);
  assert.deepEqual(demPairs([['colormap', 'viridis'], ['rescale', '0,100'], ['bidx', '1'], ['expression', 'b1*0.3048'],
    ['algorithm', 'hillshade'], ['algorithm_params', '{}'], ['resampling', 'nearest'], ['tilesize', '512']]),
  [['expression', 'b1*0.3048'], ['resampling', 'nearest'], ['algorithm', 'terrarium']]);
});

test('DEM tile URLs are PNG on the layer\'s tile path', () => {
  assert.equal(demTiles(cog, []), 'http://maps.example:8080/v1/udfs/elevation/tiles/{z}/{x}/{y}.png?algorithm=terrarium');
  assert.equal(demTiles(cog, [['colormap', 'plasma'], ['resampling', 'bilinear']]),
    'http://maps.example:8080/v1/udfs/elevation/tiles/{z}/{x}/{y}.png?resampling=bilinear&algorithm=terrarium');
  assert.equal(demTiles({ ...cog, tiles: 'https://tiles.example/v1/udfs/a%20b/tiles/{z}/{x}/{y}.webp?token=t' }, []),
    'https://tiles.example/v1/udfs/a%20b/tiles/{z}/{x}/{y}.png?token=t&algorithm=terrarium');
  assert.equal(demTiles({ name: 'a b', handler: 'cog' }, []),
    'http://maps.example:8080/v1/udfs/a%20b/tiles/{z}/{x}/{y}.png?algorithm=terrarium');
});

test('the raster-dem source', () => {
  assert.deepEqual(demSource(cog, [['colormap', 'plasma']]), {
    type: 'raster-dem',
    tiles: ['http://maps.example:8080/v1/udfs/elevation/tiles/{z}/{x}/{y}.png?algorithm=terrarium'],
    tileSize: 256,
    encoding: DEM_ENCODING,
    minzoom: 5,
    maxzoom: 14,
    bounds: [13.41, 46.84, 14.23, 47.4],
  });
  assert.equal(demSource({ name: 'w', handler: 'cog' }, []).bounds, undefined, 'no bounds: the whole world');
  assert.equal(DEM_ENCODING, 'terrarium');
});

test('Terrarium pixels decode to metres', () => {
  assert.equal(terrariumHeight(128, 0, 0), 0);
  assert.equal(terrariumHeight(0, 0, 0), -32768);
  assert.equal(terrariumHeight(133, 220, 128), 1500.5);
});
