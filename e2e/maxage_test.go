package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/udftiles/udftiles/layer"
	"github.com/udftiles/udftiles/python"
)

// TestListingShowsEffectiveMaxAge: /v1/udfs reports the age results are kept
// for: the UDF's own @fused.udf(cache_max_age=...) when its config entry sets
// none (not the server default), and the config entry's when it does.
func TestListingShowsEffectiveMaxAge(t *testing.T) {
	s := newPyServer(t, pyServerOptions{})
	dir := t.TempDir()
	zero := filepath.Join(dir, "zero.py")
	if err := os.WriteFile(zero, []byte("import fused\n\n\n@fused.udf(cache_max_age=\"0s\")\ndef udf(n: int = 1):\n    return {\"n\": n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.add("zero", zero, python.Options{})
	s.add("hour", pyFixture(t, "max_age.py"), python.Options{})
	// Config entries that set cache_max_age: theirs wins over the decorator's.
	for name, path := range map[string]string{"set_zero": zero, "set_hour": pyFixture(t, "max_age.py")} {
		u := python.NewUDF(s.pool, python.Options{Path: path, Name: name})
		s.reg.Add(&layer.Layer{Name: name, Kind: "python", Handler: u, MaxAge: 30 * time.Minute, MaxAgeSet: true})
	}
	var list struct {
		UDFs []struct {
			Name        string `json:"name"`
			CacheMaxAge string `json:"cache_max_age"`
		} `json:"udfs"`
	}
	rec := s.get(t, "/v1/udfs", 200)
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, u := range list.UDFs {
		got[u.Name] = u.CacheMaxAge
	}
	if got["zero"] != "0s" || got["hour"] != "1h0m0s" || got["set_zero"] != "30m0s" || got["set_hour"] != "30m0s" {
		t.Errorf("cache_max_age in /v1/udfs: %v, want zero 0s, hour 1h0m0s, and set_zero and set_hour 30m0s (their config's)", got)
	}
}
