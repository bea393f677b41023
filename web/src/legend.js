// The Style group of a vector layer: the features drawn, the property they
// are coloured by (the "Colour by" select), the legend and the feature count.

import { colorExpression, propertiesOf, VIRIDIS } from './style.js';
import { formatNumber, plural } from './format.js';

const group = document.getElementById('vector-style');
const colorBySelect = document.getElementById('color-by');
const legendEl = document.getElementById('legend');
const summary = document.getElementById('vector-summary');

let features = []; // of the FeatureCollection drawn
let props = [];    // [{name, numeric}] of those features
let colorBy = '';  // the property chosen, or '' for one colour

// forgetFeatures drops the last layer's features; the select keeps its
// options until new features come.
export function forgetFeatures() {
  features = [];
  props = [];
  colorBy = '';
}

// clearStyle hides the group, for a newly selected layer.
export function clearStyle() {
  group.hidden = true;
  summary.textContent = '';
  legendEl.hidden = true;
}

export function showStyleGroup(on) {
  group.hidden = !on;
}

// setFeatures takes the features drawn and offers their properties, keeping
// the chosen one when they still have it.
export function setFeatures(all) {
  features = all;
  props = propertiesOf(all);
  const keep = colorBy;
  colorBySelect.replaceChildren(new Option('None', ''));
  for (const p of props) {
    colorBySelect.append(new Option(`${p.name} (${p.numeric ? 'number' : 'category'})`, p.name));
  }
  colorBy = props.some((p) => p.name === keep) ? keep : '';
  colorBySelect.value = colorBy;
  colorBySelect.disabled = props.length === 0;
  summary.textContent = plural(all.length, 'feature', 'features');
}

// colors is the MapLibre colour expression of the features and whether it
// goes by a property.
export function colors() {
  const { expr, legend } = colorExpression(props, features, colorBy);
  return { expr, legend, byProperty: Boolean(colorBy) };
}

// onColorBy calls change after another property was chosen.
export function onColorBy(change) {
  colorBySelect.addEventListener('change', () => {
    colorBy = colorBySelect.value;
    change();
  });
}

export function renderLegend(legend) {
  legendEl.replaceChildren();
  legendEl.hidden = !legend;
  if (!legend) return;
  if (legend.kind === 'ramp') {
    const bar = document.createElement('div');
    bar.className = 'legend-ramp';
    bar.style.background = `linear-gradient(to right, ${VIRIDIS.join(', ')})`;
    bar.setAttribute('role', 'img');
    bar.setAttribute('aria-label', `viridis ramp from ${formatNumber(legend.lo)} to ${formatNumber(legend.hi)}, by quantile`);
    bar.title = 'viridis, spread over the values\' quantiles: the middle is the median';
    const labels = document.createElement('div');
    labels.className = 'legend-labels';
    for (const v of [legend.lo, legend.mid, legend.hi]) {
      if (v === undefined) continue;
      const s = document.createElement('span');
      s.textContent = formatNumber(v);
      labels.append(s);
    }
    legendEl.append(bar, labels);
    return;
  }
  const ul = document.createElement('ul');
  ul.className = 'legend-items';
  for (const item of legend.items) {
    const li = document.createElement('li');
    const sw = document.createElement('span');
    sw.className = 'swatch';
    sw.style.background = item.color;
    const label = document.createElement('span');
    label.className = 'legend-label';
    label.textContent = item.label;
    label.title = item.label;
    li.append(sw, label);
    ul.append(li);
  }
  legendEl.append(ul);
}
