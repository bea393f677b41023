package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestCount(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -45000: "-45,000"} {
		if got := Count(n); got != want {
			t.Errorf("Count(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestBarInLogs: off a terminal the bar is plain lines, at most one per
// interval, and a final line with the total and the time.
func TestBarInLogs(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, "export", 1000)
	b.every = 20 * time.Millisecond
	for i := 0; i < 10; i++ {
		b.Add(100)
		time.Sleep(5 * time.Millisecond)
	}
	b.Done()
	out := buf.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if strings.Contains(out, "\r") || strings.Contains(out, "\033") {
		t.Errorf("terminal codes in a log: %q", out)
	}
	if len(lines) < 2 || len(lines) > 5 {
		t.Errorf("%d lines for 10 updates over ~50 ms at one per 20 ms: %q", len(lines), out)
	}
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "export 100% 1,000/1,000 ") || !strings.Contains(last, " in ") {
		t.Errorf("final line %q", last)
	}
	if !strings.Contains(lines[0], "ETA") {
		t.Errorf("a progress line without an ETA: %q", lines[0])
	}
	var nilBar *Bar
	nilBar.Add(1) // a nil bar reports nothing
	nilBar.Done()
}
