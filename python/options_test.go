package python_test

import (
	"testing"

	"github.com/udftiles/udftiles/python"
)

// TestOptionsPerCall: fused.options set by one call do not reach the next
// call of the same worker (another layer's), which starts from Fused's
// defaults; max_workers bounds the threads of fused.submit of a UDF object.
func TestOptionsPerCall(t *testing.T) {
	p := startPool(t, python.Config{Workers: 1})
	setter := python.NewUDF(p, python.Options{Path: fixture(t, "options.py"), Name: "setter"})
	reader := python.NewUDF(p, python.Options{Path: fixture(t, "options.py"), Name: "reader"})

	set := jsonValue(t, setter, q("mode", "set"), nil).(map[string]any)
	if set["request_timeout"] != 0.001 || set["max_workers"] != 1.0 || set["client_id"] != "someone" {
		t.Fatalf("the setting call sees %v", set)
	}
	got := jsonValue(t, reader, q("mode", "read"), nil).(map[string]any)
	if got["pid"] != set["pid"] {
		t.Fatalf("the calls ran in processes %v and %v: want the one worker", set["pid"], got["pid"])
	}
	delete(got, "pid")
	wantJSON(t, "options of the next call", got, `{"request_timeout":5,"run_timeout":130,
		"max_workers":16,"base_url":"","client_id":null,"dtypes":["parquet","npy,tiff"]}`)
	// The setting layer's own next call starts from the defaults too.
	if again := jsonValue(t, setter, q("mode", "read"), nil).(map[string]any); again["request_timeout"] != 5.0 {
		t.Errorf("the setter's next call sees request_timeout %v", again["request_timeout"])
	}

	if n := jsonValue(t, reader, q("mode", "threads", "workers", "1"), nil).(map[string]any)["threads"]; n != 1.0 {
		t.Errorf("fused.submit with options.max_workers=1 ran in %v threads, want 1", n)
	}
	if n := jsonValue(t, reader, q("mode", "threads"), nil).(map[string]any)["threads"]; n.(float64) < 2 {
		t.Errorf("fused.submit with options.max_workers at its default ran in %v threads, want several", n)
	}
}
