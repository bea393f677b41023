package e2e

import (
	"strconv"
	"strings"
	"testing"

	"github.com/udftiles/udftiles/python"
)

// TestDebugLogsHeader: with debug=true a response carries the UDF's prints in
// X-UDF-Logs (also when served from the cache); without it, never.
func TestDebugLogsHeader(t *testing.T) {
	s := newPyServer(t, pyServerOptions{})
	s.add("chatty", pyFixture(t, "chatty.py"), python.Options{})

	plain := s.get(t, "/v1/udfs/chatty/tiles/3/4/2.png?n=7", 200)
	if h := plain.Header().Get("X-UDF-Logs"); h != "" {
		t.Errorf("X-UDF-Logs without debug: %q", h)
	}
	for _, want := range []string{"miss", "memory"} {
		rec := s.get(t, "/v1/udfs/chatty/tiles/3/4/2.png?n=8&debug=true", 200)
		if got := rec.Header().Get("X-Cache"); got != want {
			t.Errorf("X-Cache %q, want %q", got, want)
		}
		h := rec.Header().Get("X-UDF-Logs")
		logs, err := strconv.Unquote(h)
		if err != nil {
			t.Fatalf("X-UDF-Logs %q is not a quoted string: %v", h, err)
		}
		if !strings.Contains(logs, "hello from the UDF, n = 8") || !strings.Contains(logs, "a second line") {
			t.Errorf("X-UDF-Logs = %q, want the UDF's two prints", logs)
		}
	}
	// debug is not a UDF parameter and does not change the tile.
	a := s.get(t, "/v1/udfs/chatty/tiles/3/4/2.png?n=9", 200)
	b := s.get(t, "/v1/udfs/chatty/tiles/3/4/2.png?n=9&debug=true", 200)
	if a.Header().Get("ETag") != b.Header().Get("ETag") {
		t.Errorf("debug=true changed the tile's ETag")
	}
}
