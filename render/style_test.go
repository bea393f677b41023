package render

import (
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/udftiles/udftiles/layer"
)

func TestParseStyle(t *testing.T) {
	elevDefaults := url.Values{"colormap": {"plasma"}, "rescale": {"0,3000"}}
	custom := `[[[0,1000],"#ff0000"],[[1000,null],"#00ff00"]]`
	tests := []struct {
		name     string
		query    string
		defaults url.Values
		colormap string // Name() of the map; "" = none
		custom   bool
		rescale  [][2]float64
		errHas   []string
	}{
		{name: "nothing", query: ""},
		{name: "colormap name", query: "colormap=viridis", colormap: "viridis"},
		{name: "colormap name any case", query: "colormap=RdYlGn_r", colormap: "RdYlGn_r"},
		{name: "colormap_name", query: "colormap_name=magma", colormap: "magma"},
		{name: "colormap wins over colormap_name", query: "colormap_name=magma&colormap=viridis", colormap: "viridis"},
		{name: "custom JSON", query: "colormap=" + url.QueryEscape(custom), colormap: "custom", custom: true},
		{name: "custom JSON object", query: "colormap=" + url.QueryEscape(`{"1":"#ff0000","2":[0,0,255]}`), colormap: "custom", custom: true},
		{name: "defaults apply", query: "", defaults: elevDefaults, colormap: "plasma", rescale: [][2]float64{{0, 3000}}},
		{name: "query colormap over default", query: "colormap=viridis", defaults: elevDefaults, colormap: "viridis", rescale: [][2]float64{{0, 3000}}},
		{name: "query colormap_name over default colormap", query: "colormap_name=magma", defaults: elevDefaults, colormap: "magma", rescale: [][2]float64{{0, 3000}}},
		{name: "empty colormap turns the default off", query: "colormap=", defaults: elevDefaults, rescale: [][2]float64{{0, 3000}}},
		{name: "query rescale over default", query: "rescale=10,20", defaults: elevDefaults, colormap: "plasma", rescale: [][2]float64{{10, 20}}},
		{name: "rescale one", query: "rescale=0,3000", rescale: [][2]float64{{0, 3000}}},
		{name: "rescale spaces and decimals", query: "rescale=" + url.QueryEscape(" -1.5 , 2e3 "), rescale: [][2]float64{{-1.5, 2000}}},
		{name: "rescale per band", query: "rescale=0,255&rescale=10,200&rescale=0,128", rescale: [][2]float64{{0, 255}, {10, 200}, {0, 128}}},
		{name: "unknown colormap", query: "colormap=nope", errHas: []string{"parameter colormap", "nope", "viridis", "plasma"}},
		{name: "bad custom JSON", query: "colormap=" + url.QueryEscape(`{"a":"#ff0000"}`), errHas: []string{"parameter colormap"}},
		{name: "unknown colormap_name", query: "colormap_name=nope", errHas: []string{"parameter colormap"}},
		{name: "rescale one number", query: "rescale=1", errHas: []string{"parameter rescale", `"1"`}},
		{name: "rescale three numbers", query: "rescale=1,2,3", errHas: []string{"parameter rescale"}},
		{name: "rescale words", query: "rescale=a,b", errHas: []string{"parameter rescale", `"a,b"`}},
		{name: "rescale reversed", query: "rescale=5,1", errHas: []string{"parameter rescale", "min < max"}},
		{name: "rescale equal", query: "rescale=1,1", errHas: []string{"parameter rescale"}},
		{name: "rescale empty", query: "rescale=", errHas: []string{"parameter rescale"}},
		{name: "rescale second band bad", query: "rescale=0,1&rescale=x", errHas: []string{"parameter rescale", `"x"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			st, err := ParseStyle(q, tt.defaults)
			if tt.errHas != nil {
				if err == nil {
					t.Fatalf("ParseStyle(%q) succeeded, want an error", tt.query)
				}
				if layer.KindOf(err) != layer.BadRequest {
					t.Errorf("error kind %v, want BadRequest", layer.KindOf(err))
				}
				for _, s := range tt.errHas {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.colormap == "" && st.Colormap != nil:
				t.Errorf("colormap %q, want none", st.Colormap.Name())
			case tt.colormap != "" && st.Colormap == nil:
				t.Errorf("no colormap, want %q", tt.colormap)
			case tt.colormap != "" && (st.Colormap.Name() != tt.colormap || st.Colormap.Scaled() == tt.custom):
				t.Errorf("colormap %q (scaled %v), want %q (custom %v)", st.Colormap.Name(), st.Colormap.Scaled(), tt.colormap, tt.custom)
			}
			if !reflect.DeepEqual(st.Rescale, tt.rescale) {
				t.Errorf("rescale %v, want %v", st.Rescale, tt.rescale)
			}
		})
	}
}

func TestCanonical(t *testing.T) {
	parse := func(q string) string {
		v, _ := url.ParseQuery(q)
		st, err := ParseStyle(v, nil)
		if err != nil {
			t.Fatal(err)
		}
		return st.Canonical()
	}
	styles := []string{"", "colormap=viridis", "colormap=plasma", "rescale=0,1", "rescale=0,2",
		"colormap=viridis&rescale=0,1", "rescale=0,1&rescale=0,1", `colormap={"1":"#ff0000"}`}
	seen := map[string]string{}
	for _, q := range styles {
		c := parse(q)
		if prev, dup := seen[c]; dup {
			t.Errorf("styles %q and %q share the canonical form %q", prev, q, c)
		}
		seen[c] = q
	}
	if parse("rescale=0,1") != parse("rescale=0.0,1.00") {
		t.Error("equal rescale ranges written differently give different canonical forms")
	}
}
