package colormap

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	// maxEntries bounds a custom map: it arrives in a URL and is searched per pixel.
	maxEntries = 1024
	// maxJSONBytes rejects oversized input before any parsing.
	maxJSONBytes = 64 << 10
	// minSortedRanges is where binary search starts to beat a linear scan.
	minSortedRanges = 8
)

// interval is one [lo, hi) range of a custom map.
type interval struct {
	lo, hi float64
	color  RGBA
}

// contains reports lo <= v < hi; an open upper end (+Inf, from null) also takes +Inf.
func (r *interval) contains(v float64) bool {
	return v >= r.lo && (v < r.hi || math.IsInf(r.hi, 1))
}

// ParseCustom reads a custom colormap from JSON, in either form:
//
//	{"0": "#000000", "1": [255,0,0], "11": "#4466aaff"}     exact values
//	[[[0, 100], "#00ff00"], [[100, 500], [255,255,0,255]]]   [min, max) intervals
//
// In the array form an entry may also be [value, colour] for an exact value,
// and an interval end may be null for "unbounded". Colours are "#rgb",
// "#rgba", "#rrggbb", "#rrggbbaa", [r,g,b] or [r,g,b,a] with integers 0..255.
// At most 1024 entries.
func ParseCustom(js string) (*Map, error) {
	if len(js) > maxJSONBytes {
		return nil, fmt.Errorf("colormap: custom map is %d bytes, at most %d allowed", len(js), maxJSONBytes)
	}
	dec := json.NewDecoder(strings.NewReader(js))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxError(dec, err)
	}
	m := &Map{name: "custom", custom: true, exact: map[float64]RGBA{}}
	switch tok {
	case json.Delim('{'):
		err = m.readObject(dec)
	case json.Delim('['):
		err = m.readArray(dec)
	default:
		return nil, fmt.Errorf(`colormap: custom map must be a JSON object {"value": colour, ...} or array [[[min, max], colour], ...], got %s`, show([]byte(js)))
	}
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("colormap: invalid JSON at byte %d: unexpected data after the custom map", dec.InputOffset())
	}
	if len(m.colors) == 0 {
		return nil, errors.New("colormap: custom map has no entries")
	}
	m.sorted = sortRanges(m.ranges)
	return m, nil
}

// readObject reads the {"value": colour} form after its opening brace.
func (m *Map) readObject(dec *json.Decoder) error {
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return syntaxError(dec, err)
		}
		key := tok.(string) // the decoder only yields strings as object keys
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return syntaxError(dec, err)
		}
		label := fmt.Sprintf("entry %q", key)
		v, err := strconv.ParseFloat(strings.TrimSpace(key), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("colormap: %s: want a number as the key, got %q", label, key)
		}
		c, err := parseColor(raw)
		if err != nil {
			return fmt.Errorf("colormap: %s: %v", label, err)
		}
		if err := m.addExact(label, v, c); err != nil {
			return err
		}
	}
	_, err := dec.Token() // the closing brace
	return syntaxErrorOrNil(dec, err)
}

// readArray reads the [[key, colour], ...] form after its opening bracket.
func (m *Map) readArray(dec *json.Decoder) error {
	for i := 0; dec.More(); i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return syntaxError(dec, err)
		}
		label := fmt.Sprintf("entry [%d]", i)
		var pair []json.RawMessage
		if raw[0] != '[' || json.Unmarshal(raw, &pair) != nil || len(pair) != 2 {
			return fmt.Errorf("colormap: %s: want [[min, max], colour] or [value, colour], got %s", label, show(raw))
		}
		v, exact := parseNumber(pair[0])
		var r interval
		if !exact {
			var err error
			if r, err = parseInterval(pair[0]); err != nil {
				return fmt.Errorf("colormap: %s: %v", label, err)
			}
		}
		c, err := parseColor(pair[1])
		if err != nil {
			return fmt.Errorf("colormap: %s: %v", label, err)
		}
		if exact {
			if err := m.addExact(label, v, c); err != nil {
				return err
			}
			continue
		}
		r.color = c
		if err := m.add(c); err != nil {
			return err
		}
		m.ranges = append(m.ranges, r)
	}
	_, err := dec.Token() // the closing bracket
	return syntaxErrorOrNil(dec, err)
}

// addExact records an exact-value entry, rejecting a value given twice.
func (m *Map) addExact(label string, v float64, c RGBA) error {
	if _, dup := m.exact[v]; dup {
		return fmt.Errorf("colormap: %s: value %v appears twice", label, v)
	}
	if err := m.add(c); err != nil {
		return err
	}
	m.exact[v] = c
	return nil
}

