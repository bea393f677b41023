package config

import (
	"reflect"
	"strings"
	"testing"
)

// vectorUDF is a valid vector layer entry at index 1.
const vectorUDF = "  - name: v\n    handler: vector\n    path: data/countries.gpkg\n"

func TestVectorKeys(t *testing.T) {
	c, err := Parse([]byte("udfs:\n"+udf+vectorUDF+"    layer: countries\n    max_features: 500\n    columns: [name, pop_est]\n"), "/srv")
	if err != nil {
		t.Fatal(err)
	}
	v := c.UDFs[1]
	if v.Handler != "vector" || v.Path != "/srv/data/countries.gpkg" || v.Layer != "countries" || v.MaxFeatures == nil ||
		*v.MaxFeatures != 500 || !reflect.DeepEqual(v.Columns, []string{"name", "pop_est"}) {
		t.Errorf("vector entry %+v", v)
	}
	c, err = Parse([]byte("udfs:\n"+vectorUDF), "")
	if err != nil || c.UDFs[0].MaxFeatures != nil || c.UDFs[0].Columns != nil || c.UDFs[0].Layer != "" {
		t.Errorf("defaults: %+v %v", c, err)
	}

	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"max_features zero", vectorUDF + "    max_features: 0\n", []string{"udfs[1].max_features", "want 1 to 1000000", "got 0"}},
		{"max_features huge", vectorUDF + "    max_features: 5000000\n", []string{"udfs[1].max_features", "got 5000000"}},
		{"max_features text", vectorUDF + "    max_features: many\n", []string{"udfs[1].max_features", "line 8", "many"}},
		{"columns not a list", vectorUDF + "    columns: name\n", []string{"udfs[1].columns", "line 8"}},
		{"columns of lists", vectorUDF + "    columns: [[a]]\n", []string{"udfs[1].columns"}},
		{"column empty", vectorUDF + "    columns: [name, '']\n", []string{"udfs[1].columns[1]", "want a column name"}},
		{"column twice", vectorUDF + "    columns: [name, pop_est, name]\n", []string{"udfs[1].columns[2]", `"name"`, "columns[0]"}},
		{"layer not text", vectorUDF + "    layer: [a, b]\n", []string{"udfs[1].layer", "line 8"}},
		{"layer on a cog", "  - name: c\n    handler: cog\n    path: c.tif\n    layer: x\n", []string{"udfs[1].layer", "only for handler vector", `"cog"`}},
		{"max_features on python", "  - name: p\n    handler: python\n    path: p.py\n    max_features: 5\n", []string{"udfs[1].max_features", "only for handler vector"}},
		{"columns on a cog", "  - name: c\n    handler: cog\n    path: c.tif\n    columns: [a]\n", []string{"udfs[1].columns", "only for handler vector"}},
		{"vector without path", "  - name: v\n    handler: vector\n", []string{"udfs[1].path", "required"}},
	}
	for _, tt := range tests {
		_, err := Parse([]byte("udfs:\n"+udf+tt.yaml), "")
		if err == nil {
			t.Errorf("%s: parsed, want an error with %q", tt.name, tt.want)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want it to contain %q", tt.name, err, w)
			}
		}
	}
}
