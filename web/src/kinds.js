// The kinds of output a layer has, and how the page learns them. Pure.

export const KIND_LABEL = { raster: 'raster', vector: 'vector', json: 'JSON', table: 'table', html: 'HTML', text: 'text' };

// kindTag is the list's label of a layer's kind, left out when the handler's
// name says it already (a vector layer of the vector handler).
export function kindTag(kind, handler) {
  const label = KIND_LABEL[kind] || '';
  return label === handler ? '' : label;
}

// kindFromFormat is the kind a layer's fixed default format gives, or null
// when the result picks its own format and a probe must tell.
export function kindFromFormat(layer) {
  const f = String(layer.default_format || '').toLowerCase();
  if (!f) return null;
  // Vector tiles are drawn from file mode's GeoJSON of the view, so that styling
  // by a property and clicking a feature work the same for every vector layer.
  if (f === 'geojson' || f === 'mvt' || f === 'pbf') return 'vector';
  if (f === 'json') return 'json';
  if (f === 'html') return 'html';
  return 'raster';
}

export function kindFromType(contentType) {
  const ct = String(contentType || '').toLowerCase();
  if (ct.startsWith('image/')) return 'raster';
  if (ct.includes('geo+json')) return 'vector';
  if (ct.includes('json')) return 'json';
  if (ct.startsWith('text/html')) return 'html';
  return 'text';
}
