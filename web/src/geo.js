// Lon/lat arithmetic: a layer's bounds and zooms, the view's bounds as the
// server is asked for them, tiles as the server counts them. Pure.

export const MAX_LAT = 85.0511;

export function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }

export function zoomRange(layer) {
  const minZ = Number.isFinite(layer.minzoom) ? layer.minzoom : 0;
  const maxZ = Number.isFinite(layer.maxzoom) ? layer.maxzoom : 22;
  return [minZ, maxZ];
}

// sourceBounds is a layer's bounds as a MapLibre source takes them, or
// undefined when they are missing or unusable.
export function sourceBounds(layer) {
  const b = layer.bounds;
  if (!Array.isArray(b) || b.length !== 4 || !b.every(Number.isFinite) || b[0] >= b[2] || b[1] >= b[3]) return undefined;
  return [clamp(b[0], -180, 180), clamp(b[1], -90, 90), clamp(b[2], -180, 180), clamp(b[3], -90, 90)];
}

export function isWorld(b) {
  return Array.isArray(b) && b.length === 4 && b[2] - b[0] >= 359 && b[3] - b[1] >= 160;
}

// roundBounds is a view's extent as xmin,ymin,xmax,ymax within the valid
// lon/lat range, rounded outward to ~1% of the view so that small moves
// ask for the same bounds (and hit the server's cache).
export function roundBounds(w, s, e, n) {
  s = Math.max(s, -MAX_LAT);
  n = Math.min(n, MAX_LAT);
  if (e - w >= 360) {
    w = -180; e = 180;
  } else {
    const shift = Math.floor((w + 180) / 360) * 360;
    w -= shift; e -= shift;
    if (e > 180) { w = -180; e = 180; } // across the antimeridian: the whole band
  }
  const span = Math.max(e - w, n - s, 1e-6);
  const exp = Math.floor(Math.log10(span / 100));
  const step = Math.pow(10, exp);
  const digits = Math.max(0, -exp);
  const round = (v, f) => Number((f(v / step) * step).toFixed(digits));
  w = Math.max(-180, round(w, Math.floor));
  s = Math.max(-MAX_LAT, round(s, Math.floor));
  e = Math.min(180, round(e, Math.ceil));
  n = Math.min(MAX_LAT, round(n, Math.ceil));
  if (e <= w) e = Math.min(180, w + step);
  if (n <= s) n = Math.min(MAX_LAT, s + step);
  return [w, s, e, n];
}

// The tile at lon/lat, as the server counts tiles (web mercator, XYZ).
export function tileAt(lon, lat, z) {
  const n = 2 ** z;
  const rad = clamp(lat, -MAX_LAT, MAX_LAT) * Math.PI / 180;
  const x = Math.floor(((lon + 180) / 360) * n);
  const y = Math.floor(((1 - Math.log(Math.tan(rad) + 1 / Math.cos(rad)) / Math.PI) / 2) * n);
  return { z, x: clamp(x, 0, n - 1), y: clamp(y, 0, n - 1) };
}

// probePoint is where to probe a layer: lng/lat, or the centre of the
// layer's bounds when lng/lat is outside them.
export function probePoint(b, lng, lat) {
  if (Array.isArray(b) && b.length === 4 && b.every(Number.isFinite) && b[0] < b[2] &&
      !(lng >= b[0] && lng <= b[2] && lat >= b[1] && lat <= b[3])) {
    return [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2];
  }
  return [lng, lat];
}
