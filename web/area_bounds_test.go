package web

import (
	"fmt"
	"strings"
	"testing"
)

func TestAreaBounds(t *testing.T) {
	for _, c := range []struct {
		in, want, err string
		area          bool
	}{
		{in: "-10,35,30,60", want: "-10,35,30,60"},
		{in: "[0, 0, 1, 1]", want: "0,0,1,1"},
		{in: `{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,5],[0,0]]]}`, want: "0,0,10,5", area: true},
		{in: ` POLYGON ((1 2, 3 2, 3 4, 1 2)) `, want: "1,2,3,4", area: true},
		{in: `{"type":"Feature","properties":null,"geometry":{"type":"LineString","coordinates":[[0,0],[2,3]]}}`, want: "0,0,2,3", area: true},
		{in: `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[1,1]}},
			{"type":"Feature","properties":{},"geometry":null},{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[-1,4]}}]}`,
			want: "-1,1,1,4", area: true},
		{in: "POINT (1 2)", err: "no area"},
		{in: `{"type":"FeatureCollection","features":[]}`, err: "no geometry"},
		{in: `{"coordinates":[1,2]}`, err: `"type"`},
		{in: `{"type":"Polygon","coordinates":[[[0,0],[200,0],[200,5],[0,0]]]}`, err: "-180,-90,180,90"},
		{in: "POLYGON ((0 0", err: "WKT"},
		{in: "1,2,3", err: "xmin,ymin,xmax,ymax"},
	} {
		b, area, err := areaBounds(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%.40s: error %v, want one mentioning %s", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%.40s: %v", c.in, err)
			continue
		}
		if got := fmt.Sprintf("%g,%g,%g,%g", b.MinX, b.MinY, b.MaxX, b.MaxY); got != c.want {
			t.Errorf("%.40s: bounds %s, want %s", c.in, got, c.want)
		}
		if (area != "") != c.area || (c.area && area != strings.TrimSpace(c.in)) {
			t.Errorf("%.40s: area %q", c.in, area)
		}
	}
}

// FuzzAreaBounds: any bounds value gives valid bounds or an error, never a panic.
func FuzzAreaBounds(f *testing.F) {
	for _, s := range []string{"0,0,1,1", `{"type":"Point","coordinates":[1,2]}`, "POLYGON ((0 0, 1 0, 1 1, 0 0))",
		`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"GeometryCollection","geometries":[null]}}]}`,
		"GEOMETRYCOLLECTION (POINT (1 2), LINESTRING EMPTY)", `{"type":"Feature"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, _, err := areaBounds(s)
		if err == nil {
			if verr := b.Validate(); verr != nil {
				t.Fatalf("%q: bounds %+v accepted: %v", s, b, verr)
			}
		}
	})
}
