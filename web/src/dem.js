// DEM layers and their 3D terrain: whether a layer is a DEM (a single-band,
// non-uint8 COG, as its /info tells) and the Terrarium tile URL of the
// MapLibre raster-dem source that lifts the map. Pure; reads location when
// called (urls.js).

import { sourceBounds } from './geo.js';
import { absolute, withQuery } from './urls.js';

// The encoding the DEM source asks for and MapLibre decodes.
export const DEM_ENCODING = 'terrarium';
export const DEM_TILE_SIZE = 256;
export const DEFAULT_EXAGGERATION = 1.5;
export const TERRAIN_PITCH = 60;

// Query parameters that style or shape the drawn tiles, not the heights:
// the DEM source leaves them out (its own algorithm, 256-pixel PNG tiles).
const NOT_FOR_HEIGHTS = new Set([
  'bidx', 'colormap', 'colormap_name', 'rescale', 'color_formula', 'algorithm', 'algorithm_params',
  'tilesize', 'format', 'return_mask', 'max_size', 'width', 'height', 'dst_crs',
]);

// isDem is true for a COG layer whose file (info, from GET .../info) has one
// band of a type other than uint8: heights, not an image.
export function isDem(layer, info) {
  if (!layer || layer.handler !== 'cog' || layer.status === 'error') return false;
  if (!info || typeof info !== 'object') return false;
  const bands = Number.isInteger(info.count) ? info.count
    : (Array.isArray(info.band_metadata) ? info.band_metadata.length : 0);
  const dtype = String(info.dtype || (info.band_metadata && info.band_metadata[0] && info.band_metadata[0].dtype) || '').toLowerCase();
  return bands === 1 && dtype !== '' && dtype !== 'uint8';
}

// demPairs are the form's pairs that apply to heights, with the encoding.
export function demPairs(pairs) {
  const kept = (pairs || []).filter(([k]) => !NOT_FOR_HEIGHTS.has(k));
  return [...kept, ['algorithm', DEM_ENCODING]];
}

// demTilePath is the layer's tile template as PNG: {y} gets ".png", another
// extension becomes ".png"; its query string, if any, is kept.
function demTilePath(layer) {
  const t = layer.tiles || `/v1/udfs/${encodeURIComponent(layer.name)}/tiles/{z}/{x}/{y}`;
  const q = t.indexOf('?');
  const path = q < 0 ? t : t.slice(0, q);
  const query = q < 0 ? '' : t.slice(q);
  return path.replace(/\{y\}(\.[A-Za-z0-9]+)?$/, '{y}.png') + query;
}

// demTiles is the absolute Terrarium tile template of the layer with the
// form's pairs that apply to heights.
export function demTiles(layer, pairs) {
  return withQuery(absolute(demTilePath(layer)), demPairs(pairs));
}

// demSource is the MapLibre raster-dem source of the layer.
export function demSource(layer, pairs) {
  const source = { type: 'raster-dem', tiles: [demTiles(layer, pairs)], tileSize: DEM_TILE_SIZE, encoding: DEM_ENCODING };
  if (Number.isFinite(layer.minzoom)) source.minzoom = layer.minzoom;
  if (Number.isFinite(layer.maxzoom)) source.maxzoom = layer.maxzoom;
  // Tiles outside the layer answer 404: MapLibre asks only for those within.
  const bounds = sourceBounds(layer);
  if (bounds) source.bounds = bounds;
  return source;
}

// terrariumHeight decodes one Terrarium pixel, in metres.
export function terrariumHeight(r, g, b) {
  return r * 256 + g + b / 256 - 32768;
}
