// Package colormap turns raster values into colours: matplotlib's named
// 256-entry lookup tables (applied to values rescaled to 0..255 by Rescale)
// and custom maps given as JSON (applied to raw values).
package colormap

//go:generate /usr/bin/python3 gen_tables.py

import (
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"sync"
)

// RGBA is one colour, non-premultiplied.
type RGBA = [4]uint8

// Map is a colormap: either a named 256-entry LUT (applied to values rescaled
// to 0..255) or a custom map applied to raw data values (discrete values
// and/or intervals). A Map is immutable and safe for concurrent use.
type Map struct {
	name string
	lut  [256]RGBA // named maps only

	// Custom maps only.
	custom bool
	exact  map[float64]RGBA
	ranges []interval // as given; the first match wins
	sorted []interval // ranges sorted by lo when none overlap, for binary search
	colors []RGBA     // every entry's colour, as given
}

// Names returns every valid colormap name, sorted, including each NAME_r.
func Names() []string {
	return strings.Fields(names)
}

// Lookup returns the named colormap; the name is case-insensitive.
func Lookup(name string) (*Map, error) {
	key := strings.ToLower(strings.TrimSpace(name))
	if m, ok := decoded.Load(key); ok {
		return m.(*Map), nil
	}
	canonical, digits, ok := lutHex(key)
	if !ok {
		return nil, fmt.Errorf("colormap: unknown name %q; valid names: %s",
			name, strings.Join(Names(), ", "))
	}
	rgb, err := hex.DecodeString(digits)
	if err != nil || len(rgb) != 3*256 {
		// Only a hand-edited tables.go can get here.
		return nil, fmt.Errorf("colormap: %s: corrupt generated table", canonical)
	}
	m := &Map{name: canonical}
	for i := range m.lut {
		m.lut[i] = RGBA{rgb[3*i], rgb[3*i+1], rgb[3*i+2], 255}
	}
	decoded.Store(key, m)
	return m, nil
}

// decoded memoizes named maps: they are immutable, and every tile request names one.
var decoded sync.Map

// Parse reads a colormap query parameter: JSON (starting with '{' or '[') is
// a custom map, anything else a name.
func Parse(s string) (*Map, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
		return ParseCustom(t)
	}
	return Lookup(t)
}

// Name returns the canonical name of a named map, or "custom".
func (m *Map) Name() string {
	return m.name
}

// Scaled reports whether the map takes 0..255 indices (named LUTs, see
// Rescale) rather than raw data values (custom maps).
func (m *Map) Scaled() bool {
	return !m.custom
}

// Index returns LUT entry i of a named map. For a custom map it returns
// Value(float64(i)), transparent when no entry matches, so byte bands of
// class ids work with either kind.
func (m *Map) Index(i uint8) RGBA {
	if m.Scaled() {
		return m.lut[i]
	}
	c, _ := m.Value(float64(i))
	return c
}

// Value returns the colour of raw value v in a custom map, and false when no
// entry matches (the pixel should be transparent). Exact values are matched
// before intervals; intervals include min and exclude max, and the first
// matching interval wins. For a named map v is a LUT index, rounded and
// clamped to 0..255; only NaN has no colour.
func (m *Map) Value(v float64) (RGBA, bool) {
	if v != v { // NaN never matches
		return RGBA{}, false
	}
	if m.Scaled() {
		return m.lut[uint8(math.Round(math.Max(0, math.Min(255, v))))], true
	}
	if len(m.exact) > 0 { // skips hashing for interval-only maps
		if c, ok := m.exact[v]; ok {
			return c, true
		}
	}
	if m.sorted != nil {
		return searchSorted(m.sorted, v)
	}
	for i := range m.ranges {
		if m.ranges[i].contains(v) {
			return m.ranges[i].color, true
		}
	}
	return RGBA{}, false
}

// Colors returns a named map's 256 entries, or a custom map's colours in the
// order given. The slice is a copy.
func (m *Map) Colors() []RGBA {
	if m.Scaled() {
		return append([]RGBA(nil), m.lut[:]...)
	}
	return append([]RGBA(nil), m.colors...)
}
