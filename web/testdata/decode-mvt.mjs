// Decodes a vector tile with @mapbox/vector-tile (the decoder of Mapbox GL,
// deck.gl and others) and prints its layers as JSON: used by clients_test.go.
//   node decode-mvt.mjs TILE.pbf Z X Y
import { readFileSync } from 'node:fs';
import { VectorTile } from '@mapbox/vector-tile';
import Protobuf from 'pbf';

const [, , file, z, x, y] = process.argv;
const tile = new VectorTile(new Protobuf(readFileSync(file)));
const out = {};
for (const [name, layer] of Object.entries(tile.layers)) {
  const features = [];
  for (let i = 0; i < layer.length; i++) {
    const f = layer.feature(i);
    const g = f.toGeoJSON(Number(x), Number(y), Number(z)).geometry;
    let c = g.coordinates;
    while (Array.isArray(c[0])) c = c[0];
    features.push({ type: g.type, properties: f.properties, first: c });
  }
  out[name] = { extent: layer.extent, version: layer.version, features };
}
console.log(JSON.stringify(out));
