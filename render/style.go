// Package render encodes results: rasters to png, jpg, webp (through colour) and
// to tif and npy (raw values); values to their own bytes.
package render

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/udftiles/udftiles/colormap"
	"github.com/udftiles/udftiles/layer"
)

// Style says how raster values become colours.
type Style struct {
	Colormap *colormap.Map // nil: grey for one band, RGB(A) for 3 or 4
	// Rescale maps [min, max] to 0..255 per band; one pair applies to every band.
	// Empty: uint8 is taken as is, other types stretch the tile's min–max.
	Rescale [][2]float64
	key     string
}

// StyleParams are the query parameters ParseStyle reads; they are part of every cache key.
var StyleParams = []string{"colormap", "colormap_name", "rescale"}

// ParseStyle reads colormap= (a name or custom JSON), colormap_name= and rescale=
// (min,max, repeated once per band). Values in q take precedence over defaults.
func ParseStyle(q, defaults url.Values) (Style, error) {
	get := func(k string) []string {
		if v, ok := q[k]; ok && len(v) > 0 {
			return v
		}
		return defaults[k]
	}
	var st Style
	// colormap and colormap_name are one setting: either in the query overrides
	// either in the defaults; within one source, colormap wins.
	cm := ""
	for _, src := range []url.Values{defaults, q} {
		if v := src["colormap_name"]; len(v) > 0 {
			cm = v[len(v)-1]
		}
		if v := src["colormap"]; len(v) > 0 {
			cm = v[len(v)-1]
		}
	}
	if cm != "" {
		m, err := colormap.Parse(cm)
		if err != nil {
			return st, layer.Errorf(layer.BadRequest, "parameter colormap: %v", err)
		}
		st.Colormap = m
		st.key = cm
	}
	for _, v := range get("rescale") {
		parts := strings.Split(v, ",")
		if len(parts) != 2 {
			return st, layer.Errorf(layer.BadRequest, "parameter rescale: want min,max (repeat rescale= once per band), got %q", v)
		}
		lo, err1 := strconv.ParseFloat(strings.TrimSpace(parts[0]), 64)
		hi, err2 := strconv.ParseFloat(strings.TrimSpace(parts[1]), 64)
		if err1 != nil || err2 != nil || !(lo < hi) {
			return st, layer.Errorf(layer.BadRequest, "parameter rescale: want min,max numbers with min < max, got %q", v)
		}
		st.Rescale = append(st.Rescale, [2]float64{lo, hi})
	}
	return st, nil
}

// Canonical renders the style as a stable string for cache keys.
func (s Style) Canonical() string {
	var b strings.Builder
	b.WriteString(s.key)
	for _, r := range s.Rescale {
		fmt.Fprintf(&b, "|%g,%g", r[0], r[1])
	}
	return b.String()
}
