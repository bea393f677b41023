package layer

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestCoerceFrames(t *testing.T) {
	s := Schema{Params: []Param{{Name: "df", Type: DataFrame}, {Name: "gdf", Type: GeoDataFrame}}}
	for _, c := range []struct {
		name, value string
		ok          bool
	}{
		{"df", `[{"a": 1}, {"a": 2, "b": "x"}]`, true},
		{"df", `[]`, true},
		{"df", ` {"a": [1, 2]} `, true},
		{"df", `{"type": "Point", "coordinates": [1, 2]}`, true},
		{"gdf", `{"type": "FeatureCollection", "features": []}`, true},
		{"gdf", `[{"geometry": "POINT (1 2)"}]`, true},
		{"gdf", `POLYGON ((0 0, 1 0, 1 1, 0 0))`, true},
		{"df", `POINT (1 2)`, false}, // WKT: a GeoDataFrame's only
		{"df", `[1, 2]`, false},
		{"df", `[{"a": 1}, [1]]`, false},
		{"df", `[{"a": 1}`, false},
		{"gdf", `{"type": "Point"`, false},
		{"gdf", `42`, false},
		{"gdf", `"text"`, false},
	} {
		got, err := s.Coerce(url.Values{c.name: {c.value}})
		if !c.ok {
			var e *Error
			if !errors.As(err, &e) || e.Kind != BadRequest || !strings.Contains(e.Msg, "parameter "+c.name) {
				t.Errorf("%s=%s: %v, want a BadRequest naming it", c.name, c.value, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s=%s: %v", c.name, c.value, err)
			continue
		}
		if got[c.name] != strings.TrimSpace(c.value) {
			t.Errorf("%s=%s: %#v, want its text", c.name, c.value, got[c.name])
		}
	}
}

// FuzzCoerceFrames: DataFrame and GeoDataFrame parameters never panic, fail
// only with BadRequest, and pass on JSON records, a JSON object or (for a
// GeoDataFrame) text starting with a letter, as their text.
func FuzzCoerceFrames(f *testing.F) {
	for _, seed := range []string{`[{"a":1}]`, `{"type":"Feature"}`, `[1]`, `POINT (1 2)`, `[{"a":1},`, `{}`, ``, `[ {"a":1} , {} ]`, `["x"]`} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, value string, geo bool) {
		pt := DataFrame
		if geo {
			pt = GeoDataFrame
		}
		s := Schema{Params: []Param{{Name: "p", Type: pt}}}
		got, err := s.Coerce(url.Values{"p": {value}})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Kind != BadRequest || e.Msg == "" {
				t.Fatalf("%q: %#v, want a BadRequest", value, err)
			}
			return
		}
		v, present := got["p"]
		if !present {
			if strings.TrimSpace(value) != "" && value != "" {
				t.Fatalf("%q: accepted but not passed on", value)
			}
			return
		}
		text, ok := v.(string)
		if !ok || text != strings.TrimSpace(value) {
			t.Fatalf("%q: %#v, want its trimmed text", value, v)
		}
		switch {
		case strings.HasPrefix(text, "["):
			var rows []map[string]json.RawMessage
			if err := json.Unmarshal([]byte(text), &rows); err != nil {
				t.Fatalf("%q: accepted but not JSON records: %v", value, err)
			}
		case strings.HasPrefix(text, "{"):
			if !json.Valid([]byte(text)) {
				t.Fatalf("%q: accepted but not JSON", value)
			}
		case !geo:
			t.Fatalf("%q: accepted as a DataFrame", value)
		}
	})
}