// add counts one entry against maxEntries and keeps its colour for Colors.
func (m *Map) add(c RGBA) error {
	if len(m.colors) == maxEntries {
		return fmt.Errorf("colormap: custom map has more than %d entries", maxEntries)
	}
	m.colors = append(m.colors, c)
	return nil
}

// parseInterval reads [min, max] where either end may be null (unbounded).
func parseInterval(raw json.RawMessage) (interval, error) {
	var ends []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &ends) != nil || len(ends) != 2 {
		return interval{}, fmt.Errorf("want [min, max] or a number, got %s", show(raw))
	}
	r := interval{lo: math.Inf(-1), hi: math.Inf(1)}
	for i, p := range []*float64{&r.lo, &r.hi} {
		if string(ends[i]) == "null" {
			continue
		}
		v, ok := parseNumber(ends[i])
		if !ok {
			return interval{}, fmt.Errorf("want [min, max] with numbers or null, got %s", show(raw))
		}
		*p = v
	}
	if !(r.lo < r.hi) {
		return interval{}, fmt.Errorf("interval %s: want min < max", show(raw))
	}
	return r, nil
}

// parseNumber reads a finite JSON number; raw is already valid JSON.
func parseNumber(raw json.RawMessage) (float64, bool) {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(raw), 64)
	return v, err == nil && !math.IsInf(v, 0)
}

// parseColor reads "#rgb", "#rgba", "#rrggbb", "#rrggbbaa", [r,g,b] or [r,g,b,a].
func parseColor(raw json.RawMessage) (RGBA, error) {
	bad := fmt.Errorf(`want a colour like "#ff0000" or [r,g,b(,a)], got %s`, show(raw))
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil || !strings.HasPrefix(s, "#") {
			return RGBA{}, bad
		}
		digits := s[1:]
		if len(digits) == 3 || len(digits) == 4 {
			// "#abc" means "#aabbcc", as in CSS.
			long := make([]byte, 0, 2*len(digits))
			for i := 0; i < len(digits); i++ {
				long = append(long, digits[i], digits[i])
			}
			digits = string(long)
		}
		b, err := hex.DecodeString(digits)
		if err != nil || (len(b) != 3 && len(b) != 4) {
			return RGBA{}, bad
		}
		c := RGBA{b[0], b[1], b[2], 255}
		if len(b) == 4 {
			c[3] = b[3]
		}
		return c, nil
	case '[':
		var parts []json.RawMessage
		if json.Unmarshal(raw, &parts) != nil || (len(parts) != 3 && len(parts) != 4) {
			return RGBA{}, bad
		}
		c := RGBA{0, 0, 0, 255}
		for i, p := range parts {
			v, ok := parseNumber(p)
			if !ok || v < 0 || v > 255 || v != math.Trunc(v) {
				return RGBA{}, fmt.Errorf(`want [r,g,b(,a)] with integers 0..255, got %s`, show(raw))
			}
			c[i] = uint8(v)
		}
		return c, nil
	}
	return RGBA{}, bad
}

// sortRanges returns rs sorted by lo when there are enough to search and none
// overlap (then the first match is the only match), else nil.
func sortRanges(rs []interval) []interval {
	if len(rs) < minSortedRanges {
		return nil
	}
	s := append([]interval(nil), rs...)
	sort.Slice(s, func(i, j int) bool { return s[i].lo < s[j].lo })
	for i := 1; i < len(s); i++ {
		if s[i-1].hi > s[i].lo {
			return nil
		}
	}
	return s
}

// searchSorted finds v in non-overlapping intervals sorted by lo.
func searchSorted(s []interval, v float64) (RGBA, bool) {
	// Find the last interval with lo <= v.
	lo, hi := 0, len(s)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if s[mid].lo <= v {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo > 0 && s[lo-1].contains(v) {
		return s[lo-1].color, true
	}
	return RGBA{}, false
}

// syntaxError words a JSON decoding error with the byte offset where it happened.
func syntaxError(dec *json.Decoder, err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("colormap: invalid JSON at byte %d: %v", se.Offset, err)
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("colormap: invalid JSON: unexpected end of input")
	}
	return fmt.Errorf("colormap: invalid JSON at byte %d: %v", dec.InputOffset(), err)
}

// syntaxErrorOrNil is syntaxError for a possibly nil error.
func syntaxErrorOrNil(dec *json.Decoder, err error) error {
	if err == nil {
		return nil
	}
	return syntaxError(dec, err)
}

// show renders raw JSON compactly for an error message, cut to 40 bytes.
func show(raw []byte) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		b.Reset()
		b.Write(raw)
	}
	if b.Len() > 40 {
		n := 40
		for n > 0 && !utf8.RuneStart(b.Bytes()[n]) { // never split a character
			n--
		}
		return string(b.Bytes()[:n]) + "..."
	}
	return b.String()
}
