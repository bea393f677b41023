package catalog

import (
	"strings"
	"testing"

	"github.com/udftiles/udftiles/store"
)

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"a", "shade", "My_udf-2", strings.Repeat("x", 64)} {
		if err := CheckName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "1abc", "_x", "a b", "a/b", "a.b", "..", strings.Repeat("x", 65), "é"} {
		if err := CheckName(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

func TestCheckMeta(t *testing.T) {
	z := func(n int) *int { return &n }
	good := []store.Meta{{}, {CacheMaxAge: "1h"}, {CacheMaxAge: "0s"}, {Bounds: []float64{-10, -5, 10, 5}}, {MinZoom: z(2), MaxZoom: z(14)}}
	for _, m := range good {
		if err := checkMeta(m); err != nil {
			t.Errorf("%+v: %v", m, err)
		}
	}
	bad := []store.Meta{{CacheMaxAge: "soon"}, {Bounds: []float64{1, 2, 3}}, {Bounds: []float64{10, 0, -10, 5}},
		{Bounds: []float64{-200, 0, 10, 5}}, {MinZoom: z(-1)}, {MaxZoom: z(31)}, {MinZoom: z(9), MaxZoom: z(3)}}
	for _, m := range bad {
		if err := checkMeta(m); err == nil {
			t.Errorf("%+v: accepted", m)
		}
	}
}

func TestSplitTraceback(t *testing.T) {
	tb := "Traceback (most recent call last):\n  File \"/x/_check.py\", line 5\n    return 1 +\n              ^\nSyntaxError: invalid syntax\n"
	msg, logs := splitTraceback(tb, "printed\n")
	if msg != "SyntaxError: invalid syntax" {
		t.Errorf("message %q", msg)
	}
	if !strings.HasPrefix(logs, "printed\n") || !strings.Contains(logs, "line 5") {
		t.Errorf("logs %q", logs)
	}
	if msg, logs := splitTraceback("no UDF in the file", "l"); msg != "no UDF in the file" || logs != "l" {
		t.Errorf("plain message changed: %q %q", msg, logs)
	}
}
